import Foundation
import OCI
import Support
import SystemIO

/// A manifest or index as the registry served it, checked against its digest.
struct Document {
    var digest: SHA256Digest
    var bytes: [UInt8]
    var mediaType: String
    var parsed: AnyDocument

    var isIndex: Bool { MediaType.isIndex(mediaType) || (parsed.manifests != nil && parsed.config == nil) }
}

/// The fields of any manifest, index or artifact manifest that name other content.
struct AnyDocument: Decodable {
    var schemaVersion: Int?
    var mediaType: String?
    var manifests: [Descriptor]?
    var config: Descriptor?
    var layers: [Descriptor]?
    /// The 1.1-rc artifact manifest's list.
    var blobs: [Descriptor]?
}

/// Pulling one reference: resolve, walk its manifests, download what the cache lacks.
struct ImagePull {
    let puller: Puller
    let client: Client
    let ref: ImageReference
    let written: String
    var cache: BlobCache { puller.cache }
    private var repository: String { ref.repository }
    var label: String { "image \(ToolError.shown(written))" }

    init(puller: Puller, client: Client, ref: ImageReference, written: String) throws {
        self.puller = puller
        self.client = client
        self.ref = ref
        self.written = written
    }

    func run(platforms: [String]?) async throws -> PulledImage {
        let top = try await resolve()
        let resolvedAt = Timestamp.now()
        var documents: [Document] = [top]
        var blobs: [Descriptor] = []
        var carried: [String] = []
        var reduced: (bytes: [UInt8], from: SHA256Digest)?
        if top.isIndex {
            var children = try descriptors(top.parsed.manifests ?? [], in: top)
            if let platforms {
                let keep = children.map { Puller.matches($0.platform, platforms) }
                guard keep.contains(true) else {
                    let listed = children.compactMap { $0.platform?.text }
                    throw ToolError.usage("\(label) lists \(listed.isEmpty ? "no platforms" : listed.joined(separator: ", ")); platforms: names none of them")
                }
                if keep.contains(false) {
                    reduced = (try ImagePull.reduce(top, keeping: keep, platforms: platforms), top.digest)
                    children = zip(children, keep).filter(\.1).map(\.0)
                }
            }
            for c in children {
                try await walk(c, depth: 1, documents: &documents, blobs: &blobs)
                if let p = c.platform, MediaType.isManifest(c.mediaType) { carried.append(p.text) }
            }
        } else {
            blobs = try manifestBlobs(top)
        }
        var files = try await download(unique(blobs))
        if !top.isIndex, let config = top.parsed.config, let p = platform(of: config, among: files) { carried.append(p) }
        // Platforms are the registry's text, shown on the high side: no controls.
        if let bad = carried.first(where: { OutsideText.problem($0) != nil }) {
            throw ToolError.refused("\(label) names a platform that \(OutsideText.problem(bad) ?? "")")
        }
        files += documents.enumerated().compactMap { i, d in
            i == 0 && reduced != nil ? nil : PulledBlob(digest: d.digest, size: Int64(d.bytes.count), path: cache.path(d.digest), compressed: false)
        }
        var topDescriptor = Descriptor(mediaType: top.mediaType, digest: "sha256:" + top.digest.hex, size: Int64(top.bytes.count))
        var topDigest = top.digest
        if let (bytes, _) = reduced {
            topDigest = SHA256Digest.of(bytes)
            try cache.store(bytes, topDigest, through: puller.temporary(topDigest))
            topDescriptor = Descriptor(mediaType: MediaType.ociIndex, digest: "sha256:" + topDigest.hex, size: Int64(bytes.count))
            files.append(PulledBlob(digest: topDigest, size: Int64(bytes.count), path: cache.path(topDigest), compressed: false))
        }
        return PulledImage(written: written, reference: ref, top: topDescriptor, digest: topDigest, blobs: unique(files), platforms: carried,
                           reducedFrom: reduced?.from, resolvedAt: resolvedAt)
    }

    // MARK: Resolving the reference

