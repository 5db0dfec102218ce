import Foundation
@testable import Push
import RegistryHTTP
import Support
import Testing

@Suite("Push destinations: where credentials, tokens and bytes may go")
struct DestinationsTests {
    func destinations(_ registry: String = "https://reg.example:5000", insecure: Bool = false, realmHost: String? = nil) -> Destinations {
        Destinations(name: "reg.example:5000", registry: Origin(URL(string: registry))!, insecure: insecure, realmHost: realmHost)
    }

    @Test("an origin is scheme, host and port; default ports count; case and IPv6 brackets do not")
    func origins() {
        #expect(Origin(URL(string: "https://Reg.Example/v2/")) == Origin(URL(string: "https://reg.example:443/x")))
        #expect(Origin(URL(string: "https://reg.example/")) != Origin(URL(string: "http://reg.example:443/")))
        #expect(Origin(URL(string: "https://reg.example:5000/")) != Origin(URL(string: "https://reg.example:5001/")))
        #expect(Origin(URL(string: "https://[::1]:5000/"))?.host == "::1")
        for bad in ["file:///etc/passwd", "ftp://reg.example/x", "data:,x", "/relative"] {
            #expect(Origin(URL(string: bad)) == nil, "\(bad)")
        }
    }

    @Test("the registry's credentials go to its own origin only")
    func registryOnly() throws {
        let d = destinations()
        #expect(d.isRegistry(URL(string: "https://reg.example:5000/v2/a/blobs/uploads/1")!))
        for other in ["https://reg.example:5001/v2/", "http://reg.example:5000/v2/", "https://storage.example/v2/", "https://reg.example/v2/"] {
            #expect(!d.isRegistry(URL(string: other)!), "\(other)")
        }
    }

    @Test("a realm: HTTPS on the registry's host (any port) or on the host --token-realm-host names; plain HTTP only with --insecure")
    func realms() throws {
        let d = destinations()
        #expect(try d.realm(URL(string: "https://reg.example:5001/token")!, text: "").host == "reg.example")
        #expect(throws: ToolError.self) { try d.realm(URL(string: "http://reg.example:5001/token")!, text: "") }
        #expect(throws: ToolError.self) { try d.realm(URL(string: "https://auth.example/token")!, text: "") }
        #expect(throws: ToolError.self) { try d.realm(URL(string: "file:///etc/shadow")!, text: "") }
        let named = destinations(realmHost: "Auth.Example")
        #expect(try named.realm(URL(string: "https://auth.example/token")!, text: "").host == "auth.example")
        #expect(throws: ToolError.self) { try named.realm(URL(string: "http://auth.example/token")!, text: "") }
        let insecure = destinations("http://reg.example:5000", insecure: true)
        #expect(try insecure.realm(URL(string: "http://reg.example:5001/token")!, text: "").plain)
        #expect(throws: ToolError.self) { try insecure.realm(URL(string: "http://elsewhere.example/token")!, text: "") }
    }

    @Test("Locations and redirects: http or https anywhere, plain HTTP only with --insecure")
    func targets() throws {
        let d = destinations()
        try d.target(URL(string: "https://storage.example/upload/1")!, what: "an upload location")
        #expect(throws: ToolError.self) { try d.target(URL(string: "http://reg.example:5000/v2/")!, what: "a redirect") }
        #expect(throws: ToolError.self) { try d.target(URL(string: "file:///tmp/x")!, what: "a redirect") }
        try destinations(insecure: true).target(URL(string: "http://storage.example/upload/1")!, what: "a redirect")
    }
}
