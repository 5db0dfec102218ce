import Foundation
import OCI
import Support
import SystemIO

extension ImagePull {
    /// Every blob of `ds` as a file in the cache: those there already hashed again, the others
    /// downloaded a few at a time (`PullOptions.connections`), each into a temporary file,
    /// hashed as it arrives, and renamed to its digest only when digest and size match.
    func download(_ ds: [Descriptor]) async throws -> [PulledBlob] {
        var out: [PulledBlob] = []
        var missing: [(Descriptor, SHA256Digest)] = []
        for d in ds {
            let digest = try d.sha256(in: label)
            if let (size, head) = try puller.cache.verified(digest, size: d.size) {
                puller.note(digest, size: size, cached: true)
                out.append(PulledBlob(digest: digest, size: size, path: puller.cache.path(digest), compressed: Compression.detect(head) != nil))
            } else {
                missing.append((d, digest))
            }
        }
        guard !missing.isEmpty else { return out }
        let progress = SystemIO.Progress("pulling \(ToolError.shown(written, limit: 60))", total: missing.reduce(Int64(0)) { $0 + $1.0.size })
        defer { progress.finish() }
        let pull = self
        try await withThrowingTaskGroup(of: PulledBlob.self) { group in
            var next = missing.makeIterator()
            for _ in 0..<max(1, puller.options.connections) {
                guard let (d, digest) = next.next() else { break }
                group.addTask { try await pull.blob(d, digest, progress: progress) }
            }
            while let b = try await group.next() {
                out.append(b)
                if let (d, digest) = next.next() { group.addTask { try await pull.blob(d, digest, progress: progress) } }
            }
        }
        return out
    }

    /// One blob, from the registry into the cache.
    private func blob(_ d: Descriptor, _ digest: SHA256Digest, progress: SystemIO.Progress) async throws -> PulledBlob {
        let tmp = puller.temporary(digest)
        defer { try? FS.remove(tmp) }
        let what = "\(label): blob sha256:\(digest.hex)"
        let r = try await get("/v2/\(ref.repository)/blobs/sha256:\(digest.hex)", target: .file(tmp, limit: d.size), what: "blob sha256:\(digest.hex)",
                              progress: progress)
        if r.status == 404 {
            throw ToolError.refused("\(what): registry \(client.name) does not have it\(r.errorText.map { " (\($0))" } ?? ""), though the image's manifest names it")
        }
        guard r.status == 200 else {
            throw ToolError.environment("\(what): registry \(client.name) answered HTTP \(r.status)\(r.errorText.map { " (\($0))" } ?? "")")
        }
        guard r.count == d.size else {
            throw ToolError.refused("\(what): registry \(client.name) sent \(r.count) bytes; the descriptor says \(d.size)")
        }
        guard r.digest == digest else {
            throw ToolError.refused("\(what): registry \(client.name) served other bytes: they hash to sha256:\(r.digest.hex)")
        }
        try puller.cache.publish(tmp, digest)
        puller.note(digest, size: r.count, cached: false)
        return PulledBlob(digest: digest, size: r.count, path: puller.cache.path(digest), compressed: Compression.detect(r.head) != nil)
    }

    /// An index with only the manifests `keep` marks, saying so in two annotations: the
    /// registry's index it was made from and the platforms asked for. Fields this tool does not
    /// know are kept; keys are sorted, so the same index and platforms give the same bytes.
    static func reduce(_ top: Document, keeping keep: [Bool], platforms: [String]) throws -> [UInt8] {
        guard var o = (try? JSONSerialization.jsonObject(with: Data(top.bytes))) as? [String: Any],
              let manifests = o["manifests"] as? [Any], manifests.count == keep.count else {
            throw ToolError.refused("index sha256:\(top.digest.hex) cannot be read as JSON to reduce it to platforms: \(platforms.joined(separator: ", "))")
        }
        o["manifests"] = zip(manifests, keep).filter(\.1).map(\.0)
        o["mediaType"] = MediaType.ociIndex
        o["schemaVersion"] = 2
        var annotations = o["annotations"] as? [String: Any] ?? [:]
        annotations[Puller.reducedFromAnnotation] = "sha256:" + top.digest.hex
        annotations[Puller.platformsAnnotation] = platforms.joined(separator: ",")
        o["annotations"] = annotations
        let data = try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes])
        return Array(data)
    }
}
