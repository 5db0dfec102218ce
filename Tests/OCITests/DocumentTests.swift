import BundleFormat
import Foundation
import OCI
import Support
import Testing

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
private let digestA = "sha256:" + String(repeating: "a", count: 64)
private let digestB = "sha256:" + String(repeating: "b", count: 64)

@Suite("OCI documents: parsing what other tools wrote")
struct DocumentParsingTests {
    @Test("an OCI index with a named, platform-tagged manifest")
    func index() throws {
        let json = """
            {"schemaVersion":2,"mediaType":"\(MediaType.ociIndex)","manifests":[
             {"mediaType":"\(MediaType.ociManifest)","digest":"\(digestA)","size":1234,
              "annotations":{"\(refNameAnnotation)":"example/app:1.0"},
              "platform":{"architecture":"arm64","os":"linux","variant":"v8"}}],
             "annotations":{"unknown":"fields are fine"}}
            """
        let index = try OCIJSON.decode(ImageIndex.self, from: bytes(json), what: "index.json")
        #expect(index.schemaVersion == 2)
        #expect(MediaType.isIndex(index.mediaType))
        let d = try #require(index.manifests.first)
        #expect(MediaType.isManifest(d.mediaType))
        #expect(d.size == 1234)
        #expect(d.annotations?[refNameAnnotation] == "example/app:1.0")
        #expect(d.platform?.text == "linux/arm64/v8")
        #expect(try d.sha256(in: "index.json").hex == String(repeating: "a", count: 64))
    }

    @Test("a Docker schema 2 manifest, floats and unknown keys included")
    func dockerManifest() throws {
        let json = """
            {"schemaVersion":2,"mediaType":"\(MediaType.dockerManifest)","extra":1.5,
             "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"\(digestA)","size":7},
             "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"\(digestB)","size":9}]}
            """
        let m = try OCIJSON.decode(ImageManifest.self, from: bytes(json), what: "manifest")
        #expect(MediaType.isManifest(m.mediaType))
        #expect(!MediaType.isIndex(m.mediaType))
        #expect(m.config.size == 7)
        #expect(m.layers.map(\.digest) == [digestB])
    }

