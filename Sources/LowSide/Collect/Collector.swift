import BundleFormat
import Fetch
import Registry
import Support
import SystemIO

/// One file to carry: where it is now and where it lands in the tree.
public struct CollectedFile: Sendable {
    public var logicalPath: String
    /// Where the bytes are now: `sourceBase`, then the last `sourceTail` bytes of `logicalPath`.
    /// A file found in a folder shares the folder's path (one string for every file under it)
    /// instead of holding a full path of its own: ~100 bytes a file in a tree of 300,000.
    public var sourcePath: String {
        sourceTail == 0 ? sourceBase : sourceBase + String(decoding: logicalPath.utf8.suffix(Int(sourceTail)), as: UTF8.self)
    }
    private var sourceBase: String
    private var sourceTail: Int32 = 0
    public var size: Int64
    public var mode: UInt32
    public var source: Int
    /// Where the bytes start in `sourcePath`: a blob inside an image tarball is read in place.
    public var offset: Int64 = 0
    /// Known already when the collector hashed the bytes on the way (image blobs).
    public var digest: SHA256Digest? = nil
    /// The first bytes were recognised as a compressed format: store, do not recompress.
    public var compressed = false

    public init(logicalPath: String, sourcePath: String, size: Int64, mode: UInt32, source: Int, offset: Int64 = 0,
                digest: SHA256Digest? = nil, compressed: Bool = false) {
        (self.logicalPath, sourceBase, self.size, self.mode, self.source) = (logicalPath, sourcePath, size, mode, source)
        (self.offset, self.digest, self.compressed) = (offset, digest, compressed)
    }

    /// A file under a source folder: its path there is the last `relative` bytes of `logicalPath`.
    init(logicalPath: String, folder: String, relative: Int, size: Int64, mode: UInt32, source: Int) {
        self.init(logicalPath: logicalPath, sourcePath: folder, size: size, mode: mode, source: source)
        sourceTail = Int32(relative)
    }
}

/// Turns spec sources into a sorted list of regular files, fetching URL sources first.
///
/// Symbolic links, devices and other special files inside a source are refused by name: a link
/// could point anywhere on the build machine, and a bundle carries regular files only.
public struct Collector {
    let spec: BundleSpec
    let scratch: String
    let fetcher = Fetcher()
    /// How `refs:` are pulled: the cache, plain-HTTP registries.
    let pull: PullOptions?

    /// Collects the sources of `spec`; fetched files and unpacked image parts go under `scratch`,
    /// pulled images into the cache `pull` names.
    public init(spec: BundleSpec, scratch: String, pull: PullOptions? = nil) {
        self.spec = spec
        self.scratch = scratch
        self.pull = pull
    }

    /// "spec.yaml:12: source 'govulndb': 'feeds/govulndb' does not exist (...)": the line to
    /// fix, and the folder a relative path was looked for in, which is the spec's, not the shell's.
    private func missing(_ source: BundleSpec.Source, _ what: String, relative: Bool) -> ToolError {
        let base = relative ? " (paths in a spec are relative to its folder, \(FS.parent(of: FS.absolute(spec.file))))" : ""
        return ToolError.usage("\(spec.file):\(source.line): source '\(source.name)': \(what) does not exist\(base)")
    }

    /// A path the spec names that is itself a link: refused like a link inside a source, since
    /// whatever it points at today is not what the spec says. The hint names the real path.
    private func link(_ source: BundleSpec.Source, _ what: String, _ path: String) -> ToolError {
        let target = (try? FS.resolve(path)).map { "name the real path, '\($0)', in the spec" } ?? "it points nowhere (a dangling link)"
        return ToolError.usage("\(spec.file):\(source.line): source '\(source.name)': \(what) is a symbolic link; bundles never follow links: \(target)")
    }

    /// The tree's files, the images its layout names, and what pulling `refs:` took (nil when none were pulled).
    public func collect() async throws -> (files: [CollectedFile], images: [ImageSummary], pulled: PullCounts?) {
        var files: [CollectedFile] = []
        var images = ImageCollector(scratch: scratch)
        var puller: Puller?
        for (i, source) in spec.sources.enumerated() {
            let top = "\(source.kind.rawValue)/\(source.name)"
            switch source.origin {
            case .archives(let archives):
                // Named by the absolute path looked for: that shows which folder it was resolved in.
                for path in archives {
                    guard let info = try FS.info(path) else { throw missing(source, "image archive '\(path)'", relative: false) }
                    if info.kind == .symlink { throw link(source, "image archive '\(path)'", path) }
                }
                if !archives.isEmpty { try images.add(archives, source: i, name: source.name) }
                if !source.refs.isEmpty {
                    let p = try puller ?? Puller(try pullOptions())
                    puller = p
                    try await pullRefs(source, index: i, with: p, into: &images)
                }
            case .path(let path):
                guard let info = try FS.info(path) else {
                    throw missing(source, "'\(source.originText)'", relative: !source.originText.hasPrefix("/"))
                }
                if info.kind == .symlink { throw link(source, "'\(source.originText)'", path) }
                switch info.kind {
                case .directory:
                    if source.sha256 != nil || source.unpack {
                        throw ToolError.usage("source '\(source.name)': \(source.unpack ? "unpack needs an archive" : "a sha256 pin needs a single") file or URL, not a folder")
                    }
                    try walk(path, relative: "", root: path + "/", into: &files, top: top, source: i, name: source.name)
                case .regular:
                    try checkPin(source, path: path)
                    if source.unpack { files += try unpacker(source, i, archive: path).unpack(); continue }
                    files.append(CollectedFile(logicalPath: "\(top)/\(FS.baseName(path))", sourcePath: path,
                                               size: info.size, mode: Collector.mode(info.mode), source: i))
                default:
                    throw ToolError.usage("source '\(source.name)': '\(source.originText)' is not a regular file or folder")
                }
            case .url(let url):
                let name = try Collector.fileName(of: url, source: source.name)
                let dest = "\(scratch)/fetch-\(i)"
                _ = try await fetcher.download(url, to: dest)
                try checkPin(source, path: dest)
                if source.unpack { files += try unpacker(source, i, archive: dest).unpack(); continue }
                guard let got = try FS.info(dest) else { throw ToolError.environment("download of \(url) vanished") }
                files.append(CollectedFile(logicalPath: "\(top)/\(name)", sourcePath: dest, size: got.size, mode: 0o644, source: i))
            }
        }
        if !images.isEmpty { files += try images.finish() }
        try checkAndSort(&files)
        return (files, images.summaries, puller?.counts)
    }