    /// The top manifest or index: by the digest a tag names now (HEAD), or by the pin.
    private func resolve() async throws -> Document {
        var digest = ref.digest
        if let tag = ref.tag {
            let head = try await get("/v2/\(repository)/manifests/\(tag)", method: "HEAD", manifest: true,
                                     target: .memory(limit: Puller.documentLimit), what: "the manifest of tag \(tag)")
            if head.status == 404 { try await unknown(tag) }
            try expectOK(head, "the manifest of tag \(tag)")
            let named = head.header("docker-content-digest").flatMap(ImagePull.sha256)
            if let pin = ref.digest, let named, named != pin {
                throw ToolError.refused("\(label): tag \(tag) on registry \(client.name) is sha256:\(named.hex), but the spec pins sha256:\(pin.hex); "
                    + "pin the digest the tag names now, or drop the tag to carry the pinned image")
            }
            digest = digest ?? named
            if let digest, let doc = try cached(digest, contentType: head.header("content-type")) { return doc }
        }
        if let digest, let doc = try cached(digest, contentType: nil) { return doc }
        let name = digest.map { "sha256:" + $0.hex } ?? ref.tag ?? ""
        let r = try await get("/v2/\(repository)/manifests/\(name)", manifest: true, target: .memory(limit: Puller.documentLimit), what: "manifest \(name)")
        if r.status == 404 { try await unknown(name, answer: r) }
        try expectOK(r, "manifest \(name)")
        if let said = r.header("docker-content-digest").flatMap(ImagePull.sha256), said != r.digest {
            throw ToolError.refused("\(label): registry \(client.name) served a manifest that hashes to sha256:\(r.digest.hex) but says it is sha256:\(said.hex)")
        }
        if let digest, r.digest != digest {
            throw ToolError.refused("\(label): registry \(client.name) served other bytes for manifest sha256:\(digest.hex): they hash to sha256:\(r.digest.hex)")
        }
        return try keep(r.body, r.digest, contentType: r.header("content-type"), fromCache: false)
    }

    /// A tag or digest the registry does not have, in its words (a HEAD answer has none: ask again).
    private func unknown(_ name: String, answer: Answer? = nil) async throws -> Never {
        var r = answer
        if r == nil {
            r = try? await get("/v2/\(repository)/manifests/\(name)", manifest: true, target: .memory(limit: Puller.documentLimit), what: "manifest \(name)")
        }
        let words = r?.errorText.map { " (\($0))" } ?? ""
        let what = name.hasPrefix("sha256:") ? "manifest \(name)" : "tag \(ToolError.shown(name))"
        throw ToolError.usage("\(label): registry \(client.name) has no \(what) in \(repository)\(words)")
    }

    /// GET (or HEAD) in the image's repository; a body past its limit is refused naming `what`.
    func get(_ path: String, method: String = "GET", manifest: Bool = false, target: BodyTarget, what: String, progress: SystemIO.Progress? = nil) async throws -> Answer {
        do {
            return try await client.request(method, path, repository: repository, headers: manifest ? ["Accept": Puller.accept] : [:],
                                            target: target, progress: progress)
        } catch let o as Oversize {
            throw ToolError.refused("\(label): \(what): registry \(client.name) sent more than the \(o.limit) bytes expected")
        } catch let e as ToolError {
            // The registry's or the network's failure, said of the image it stopped.
            throw ToolError(e.status, "\(label): " + e.message, cause: e.cause)
        }
    }

    private func expectOK(_ r: Answer, _ what: String) throws {
        guard r.status != 200 else { return }
        let words = r.errorText.map { " (\($0))" } ?? ""
        if r.status == 403 {
            throw ToolError.environment("\(label): registry \(client.name) refused access to \(repository) (HTTP 403)\(words); check the credentials in the auth file")
        }
        throw ToolError.environment("\(label): registry \(client.name) answered HTTP \(r.status) to the request for \(what)\(words)")
    }

    // MARK: Documents

    /// A manifest or index from the cache, its bytes hashed again; nil when absent or damaged.
    private func cached(_ digest: SHA256Digest, contentType: String?) throws -> Document? {
        guard let bytes = try? FS.readFile(cache.path(digest), limit: Int(Puller.documentLimit), followingLinks: false) else { return nil }
        guard SHA256Digest.of(bytes) == digest else {
            try? FS.remove(cache.path(digest))
            return nil
        }
        return try keep(bytes, digest, contentType: contentType, fromCache: true)
    }