    @Test("an image configuration names its platform")
    func config() throws {
        let c = try OCIJSON.decode(ImageConfig.self, from: bytes(#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#), what: "config")
        #expect(c.platformText == "linux/amd64")
        let none = try OCIJSON.decode(ImageConfig.self, from: bytes("{}"), what: "config")
        #expect(none.platformText == nil)
    }

    @Test("a docker save manifest.json")
    func dockerArchive() throws {
        let entries = try OCIJSON.decode([DockerArchiveEntry].self, from: bytes(#"[{"Config":"c.json","RepoTags":["alpine:3"],"Layers":["l/layer.tar"]}]"#), what: "manifest.json")
        #expect(entries.first?.RepoTags == ["alpine:3"])
        #expect(entries.first?.Layers == ["l/layer.tar"])
    }
}

@Suite("OCI documents: bad inputs are refused with what is wrong")
struct DocumentRefusalTests {
    struct Bad: Sendable, CustomTestStringConvertible {
        var json: String, message: String
        var testDescription: String { message }
    }

    static let badManifests = [
        Bad(json: #"{"layers":[]}"#, message: "manifest is not a valid ImageManifest: it has no \"config\""),
        Bad(json: #"{"config":{"digest":"x","size":"big"},"layers":[]}"#, message: "manifest is not a valid ImageManifest: wrong type at config.size"),
        Bad(json: #"{"config":"#, message: "manifest is not valid JSON"),
        Bad(json: "", message: "manifest is not valid JSON"),
    ]

    @Test("broken manifests", arguments: badManifests)
    func brokenManifest(_ bad: Bad) {
        do {
            _ = try OCIJSON.decode(ImageManifest.self, from: bytes(bad.json), what: "manifest")
            Issue.record("accepted \(bad.json)")
        } catch let e as ToolError {
            #expect(e.status == .refused)
            #expect(e.message == bad.message)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("an index without manifests")
    func indexWithoutManifests() {
        #expect(throws: ToolError.self) { try OCIJSON.decode(ImageIndex.self, from: bytes(#"{"schemaVersion":2}"#), what: "index.json") }
    }

    static let badDigests = [
        "sha512:" + String(repeating: "a", count: 128),
        "sha256:" + String(repeating: "A", count: 64),
        "sha256:" + String(repeating: "a", count: 63),
        "sha256:../../etc/passwd",
        String(repeating: "a", count: 64),
    ]

    @Test("descriptors naming anything but a lower-case sha256", arguments: badDigests)
    func badDigest(_ digest: String) {
        let d = Descriptor(mediaType: nil, digest: digest, size: 1)
        #expect { try d.sha256(in: "manifest x") } throws: { error in
            (error as? ToolError)?.message == "manifest x names blob \"\(digest)\"; only sha256 digests in lower-case hex are supported"
        }
    }

    @Test("a descriptor with a negative size")
    func negativeSize() {
        let d = Descriptor(mediaType: nil, digest: digestA, size: -1)
        #expect { try d.sha256(in: "index") } throws: { error in
            (error as? ToolError)?.message == "index gives blob \(digestA) a negative size"
        }
    }
}

@Suite("OCI documents: references and the layout's own files")
struct ReferenceAndLayoutTests {
    @Test("familiar names and the name:tag split", arguments: [
        ("docker.io/library/alpine:3", "alpine:3"), ("index.docker.io/example/app:1.0", "example/app:1.0"),
        ("registry.local:5000/app:1", "registry.local:5000/app:1"),
    ])
    func familiar(_ ref: String, _ expected: String) {
        #expect(Reference.familiar(ref) == expected)
    }

    @Test("a pulled name goes up without its registry; a plain path keeps all its components", arguments: [
        ("ghcr.io/aquasecurity/trivy-db", "aquasecurity/trivy-db"), ("127.0.0.1:5000/example/app", "example/app"),
        ("localhost/app", "app"), ("example/app", "example/app"), ("app", "app"), ("registry.local", "registry.local"),
    ])
    func withoutRegistry(_ name: String, _ expected: String) {
        #expect(Reference.withoutRegistry(name) == expected)
    }

    @Test("a registry port is not a tag")
    func split() {
        #expect(Reference.split("registry.local:5000/app") == ("registry.local:5000/app", nil))
        #expect(Reference.split("registry.local:5000/app:1.0") == ("registry.local:5000/app", "1.0"))
    }

    @Test("names and tags a registry refuses", arguments: [
        ("app", "has no tag"), ("app:", "has no tag"), ("app:-x", "has a tag with characters a registry refuses"),
        (":1", "has no name"), ("a//b:1", "has an empty or badly formed path component"),
        ("App:1", "has upper-case or other characters a registry refuses in its name"),
    ])
    func problems(_ ref: String, _ problem: String) {
        #expect(Reference.problem(ref) == problem)
    }

    @Test("names a registry accepts")
    func accepted() {
        #expect(Reference.problem("example/app:1.0") == nil)
        #expect(Reference.problem("registry.local:5000/team/app_x:v1-rc.2") == nil)
    }

    @Test("index.json: named images by name, then unnamed ones by digest, parsable back")
    func layoutIndex() throws {
        let amd64 = try OCIJSON.decode(Descriptor.Platform.self, from: Array(#"{"architecture":"amd64","os":"linux"}"#.utf8), what: "platform")
        let entries = [
            LayoutFiles.Entry(ref: nil, descriptor: Descriptor(mediaType: MediaType.ociManifest, digest: digestB, size: 2)),
            LayoutFiles.Entry(ref: "z:1", descriptor: Descriptor(mediaType: MediaType.ociManifest, digest: digestA, size: 1)),
            LayoutFiles.Entry(ref: "a:1", descriptor: Descriptor(mediaType: MediaType.ociManifest, digest: digestB, size: 3, platform: amd64)),
        ]
        let bytes = LayoutFiles.index(entries)
        #expect(LayoutFiles.index(entries.reversed()) == bytes)
        let index = try OCIJSON.decode(ImageIndex.self, from: bytes, what: "index.json")
        #expect(index.mediaType == MediaType.ociIndex)
        let names: [String?] = index.manifests.map { $0.annotations?[refNameAnnotation] }
        #expect(names == ["a:1", "z:1", nil])
        #expect(index.manifests.first?.platform?.text == "linux/amd64")
    }

    @Test("a manifest for a docker save image keeps its descriptors")
    func layoutManifest() throws {
        let config = Descriptor(mediaType: MediaType.ociConfig, digest: digestA, size: 10)
        let layer = Descriptor(mediaType: LayoutFiles.layerMediaType(head: [0x1F, 0x8B, 8, 0]), digest: digestB, size: 20)
        let m = try OCIJSON.decode(ImageManifest.self, from: LayoutFiles.manifest(config: config, layers: [layer]), what: "manifest")
        #expect(m.mediaType == MediaType.ociManifest)
        #expect(m.config == config)
        #expect(m.layers == [layer])
        #expect(layer.mediaType == MediaType.ociLayer + "+gzip")
        #expect(LayoutFiles.layerMediaType(head: [0x28, 0xB5, 0x2F, 0xFD]) == MediaType.ociLayer + "+zstd")
        #expect(LayoutFiles.layerMediaType(head: Array("ustar".utf8)) == MediaType.ociLayer)
    }
}
