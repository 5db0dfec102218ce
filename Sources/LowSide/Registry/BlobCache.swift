import Support
import SystemIO

/// The low side's content-addressed store of pulled manifests and blobs: `blobs/sha256/<hex>`
/// under the cache folder (`--cache`, by default `${XDG_CACHE_HOME:-~/.cache}/bundlectl`).
///
/// A file lands under its digest only by rename from `tmp/`, after its bytes hashed to that
/// digest, so a crash leaves a stray temporary file and never a wrong blob. A blob is hashed
/// again each time a build uses it: the cache is a folder anyone with the account can write.
public struct BlobCache: Sendable {
    public let root: String

    /// The cache folder a build uses when --cache is not given.
    public static func defaultRoot(environment: [String: String]) -> String? {
        if let x = environment["XDG_CACHE_HOME"], x.hasPrefix("/") { return x + "/bundlectl" }
        return environment["HOME"].flatMap { $0.isEmpty ? nil : $0 + "/.cache/bundlectl" }
    }

    /// Opens the cache at `root`, making its folders (private to the user) if need be.
    public init(root: String) throws {
        self.root = root
        if let info = try FS.info(root), info.kind != .directory {
            throw ToolError.usage("cache '\(root)' is not a folder")
        }
        try FS.makeDirectories(root + "/blobs/sha256", mode: 0o700)
        try FS.makeDirectories(root + "/tmp", mode: 0o700)
    }

    public func path(_ digest: SHA256Digest) -> String { "\(root)/blobs/sha256/\(digest.hex)" }

    /// A temporary name; `tag` keeps concurrent downloads apart.
    func temporary(_ digest: SHA256Digest, tag: Int) -> String { "\(root)/tmp/\(digest.hex).\(CurrentProcess.id).\(tag)" }

    /// The cached blob for `digest` if it is there and its bytes still hash to it (and its size
    /// is `size`, when given), with its first bytes. A damaged or foreign file is removed.
    func verified(_ digest: SHA256Digest, size: Int64?) throws -> (size: Int64, head: [UInt8])? {
        let p = path(digest)
        guard let info = try FS.info(p) else { return nil }
        guard info.kind == .regular else {
            try FS.remove(p)
            return nil
        }
        let (got, count, head) = try SHA256Stream.file(p, keepingHead: Compression.headLength, followingLinks: false)
        guard got == digest, size == nil || count == size else {
            try FS.remove(p)
            return nil
        }
        return (count, head)
    }

    /// A small document already in memory and checked against its digest, through `tmp`.
    func store(_ bytes: [UInt8], _ digest: SHA256Digest, through tmp: String) throws {
        try? FS.remove(tmp)
        let fd = try FileDescriptor.create(tmp, mode: 0o600)
        do {
            try fd.write(bytes)
            try fd.close()
        } catch {
            try? FS.remove(tmp)
            throw error
        }
        try publish(tmp, digest)
    }

    /// Moves a temporary file whose bytes hashed to `digest` to its name.
    func publish(_ tmp: String, _ digest: SHA256Digest) throws {
        try FS.rename(tmp, path(digest))
    }
}
