@testable import Apply
import BundleFormat
import Foundation
import Support
import SystemIO

/// Small values to build manifests, listings and temporary folders from.
enum Fixture {
    static func digest(_ text: String) -> SHA256Digest { SHA256Digest.of(Array(text.utf8)) }

    static func manifest(name: String = "feeds", sequence: Int64, expires: Int64? = nil, base: BaseRef? = nil) -> Manifest {
        let part = PartRef(path: "INDEX.zst", sha256: digest("index"), size: 1, uncompressed: 1)
        return Manifest(name: name, version: "v\(sequence)", sequence: sequence, created: 1_700_000_000, expires: expires,
                        tree: digest("tree \(sequence)"), treeFiles: 0, treeSize: 0, index: part, packs: [], sources: [], base: base)
    }

    static func base(name: String = "feeds", sequence: Int64, tree: SHA256Digest, mirror: String? = nil) -> BaseRef {
        BaseRef(name: name, sequence: sequence, manifest: digest("manifest \(sequence)"), tree: tree, mirror: mirror)
    }

    static func entry(_ path: String, _ content: String, mode: UInt32 = 0o644) -> TreeListing.Entry {
        TreeListing.Entry(path: path, mode: mode, size: Int64(content.utf8.count), sha256: digest(content))
    }

    /// The message of the ToolError `body` throws, nil when it returns.
    static func refusal(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let e as ToolError {
            return e.message
        } catch {
            return "not a ToolError: \(error)"
        }
    }

    /// A new empty folder, removed by the caller with `FS.removeTree`.
    static func folder() throws -> String {
        let path = NSTemporaryDirectory() + "highside-" + UUID().uuidString
        try FS.makeDirectories(path)
        return path
    }
}
