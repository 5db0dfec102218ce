import Foundation
import OCI
import RegistryHTTP
import Support
import Testing

/// The registry conversation's rules that pull and push share (RegistryHTTP), in process.
@Suite("RegistryHTTP: the rules pull and push share")
struct RegistryHTTPTests {
    @Test("a redirect: http or https, plain HTTP only where allowed, at most 10 in a row, Authorization only to the same origin")
    func redirects() throws {
        let from = URL(string: "https://reg.example/v2/a/blobs/sha256:00")
        let advice = "name it"
        let follow = { (to: String, count: Int, plain: Bool) in
            try Destination.redirect(from: from, to: URL(string: to), count: count, registry: "reg.example", plainAllowed: { _ in plain }, advice: advice)
        }
        #expect(try follow("https://reg.example:443/other", 1, false))
        #expect(try !follow("https://cdn.example/blob", 1, false))
        #expect(try !follow("http://reg.example/blob", 1, true))
        #expect(throws: ToolError.self) { try follow("http://cdn.example/blob", 1, false) }
        #expect(throws: ToolError.self) { try follow("file:///etc/passwd", 1, true) }
        #expect(throws: ToolError.self) { try follow("https://reg.example/again", 11, false) }
        let tracker = RedirectTracker(registry: "reg.example", plainAllowed: { _ in false }, advice: advice)
        for _ in 1...10 { #expect(try tracker.follow(task: 7, from: from, to: from).get()) }
        #expect(throws: ToolError.self) { try tracker.follow(task: 7, from: from, to: from).get() }
        tracker.forget(task: 7)
        #expect(try tracker.follow(task: 7, from: from, to: from).get())
    }

    @Test("HTTP basic goes to the registry and trusted realms only, once; an identity token never")
    func basicGate() throws {
        let registry = try #require(Origin(URL(string: "https://reg.example:5000/v2/")))
        let gate = BasicGate(registry: registry)
        let url = URL(string: "https://reg.example:5000/v2/x")
        #expect(!gate.registryAskedBasic)
        #expect(try gate.answer(url, user: "u", password: "p", previousFailures: 0).get() == ("u", "p"))
        #expect(gate.registryAskedBasic)
        guard case .failure(.rejected) = gate.answer(url, user: "u", password: "p", previousFailures: 1) else { Issue.record("a second challenge"); return }
        guard case .failure(.noCredentials) = gate.answer(url, user: nil, password: nil, previousFailures: 0) else { Issue.record("no credentials"); return }
        guard case .failure(.tokenForBasic) = gate.answer(url, user: "<token>", password: "", identityToken: true, previousFailures: 0) else {
            Issue.record("an identity token"); return
        }
        let realm = URL(string: "https://auth.example/token")
        guard case .failure(.elsewhere) = gate.answer(realm, user: "u", password: "p", previousFailures: 0) else { Issue.record("elsewhere"); return }
        gate.trust(try #require(Origin(realm)))
        #expect(try gate.answer(realm, user: "u", password: "p", previousFailures: 0).get() == ("u", "p"))
    }

    @Test("the token request names the service and each scope once, the challenge's first; the answer's token or access_token")
    func tokens() throws {
        let ch = try #require(Challenge(#"Bearer realm="https://auth.example/token?x=1",service="reg",scope="repository:a:pull""#))
        let url = try #require(TokenRealm.url("https://auth.example/token?x=1", challenge: ch, scopes: ["repository:a:pull", "repository:b:pull,push"]))
        #expect(url.absoluteString == "https://auth.example/token?x=1&service=reg&scope=repository:a:pull&scope=repository:b:pull,push")
        #expect(TokenRealm.token(in: Data(#"{"token":"t"}"#.utf8)) == "t" && TokenRealm.token(in: Data(#"{"access_token":"a"}"#.utf8)) == "a")
        #expect(TokenRealm.token(in: Data(#"{"token":""}"#.utf8)) == nil && TokenRealm.token(in: Data("[]".utf8)) == nil)
    }

    @Test("the registry's words are escaped; 5xx and 429 are transient, Retry-After in seconds only")
    func words() {
        let body = Data(#"{"errors":[{"code":"DENIED","message":"no\u001b[31m way"}]}"#.utf8)
        #expect(RegistryWords.text(body) == "DENIED: no\\u{1b}[31m way")
        #expect(RegistryWords.text(Data("<html>".utf8)) == nil)
        #expect(Transient.answer(503, "GET", "/v2/", who: "the registry", body: body, retryAfter: "2")?.retryAfter == 2)
        #expect(Transient.answer(429, "GET", "/v2/", who: "the registry", body: Data(), retryAfter: "-1")?.retryAfter == nil)
        #expect(Transient.answer(429, "GET", "/v2/", who: "the registry", body: Data(), retryAfter: "Wed, 21 Oct 2015 07:28:00 GMT")?.retryAfter == nil)
        #expect(Transient.answer(404, "GET", "/v2/", who: "the registry", body: body, retryAfter: nil) == nil)
    }
}
