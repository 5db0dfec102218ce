import Collect
import Foundation
import OCI
@testable import Registry
import Support
import Testing

@Suite("Pulling by reference: the pure parts")
struct RegistryRefTests {
    struct Good: CustomTestStringConvertible, Sendable {
        var text: String
        var registry: String, repository: String, tag: String?, digest: String?
        var apiHost: String, layoutName: String?
        var testDescription: String { text }
    }

    static let hex = String(repeating: "4f2c", count: 16)

    static let good: [Good] = [
        Good(text: "docker.io/library/nginx:1.27", registry: "docker.io", repository: "library/nginx", tag: "1.27", digest: nil,
             apiHost: "registry-1.docker.io", layoutName: "nginx:1.27"),
        Good(text: "nginx:1.27", registry: "docker.io", repository: "library/nginx", tag: "1.27", digest: nil,
             apiHost: "registry-1.docker.io", layoutName: "nginx:1.27"),
        Good(text: "index.docker.io/example/app:1.0", registry: "docker.io", repository: "example/app", tag: "1.0", digest: nil,
             apiHost: "registry-1.docker.io", layoutName: "example/app:1.0"),
        Good(text: "registry.example:5000/team/app:2.1@sha256:\(hex)", registry: "registry.example:5000", repository: "team/app", tag: "2.1",
             digest: hex, apiHost: "registry.example:5000", layoutName: "registry.example:5000/team/app:2.1"),
        Good(text: "ghcr.io/aquasecurity/trivy-db:2", registry: "ghcr.io", repository: "aquasecurity/trivy-db", tag: "2", digest: nil,
             apiHost: "ghcr.io", layoutName: "ghcr.io/aquasecurity/trivy-db:2"),
        Good(text: "localhost/app@sha256:\(hex)", registry: "localhost", repository: "app", tag: nil, digest: hex,
             apiHost: "localhost", layoutName: nil),
        Good(text: "127.0.0.1:5000/a/b/c:v1_x", registry: "127.0.0.1:5000", repository: "a/b/c", tag: "v1_x", digest: nil,
             apiHost: "127.0.0.1:5000", layoutName: "127.0.0.1:5000/a/b/c:v1_x"),
        Good(text: "[::1]:5000/app:1", registry: "[::1]:5000", repository: "app", tag: "1", digest: nil,
             apiHost: "[::1]:5000", layoutName: "[::1]:5000/app:1"),
    ]

    @Test("references: registry, repository, tag, digest, the API host and the layout's name", arguments: good)
    func parses(_ g: Good) throws {
        let r = try ImageReference.parse(g.text)
        #expect(r.registry == g.registry && r.repository == g.repository && r.tag == g.tag && r.digest?.hex == g.digest)
        #expect(r.apiHost == g.apiHost)
        #expect(r.layoutName == g.layoutName)
    }

    static let bad: [(String, String)] = [
        ("nginx", "names no tag or digest; write the tag (nginx:latest if that is meant) or @sha256:..."),
        ("Nginx:1", "has a repository \"library/Nginx\" a registry refuses (lower-case letters, digits and single separators '.', '_', '__', '-' between them)"),
        ("a//b:1", "has a repository \"a//b\" a registry refuses (lower-case letters, digits and single separators '.', '_', '__', '-' between them)"),
        ("app:-x", "has a tag \"-x\" a registry refuses (letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-')"),
        ("app:" + String(repeating: "t", count: 129), "has a tag \"\(String(repeating: "t", count: 129))\" a registry refuses (letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-')"),
        ("app@sha512:00", "has a digest that is not sha256: and 64 lower-case hex digits"),
        ("app@sha256:" + String(repeating: "A", count: 64), "has a digest that is not sha256: and 64 lower-case hex digits"),
        ("host:99999/app:1", "has a registry \"host:99999\" that is not HOST or HOST:PORT"),
        ("ho_st.example/app:1", "has a registry \"ho_st.example\" that is not HOST or HOST:PORT"),
        ("app :1", "may hold only printable ASCII, no spaces"),
        ("", "is empty or longer than 1024 bytes"),
    ]

    @Test("bad references say what is wrong", arguments: bad)
    func refuses(_ c: (String, String)) {
        #expect(throws: ReferenceProblem(c.1)) { try ImageReference.parse(c.0) }
    }

    @Test("WWW-Authenticate challenges: scheme, quoted and bare parameters, escapes")
    func challenges() throws {
        let c = try #require(Challenge(#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:team/app:pull""#))
        #expect(c.scheme == "bearer")
        #expect(c.parameters == ["realm": "https://auth.example/token", "service": "registry.example", "scope": "repository:team/app:pull"])
        #expect(Challenge(#"Basic realm="a \"quoted\" realm""#)?.parameters["realm"] == #"a "quoted" realm"#)
        #expect(Challenge("Bearer realm=https://a/t, service=s")?.parameters == ["realm": "https://a/t", "service": "s"])
        #expect(Challenge("Basic") == Challenge("basic"))
        #expect(Challenge("   ") == nil)
    }

