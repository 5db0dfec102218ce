import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import OCI
import RegistryHTTP
import Support
import SystemIO

/// Copies the images of an OCI layout into a registry, following the OCI distribution spec.
///
/// Per blob: continue a remembered upload session (asking the registry how far it got), or skip
/// the blob if the registry has it (HEAD), or mount it from another repository that holds it,
/// or upload it: in one PUT up to the chunk size, in PATCH chunks above. Every byte is hashed
/// as it is read from disk and the last chunk is only sent once the whole blob has matched its
/// digest, so the registry never commits bytes that do not match their name. Then manifests:
/// an index's children by digest, then the image by its tag.
public final class Pusher: @unchecked Sendable {
    let layout: ImageLayout
    let options: PushOptions
    let client: RegistryClient
    let state: PushState
    let progress: SystemIO.Progress?

    public init(layout: ImageLayout, options: PushOptions, stateFolder: String, progress: SystemIO.Progress? = nil) throws {
        self.layout = layout
        self.options = options
        self.client = try RegistryClient(host: options.registry, insecure: options.insecure, credentials: options.credentials,
                                         realmHost: options.tokenRealmHost, connections: options.parallel + 2)
        self.state = try PushState(folder: stateFolder, registry: options.registry)
        self.progress = progress
        // Chunk buffers are megabytes, allocated and freed on several threads (ours and
        // URLSession's copies): without this they linger in glibc's per-thread arenas.
        Memory.returnLargeBuffersOnFree()
    }

    public var statePath: String { state.path }

    /// Writes what this run learnt; call when the run ends, however it ends.
    public func saveState() throws { try state.save(force: true) }

    /// Checks that the registry is there and speaks the distribution API.
    public func ping() async throws {
        let r = try await retrying("reach registry \(options.registry)") {
            try await self.client.send("GET", self.client.url("/v2/"), authenticate: false)
        }
        // 401 is fine: the registry is there and wants credentials, asked for per repository.
        guard r.status == 200 || r.status == 401 else {
            // An HTTPS server asked in plain HTTP answers 400 and says so in its body.
            let tls = options.insecure && String(decoding: r.body, as: UTF8.self).contains("HTTPS")
            throw ToolError.environment("\(client.base)/v2/ answered HTTP \(r.status); "
                + (tls ? "the registry speaks HTTPS: drop --insecure" : "is \(options.registry) an OCI distribution registry?"))
        }
    }

    /// Pushes one image: blobs (several at a time), then its manifests.
    public func push(_ image: ImagePlan) async throws -> ImageReport {
        let started = Clock.now()
        var report = ImageReport(ref: image.ref, repository: image.repository, tag: image.tag, digest: image.digest)
        let blobs = image.root.allBlobs
        // Bounded parallelism: start `parallel` uploads, start the next as each one ends.
        try await withThrowingTaskGroup(of: BlobOutcome.self) { group in
            var next = 0
            var firstError: Error?
            func startOne() {
                let b = blobs[next]
                next += 1
                group.addTask { try await self.pushBlob(b, to: image.repository) }
            }
            while next < blobs.count && next < options.parallel { startOne() }
            while true {
                let outcome: BlobOutcome?
                do {
                    outcome = try await group.next()
                } catch {
                    // Let the uploads in flight finish (their bytes are not wasted), start no more.
                    if firstError == nil { firstError = error }
                    continue
                }
                guard let outcome else { break }
                switch outcome {
                case .skipped: report.skipped += 1
                case .mounted: report.mounted += 1
                case .uploaded(let sent, let resumedAt):
                    report.uploaded += 1
                    report.bytesSent += sent
                    if resumedAt > 0 {
                        report.resumed += 1
                        report.bytesResumed += resumedAt
                    }
                }
                if firstError == nil && next < blobs.count { startOne() }
            }
            if let firstError { throw firstError }
        }
        report.manifests = try await pushManifest(image.root, repository: image.repository, reference: image.tag)
        report.seconds = Clock.now() - started
        return report
    }

    // MARK: Blobs

    enum BlobOutcome: Sendable {
        case skipped
        case mounted
        /// Bytes sent, and the offset an earlier session had reached (0 for a fresh upload).
        case uploaded(Int64, resumedAt: Int64)
    }

    private func scopes(_ repository: String, mountFrom: String? = nil) -> [String] {
        ["repository:\(repository):pull,push"] + (mountFrom.map { ["repository:\($0):pull"] } ?? [])
    }