    /// A document checked against its digest: parsed, stored in the cache, counted.
    private func keep(_ bytes: [UInt8], _ digest: SHA256Digest, contentType: String?, fromCache: Bool) throws -> Document {
        let parsed = try OCIJSON.decode(AnyDocument.self, from: bytes, what: "\(label): manifest sha256:\(digest.hex)")
        if parsed.schemaVersion == 1 {
            throw ToolError.refused("\(label) is a Docker schema 1 manifest, which no current registry needs; push it again with a current tool (schema 2 or OCI)")
        }
        let served = contentType?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) }
        let type = parsed.mediaType ?? served.flatMap { $0.hasPrefix("application/") && $0 != "application/json" ? $0 : nil }
            ?? (parsed.manifests != nil && parsed.config == nil ? MediaType.ociIndex : MediaType.ociManifest)
        if let problem = OutsideText.problem(type) { throw ToolError.refused("\(label): manifest sha256:\(digest.hex) has a media type that \(problem)") }
        if !fromCache { try cache.store(bytes, digest, through: puller.temporary(digest)) }
        puller.note(digest, size: Int64(bytes.count), cached: fromCache)
        return Document(digest: digest, bytes: bytes, mediaType: type, parsed: parsed)
    }

    /// A child of an index: a manifest (or an index) fetched by its digest, bounded by its descriptor.
    private func walk(_ d: Descriptor, depth: Int, documents: inout [Document], blobs: inout [Descriptor]) async throws {
        guard depth < 4 else { throw ToolError.refused("\(label) nests indexes more than 4 deep") }
        let digest = try d.sha256(in: label)
        guard d.size <= Puller.documentLimit else {
            throw ToolError.refused("\(label): manifest sha256:\(digest.hex) is \(d.size) bytes; a manifest is at most \(Puller.documentLimit)")
        }
        var doc = try cached(digest, contentType: d.mediaType)
        if doc == nil {
            let r = try await get("/v2/\(repository)/manifests/sha256:\(digest.hex)", manifest: true, target: .memory(limit: d.size),
                                  what: "manifest sha256:\(digest.hex)")
            if r.status == 404 { try await unknown("sha256:\(digest.hex)", answer: r) }
            try expectOK(r, "manifest sha256:\(digest.hex)")
            guard r.digest == digest, r.count == d.size else {
                throw ToolError.refused("\(label): registry \(client.name) served other bytes for manifest sha256:\(digest.hex): "
                    + "they hash to sha256:\(r.digest.hex) (\(r.count) bytes; the index says \(d.size))")
            }
            doc = try keep(r.body, digest, contentType: d.mediaType ?? r.header("content-type"), fromCache: false)
        }
        guard var doc else { return }
        if let t = d.mediaType { doc.mediaType = t }
        guard doc.bytes.count == d.size else {
            throw ToolError.refused("\(label): manifest sha256:\(digest.hex) is \(doc.bytes.count) bytes; the index says \(d.size)")
        }
        documents.append(doc)
        if doc.isIndex {
            for c in try descriptors(doc.parsed.manifests ?? [], in: doc) { try await walk(c, depth: depth + 1, documents: &documents, blobs: &blobs) }
        } else {
            blobs += try manifestBlobs(doc)
        }
    }

    /// A manifest's config, layers and (artifact manifest) blobs.
    private func manifestBlobs(_ doc: Document) throws -> [Descriptor] {
        let all = (doc.parsed.config.map { [$0] } ?? []) + (doc.parsed.layers ?? []) + (doc.parsed.blobs ?? [])
        return try descriptors(all, in: doc)
    }

    /// Descriptors checked before anything is asked for: sha256 digests, sizes within bounds, not too many.
    private func descriptors(_ ds: [Descriptor], in doc: Document) throws -> [Descriptor] {
        guard ds.count <= Puller.descriptorLimit else {
            throw ToolError.refused("\(label): manifest sha256:\(doc.digest.hex) lists \(ds.count) descriptors; at most \(Puller.descriptorLimit) are accepted")
        }
        for d in ds {
            let digest = try d.sha256(in: "\(label): manifest sha256:\(doc.digest.hex)")
            guard d.size <= Puller.blobLimit else { throw ToolError.refused("\(label): blob sha256:\(digest.hex) claims \(d.size) bytes") }
        }
        return ds
    }

    private func unique(_ ds: [Descriptor]) -> [Descriptor] {
        var seen = Set<String>()
        return ds.filter { seen.insert($0.digest).inserted }
    }

    private func unique(_ bs: [PulledBlob]) -> [PulledBlob] {
        var seen = Set<SHA256Digest>()
        return bs.filter { seen.insert($0.digest).inserted }
    }

    /// The platform an image config names, for a single-platform image.
    private func platform(of config: Descriptor, among files: [PulledBlob]) -> String? {
        guard config.size <= Puller.documentLimit, let digest = try? config.sha256(in: label),
              let f = files.first(where: { $0.digest == digest }),
              let bytes = try? FS.readFile(f.path, limit: Int(Puller.documentLimit)), SHA256Digest.of(bytes) == digest,
              let c = try? OCIJSON.decode(ImageConfig.self, from: bytes, what: "") else { return nil }
        return c.platformText
    }

    static func sha256(_ header: String) -> SHA256Digest? {
        let h = header.trimmingCharacters(in: .whitespaces)
        return h.hasPrefix("sha256:") ? SHA256Digest(hex: String(h.dropFirst(7))) : nil
    }
}