    /// Every path checked, then sorted in place (a sorted copy would hold every path twice at
    /// the build's peak) and copied once to its exact size.
    private func checkAndSort(_ files: inout [CollectedFile]) throws {
        for f in files {
            if let problem = LogicalPath.problem(f.logicalPath) {
                throw ToolError.usage("source '\(spec.sources[f.source].name)': path '\(f.logicalPath)' \(problem)")
            }
        }
        files.sort { LogicalPath.bytewiseLess($0.logicalPath, $1.logicalPath) }
        files = files.withExactCapacity()
    }

    private func pullOptions() throws -> PullOptions {
        guard let pull else { throw ToolError.usage("\(spec.file): refs need a cache to pull into; give --cache DIR") }
        return pull
    }

    /// Pulls a source's references one after the other (each pulls several blobs at a time).
    private func pullRefs(_ source: BundleSpec.Source, index: Int, with puller: Puller, into images: inout ImageCollector) async throws {
        for ref in source.refs {
            do {
                try images.add(pulled: try await puller.pull(ref, platforms: source.platforms), source: index)
            } catch let e as ToolError {
                throw e.prefixed("source '\(source.name)': ")
            }
        }
    }

    /// The archive a source with `unpack: true` names, to be unpacked into its own scratch folder.
    private func unpacker(_ source: BundleSpec.Source, _ i: Int, archive: String) -> ArchiveUnpacker {
        ArchiveUnpacker(path: archive, archiveName: source.originText, context: "\(spec.file):\(source.line): source '\(source.name)'",
                        top: "\(source.kind.rawValue)/\(source.name)", source: i, folder: "\(scratch)/unpack-\(i)")
    }

    /// `root` is the source folder with a slash after it, shared by every file found under it.
    private func walk(_ dir: String, relative: String, root: String, into files: inout [CollectedFile], top: String, source: Int, name: String) throws {
        for entry in try FS.list(dir) {
            let full = dir + "/" + entry
            let rel = relative.isEmpty ? entry : relative + "/" + entry
            guard let info = try FS.info(full) else { continue }
            switch info.kind {
            case .directory:
                try walk(full, relative: rel, root: root, into: &files, top: top, source: source, name: name)
            case .regular:
                files.append(CollectedFile(logicalPath: "\(top)/\(rel)", folder: root, relative: rel.utf8.count, size: info.size,
                                           mode: Collector.mode(info.mode), source: source))
            case .symlink:
                throw ToolError.usage("source '\(name)': '\(rel)' is a symbolic link; bundles carry regular files only and never follow links")
            case .other:
                throw ToolError.usage("source '\(name)': '\(rel)' is not a regular file (device, socket or FIFO)")
            }
        }
    }

    private func checkPin(_ source: BundleSpec.Source, path: String) throws {
        guard let pin = source.sha256 else { return }
        let (digest, _) = try SHA256Stream.file(path)
        guard digest == pin else {
            throw ToolError.refused("source '\(source.name)': \(source.originText) has SHA-256 \(digest.hex), but the spec pins \(pin.hex)")
        }
    }

    /// Only the executable bit survives: 755 or 644, so a tree's modes do not depend on a umask.
    static func mode(_ m: UInt32) -> UInt32 { m & 0o111 != 0 ? 0o755 : 0o644 }

    /// The last path segment of a URL, percent-decoded, as a file name.
    static func fileName(of url: String, source: String) throws -> String {
        var s = Substring(url)
        if let q = s.firstIndex(where: { $0 == "?" || $0 == "#" }) { s = s[..<q] }
        let last = s.split(separator: "/").last.map(String.init) ?? ""
        let decoded = last.removingPercentEncodingSafely
        guard !decoded.isEmpty, !decoded.contains("/"), !decoded.hasSuffix(":"), LogicalPath.problem(decoded) == nil,
              !(url.hasSuffix("/")) else {
            throw ToolError.usage("source '\(source)': cannot take a file name from URL \(url); point it at a file")
        }
        return decoded
    }
}

extension String {
    /// Percent-decoding without Foundation; malformed escapes are kept as written.
    var removingPercentEncodingSafely: String {
        let u = Array(utf8)
        var out: [UInt8] = []
        var i = 0
        while i < u.count {
            if u[i] == UInt8(ascii: "%"), i + 2 < u.count, let b = Hex.decode(String(decoding: u[i + 1...i + 2], as: UTF8.self)) {
                out.append(b[0])
                i += 3
            } else {
                out.append(u[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension ToolError {
    /// The same error, its message after `text`.
    func prefixed(_ text: String) -> ToolError { ToolError(status, text + message, cause: cause) }
}
