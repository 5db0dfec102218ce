import Collect
import Foundation
import OCI
import Registry
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
        let hub = try AuthFiles.lookup(file, registry: "docker.io", repository: "library/nginx", file: "f.json")
        #expect(hub == RegistryCredentials(user: "hub", password: "pw", origin: "f.json (https://index.docker.io/v1/)"))
        #expect(try AuthFiles.lookup(file, registry: "host:5000", repository: "x", file: "f.json")?.user == "plain")
        #expect(try AuthFiles.lookup(file, registry: "quay.io", repository: "other/app", file: "f.json")?.user == "quay")
        // A password may hold colons: only the first one ends the user name.
        let team = try AuthFiles.lookup(file, registry: "quay.io", repository: "team/app", file: "f.json")
        #expect(team?.user == "team" && team?.password == "p:w")
        #expect(try AuthFiles.lookup(file, registry: "ghcr.io", repository: "a", file: "f.json") == nil)
        // A credential helper's entry has no "auth": not ours to read.
        #expect(try AuthFiles.lookup(Array(#"{"auths":{"ghcr.io":{}},"credsStore":"desktop"}"#.utf8), registry: "ghcr.io", repository: "a", file: "f") == nil)
        #expect(throws: ToolError.self) { try AuthFiles.lookup(Array(#"{"auths":{"ghcr.io":{"auth":"bm9jb2xvbg=="}}}"#.utf8), registry: "ghcr.io", repository: "a", file: "f") }
        #expect(throws: ToolError.self) { try AuthFiles.lookup(Array("[1]".utf8), registry: "ghcr.io", repository: "a", file: "f") }
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