    /// Runs `body` again after transient failures, with exponential backoff.
    private func retrying<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await body()
            } catch let t as Transient {
                if attempt >= options.attempts {
                    let tries = options.attempts > 1 ? " (after \(options.attempts) attempts)" : ""
                    throw ToolError.environment("cannot \(what): \(t.reason)\(tries)")
                }
                let wait = min(t.retryAfter ?? 0.5 * Double(1 << (attempt - 1)), 30)
                try? await Task.sleep(nanoseconds: UInt64(wait * 1e9))
                attempt += 1
            }
        }
    }

    func pushBlob(_ blob: BlobRef, to repository: String) async throws -> BlobOutcome {
        let outcome = try await retrying("push blob \(blob.name) to \(options.registry)/\(repository)") {
            try await self.pushBlobOnce(blob, to: repository)
        }
        state.holds(repository, blob.digest)
        if case .uploaded = outcome {} else { progress?.advance(blob.size) }
        return outcome
    }

    private func pushBlobOnce(_ blob: BlobRef, to repository: String) async throws -> BlobOutcome {
        let scopes = scopes(repository)
        // 1. A session an earlier run or attempt left: ask the registry how far it got.
        if let s = state.session(repository, blob.digest) {
            if let (location, offset) = try await sessionStatus(s, repository: repository), offset <= blob.size {
                return try await upload(blob, repository: repository, location: location, offset: offset)
            }
            state.setSession(repository, blob.digest, nil)
        }
        // 2. Already there?
        let head = try await client.send("HEAD", client.url("/v2/\(repository)/blobs/\(blob.name)"), scopes: scopes)
        if head.status == 200 { return .skipped }
        try client.expect(head, [404], "HEAD for blob \(blob.name) in \(repository)")
        // 3. Mount it from a repository that holds it, where the registry allows.
        var location: URL?
        if let from = state.holders(of: blob.digest, except: repository).first {
            let r = try await client.send("POST", client.url("/v2/\(repository)/blobs/uploads/?mount=\(blob.name)&from=\(from)"),
                                          scopes: self.scopes(repository, mountFrom: from))
            if r.status == 201 { return .mounted }
            try client.expect(r, [202], "a mount of \(blob.name) from \(from) into \(repository)")
            // 202: no mount (the source lost it, or mounting is off); the answer opened an upload.
            state.lacks(from, blob.digest)
            location = try r.header("location").map { try client.resolve(location: $0) }
        }
        // 4. Upload.
        if location == nil {
            let r = try await client.send("POST", client.url("/v2/\(repository)/blobs/uploads/"), scopes: scopes)
            try client.expect(r, [202], "the start of an upload of \(blob.name) to \(repository)")
            location = try r.header("location").map { try client.resolve(location: $0) }
        }
        guard let location else { throw ToolError.environment("registry \(options.registry) opened an upload without a Location") }
        return try await upload(blob, repository: repository, location: location, offset: 0)
    }

    /// Where a remembered session stands (GET on its URL: Range "0-<last byte>"), or nil when
    /// the registry no longer knows it.
    private func sessionStatus(_ s: PushState.Session, repository: String) async throws -> (URL, Int64)? {
        guard let url = try? client.resolve(location: s.location) else { return nil }
        let r = try await client.send("GET", url, scopes: scopes(repository))
        guard r.status == 204 || r.status == 200 else { return nil }
        var offset: Int64 = 0
        if let range = r.header("range") {
            // "0-<last>", some registries write "bytes=0-<last>"; "0-0" means nothing yet (distribution).
            let text = range.hasPrefix("bytes=") ? String(range.dropFirst(6)) : range
            let parts = text.split(separator: "-")
            guard parts.count == 2, let last = Int64(parts[1]), last < Int64.max else { return nil }
            offset = last == 0 ? 0 : last + 1
        }
        let next = try r.header("location").map { try client.resolve(location: $0) } ?? url
        return (next, offset)
    }

    /// Sends the blob's bytes from `offset` on, then commits it with its digest.
    private func upload(_ blob: BlobRef, repository: String, location start: URL, offset startOffset: Int64) async throws -> BlobOutcome {
        let reader = try BlobReader(path: layout.blobPath(blob.digest), blob: blob)
        let scopes = scopes(repository)
        var location = start
        do {
            // Bytes the registry already holds are hashed, not sent: the digest covers the whole blob.
            try reader.skip(to: startOffset)
            if startOffset == 0 && blob.size <= Int64(options.chunkSize) {
                return try await putWhole(reader, repository: repository, location: location, scopes: scopes)
            }
            let sent = try await sendChunks(reader, repository: repository, location: &location, from: startOffset, scopes: scopes)
            // Every byte has passed the hash by now (BlobReader checks at the end of the blob).
            let r = try await client.send("PUT", commitURL(location, blob), scopes: scopes)
            if r.status == 404 {
                state.setSession(repository, blob.digest, nil)
                throw Transient(reason: "the registry lost the upload session before it was committed")
            }
            try client.expect(r, [201, 204], "the commit of \(blob.name) in \(repository)")
            if startOffset > 0 { progress?.advance(startOffset) }
            return .uploaded(sent, resumedAt: startOffset)
        } catch let e as ToolError where e.status == .refused {
            // The bytes on disk are not the blob: abandon the session so nothing of it stays.
            state.setSession(repository, blob.digest, nil)
            _ = try? await client.send("DELETE", location, scopes: scopes)
            throw e
        }
    }

    /// Monolithic: one PUT carries the whole, already verified, blob.
    private func putWhole(_ reader: BlobReader, repository: String, location: URL, scopes: [String]) async throws -> BlobOutcome {
        let blob = reader.blob
        let data = try reader.read(Int(blob.size))
        try reader.absorb(data)
        let r = try await client.send("PUT", commitURL(location, blob), headers: ["Content-Type": "application/octet-stream"],
                                      body: data, scopes: scopes)
        try client.expect(r, [201, 204], "the upload of \(blob.name) to \(repository)")
        progress?.advance(blob.size)
        return .uploaded(blob.size, resumedAt: 0)
    }

    /// Chunked: PATCHes the rest of the blob from `offset`, remembering the session after each
    /// chunk so an interrupted run resumes there; `location` follows the registry's answers.
    /// Returns the bytes sent.
    private func sendChunks(_ reader: BlobReader, repository: String, location: inout URL, from start: Int64, scopes: [String]) async throws -> Int64 {
        let blob = reader.blob
        var offset = start
        var sent: Int64 = 0
        state.setSession(repository, blob.digest, PushState.Session(location: location.absoluteString, offset: offset))
        // A chunk is hashed while it is on the wire, except the last one: it leaves only after
        // the whole blob has matched its digest. One buffer per upload, refilled: URLSession
        // copies a body when the request is made, so once the request and the hashing are done
        // the buffer is ours alone again and is written in place.
        var buffer = Data()
        while reader.offset < blob.size {
            try reader.read(options.chunkSize, into: &buffer)
            let chunk = buffer
            let last = reader.offset == blob.size
            if last { try reader.absorb(chunk) }
            async let hashing: Void = last ? () : reader.absorb(chunk)
            let end = offset + Int64(chunk.count)
            let r = try await client.send("PATCH", location, headers: [
                "Content-Type": "application/octet-stream",
                "Content-Range": "\(offset)-\(end - 1)",
            ], body: chunk, scopes: scopes)
            try await hashing
            if r.status == 404 || r.status == 416 {
                // The registry lost the session or disagrees on the offset: start this blob again.
                state.setSession(repository, blob.digest, nil)
                throw Transient(reason: "the registry lost the upload session (HTTP \(r.status)\(r.errorText.map { ", \($0)" } ?? ""))")
            }
            try client.expect(r, [202, 204], "a chunk of \(blob.name) for \(repository)")
            if let l = r.header("location") { location = try client.resolve(location: l) }
            offset = end
            sent += Int64(chunk.count)
            progress?.advance(Int64(chunk.count))
            state.setSession(repository, blob.digest, PushState.Session(location: location.absoluteString, offset: offset))
        }
        return sent
    }

    private func commitURL(_ location: URL, _ blob: BlobRef) -> URL {
        let s = location.absoluteString
        return URL(string: s + (s.contains("?") ? "&" : "?") + "digest=" + blob.name)!
    }

    // MARK: Manifests

    /// A registry answers a manifest request only in the media types the client accepts.
    static let manifestTypes = [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerList].joined(separator: ", ")

    /// PUTs an index's children by digest, then the node itself under `reference`. Returns how
    /// many manifests were sent.
    private func pushManifest(_ node: ManifestNode, repository: String, reference: String) async throws -> Int {
        var count = 0
        for child in node.children {
            // A child shared by two indexes, or pushed by an earlier run, is not sent again.
            let head = try await retrying("check manifest \(child.name) in \(repository)") {
                try await self.client.send("HEAD", self.client.url("/v2/\(repository)/manifests/\(child.name)"),
                                           headers: ["Accept": Pusher.manifestTypes], scopes: self.scopes(repository))
            }
            if head.status == 200 && head.header("docker-content-digest") == child.name { continue }
            count += try await pushManifest(child, repository: repository, reference: child.name)
        }
        let r = try await retrying("push manifest \(node.name) to \(options.registry)/\(repository):\(reference)") {
            try await self.client.send("PUT", self.client.url("/v2/\(repository)/manifests/\(reference)"),
                                       headers: ["Content-Type": node.mediaType], body: Data(node.bytes), scopes: self.scopes(repository))
        }
        try client.expect(r, [200, 201, 204], "manifest \(node.name) for \(repository):\(reference)")
        if let d = r.header("docker-content-digest"), d != node.name {
            throw ToolError.environment("registry \(options.registry) stored manifest \(node.name) for \(repository):\(reference) under another digest, \(d)")
        }
        return count + 1
    }
}