    static func auth(_ entries: [String: String]) throws -> [UInt8] {
        let auths = entries.mapValues { ["auth": Data($0.utf8).base64EncodedString()] }
        return Array(try JSONSerialization.data(withJSONObject: ["auths": auths]))
    }

    @Test("auth files: Docker Hub's legacy key, schemes and slashes, the most specific namespace first")
    func authLookup() throws {
        let file = try Self.auth(["https://index.docker.io/v1/": "hub:pw", "http://host:5000/": "plain:pw", "quay.io": "quay:pw", "quay.io/team": "team:p:w"])
        func inline(_ registry: String, _ repository: String) throws -> RegistryCredentials? {
            guard case .inline(let c)? = try AuthFiles.lookup(file, registry: registry, repository: repository, file: "f.json") else { return nil }
            return c
        }
        #expect(try inline("docker.io", "library/nginx") == RegistryCredentials(user: "hub", password: "pw", origin: "f.json (https://index.docker.io/v1/)"))
        #expect(try inline("host:5000", "x")?.user == "plain")
        #expect(try inline("quay.io", "other/app")?.user == "quay")
        // A password may hold colons: only the first one ends the user name.
        let team = try inline("quay.io", "team/app")
        #expect(team?.user == "team" && team?.password == "p:w")
        #expect(try AuthFiles.lookup(file, registry: "ghcr.io", repository: "a", file: "f.json") == nil)
        // An identity token (containers-auth.json's "identitytoken") is never HTTP basic.
        let token = try AuthFiles.lookup(Array(#"{"auths":{"ghcr.io":{"identitytoken":"rt"}}}"#.utf8), registry: "ghcr.io", repository: "a", file: "f")
        #expect(token == .inline(RegistryCredentials(identityToken: "rt", origin: "f (ghcr.io)")))
        #expect(throws: ToolError.self) { try AuthFiles.lookup(Array(#"{"auths":{"ghcr.io":{"auth":"bm9jb2xvbg=="}}}"#.utf8), registry: "ghcr.io", repository: "a", file: "f") }
        #expect(throws: ToolError.self) { try AuthFiles.lookup(Array("[1]".utf8), registry: "ghcr.io", repository: "a", file: "f") }
    }

    @Test("credential helpers as docker reads them: credHelpers for the registry, else credsStore, else auths; the key as written goes to the helper")
    func authHelpers() throws {
        func lookup(_ json: String, _ registry: String) throws -> CredentialSource? {
            try AuthFiles.lookup(Array(json.utf8), registry: registry, repository: "team/app", file: "f")
        }
        let both = #"{"auths":{"ghcr.io":{"auth":"dTpw"}},"credHelpers":{"https://index.docker.io/v1/":"hub","Quay.io":"quay"},"credsStore":"pass"}"#
        #expect(try lookup(both, "docker.io") == .helper(name: "hub", serverURL: "https://index.docker.io/v1/", origin: "credHelpers in f"))
        #expect(try lookup(both, "quay.io") == .helper(name: "quay", serverURL: "Quay.io", origin: "credHelpers in f"))
        // credsStore stands for every other registry, the file's own "auths" entries too, as in docker.
        #expect(try lookup(both, "ghcr.io") == .helper(name: "pass", serverURL: "ghcr.io", origin: "credsStore in f"))
        #expect(try lookup(#"{"credsStore":"pass"}"#, "docker.io") == .helper(name: "pass", serverURL: "https://index.docker.io/v1/", origin: "credsStore in f"))
        #expect(try lookup(#"{"credsStore":"","auths":{"ghcr.io":{"auth":"dTpw"}}}"#, "ghcr.io") == .inline(RegistryCredentials(user: "u", password: "p", origin: "f (ghcr.io)")))
        // A helper's name becomes a program name: no paths, no shell words.
        for bad in ["../../bin/sh", "a b", "x;rm", "-x"] {
            #expect(throws: ToolError.self) { try lookup(#"{"credsStore":"\#(bad)"}"#, "ghcr.io") }
        }
        #expect(throws: ToolError.self) { try lookup(#"{"credHelpers":{"ghcr.io":7}}"#, "ghcr.io") }
        #expect(throws: ToolError.self) { try lookup(#"{"credsStore":["pass"]}"#, "ghcr.io") }
    }

    @Test("a helper's answer is hostile JSON: strings only, a secret, a user name without ':'; <token> is an identity token")
    func helperAnswers() throws {
        let h = CredentialHelper(name: "t", serverURL: "r", origin: "credsStore in f", timeout: 1)
        #expect(try h.parse(Array(#"{"ServerURL":"r","Username":"u","Secret":"s"}"#.utf8), who: "w") == RegistryCredentials(user: "u", password: "s", origin: "docker-credential-t (credsStore in f)"))
        #expect(try h.parse(Array(#"{"Username":"<token>","Secret":"rt"}"#.utf8), who: "w").identityToken == "rt")
        for bad in [#"{"Username":"u"}"#, #"{"Username":"u","Secret":""}"#, #"{"Username":"a:b","Secret":"s"}"#, #"{"Username":1,"Secret":"s"}"#, "[]", "x"] {
            #expect(throws: ToolError.self) { try h.parse(Array(bad.utf8), who: "w") }
        }
        // A failed helper's words reach the message unless they may hold a secret.
        #expect(CredentialHelper.words("no vault\nmore") == ": no vault")
        #expect(CredentialHelper.words(#"{"Secret":"x"}"#) == "" && CredentialHelper.words("the secret is x") == "")
    }

    @Test("auth files are looked for where skopeo, podman and crane look: REGISTRY_AUTH_FILE replaces the runtime one")
    func authPaths() {
        #expect(AuthFiles.paths(environment: ["HOME": "/h", "XDG_RUNTIME_DIR": "/run/user/1"]) == ["/run/user/1/containers/auth.json", "/h/.docker/config.json"])
        #expect(AuthFiles.paths(environment: ["HOME": "/h", "XDG_RUNTIME_DIR": "/r", "REGISTRY_AUTH_FILE": "/a.json"]) == ["/a.json", "/h/.docker/config.json"])
        #expect(AuthFiles.paths(environment: ["DOCKER_CONFIG": "/d", "HOME": "/h"]) == ["/d/config.json"])
        #expect(AuthFiles.paths(environment: [:]).isEmpty)
    }

    @Test("platforms: OS/ARCH matches any variant, OS/ARCH/VARIANT that variant only")
    func platforms() throws {
        let arm7 = try JSONDecoder().decode(Descriptor.Platform.self, from: Data(#"{"architecture":"arm","os":"linux","variant":"v7"}"#.utf8))
        let amd = try JSONDecoder().decode(Descriptor.Platform.self, from: Data(#"{"architecture":"amd64","os":"linux"}"#.utf8))
        #expect(Puller.matches(arm7, ["linux/arm"]) && Puller.matches(arm7, ["linux/arm/v7"]) && !Puller.matches(arm7, ["linux/arm/v6"]))
        #expect(Puller.matches(amd, ["linux/arm64", "linux/amd64"]) && !Puller.matches(amd, ["windows/amd64"]) && !Puller.matches(nil, ["linux/amd64"]))
    }

    static func spec(_ source: String) throws -> BundleSpec {
        try BundleSpec.parse("name: n\nversion: v\nsequence: 1\nsources:\n" + source, file: "s.yaml", baseDirectory: "/specs")
    }

    @Test("a spec's refs, platforms and archives in one images source")
    func specRefs() throws {
        let s = try Self.spec("""
              - name: platform
                kind: images
                refs: [nginx:1.27, "ghcr.io/aquasecurity/trivy-db:2"]
                platforms: [linux/amd64, linux/arm/v7]
                archives: [legacy.docker.tar]
            """)
        let src = try #require(s.sources.first)
        #expect(src.refs == ["nginx:1.27", "ghcr.io/aquasecurity/trivy-db:2"] && src.platforms == ["linux/amd64", "linux/arm/v7"])
        #expect(src.origin == .archives(["/specs/legacy.docker.tar"]) && src.originText == "nginx:1.27, ghcr.io/aquasecurity/trivy-db:2, legacy.docker.tar")
        let refsOnly = try Self.spec("  - {name: p, kind: images, refs: [nginx:1.27]}\n")
        #expect(refsOnly.sources[0].origin == .archives([]) && refsOnly.sources[0].platforms == nil)
    }

    static let badSpecs: [(String, String)] = [
        ("  - {name: p, kind: images, refs: [nginx]}\n",
         "s.yaml:5: source 'p': image reference \"nginx\" names no tag or digest; write the tag (nginx:latest if that is meant) or @sha256:..."),
        ("  - {name: p, kind: images, refs: []}\n", "s.yaml:5: source 'p': refs must be a non-empty list of image references"),
        ("  - {name: p, kind: images, refs: [a:1], platforms: [linux]}\n",
         "s.yaml:5: source 'p': platform \"linux\" is not OS/ARCH or OS/ARCH/VARIANT (linux/amd64, linux/arm/v7)"),
        ("  - {name: p, kind: images, archives: [a.tar], platforms: [linux/amd64]}\n",
         "s.yaml:5: source 'p': \"platforms\" chooses among what \"refs\" pulls; there are no refs"),
        ("  - {name: p, kind: policies, path: p, refs: [a:1]}\n", "s.yaml:5: source 'p': \"refs\" is for kind images"),
    ]

    @Test("bad refs and platforms in a spec name their line", arguments: badSpecs)
    func badSpec(_ c: (String, String)) {
        #expect(throws: ToolError.self) { try Self.spec(c.0) }
        do { _ = try Self.spec(c.0) } catch let e as ToolError { #expect(e.message == c.1 && e.status == .usage) } catch {}
    }
}
