import Support
import SystemIO

/// The mirror folder as only its owner can change it, checked by every command that opens the
/// mirror before anything in it is read or written.
///
/// A folder another account may write lets that account plant a link where the mirror expects
/// its own file or folder (`.lock` pointing at a root-only file, `incoming` at someone's folder)
/// and steer the next run through it. So the root, every folder the mirror keeps in it and the
/// files in the root must be owned by the running user (or root) and writable by their owner
/// only; none of them may be a symbolic link, and `current`, the one intended link, must be one.
/// The folders above the root may be shared only if sticky (`/tmp`): otherwise another account
/// could move the mirror folder aside and put its own in its place. The path given may pass
/// through symbolic links: where the admin keeps the mirror is the admin's choice.
enum MirrorDisk {
    /// Files the mirror keeps in its root.
    static let files = [".lock", "mirror.json", "state.json", "journal.jsonl", "journal.head"]
    /// Folders in the root, and the folder each of their entries must hold.
    static let folders: [(name: String, inner: String?)] = [("versions", "tree"), ("incoming", "bundle"), ("policies", nil), ("staging", nil)]

    static func check(_ root: String) throws {
        let dir = try Directory(root)
        try requireOwn(dir.status(), root, "folder")
        try checkAbove(root)
        for name in files {
            if let info = try dir.info(name) { try requireOwn(info, root + "/" + name, "file") }
        }
        if let info = try dir.info("current"), info.kind != .symlink {
            throw ToolError.environment("\(root)/current is not a symbolic link; the mirror keeps it as a link to versions/<id>/tree")
        }
        for (name, inner) in folders {
            // staging/ is the running command's own, emptied by every change before it is used.
            guard let folder = try folder(name, in: dir), name != "staging" else { continue }
            for entry in try folder.list() {
                let sub = try self.folder(entry, in: folder)
                if let sub, let inner { _ = try self.folder(inner, in: sub) }
            }
        }
    }

    /// The folder `name` in `parent`, checked and opened; nil when there is none.
    private static func folder(_ name: String, in parent: Directory) throws -> Directory? {
        guard let info = try parent.info(name) else { return nil }
        try requireOwn(info, parent.path + "/" + name, "folder")
        let folder = try parent.directory(name)
        // What was opened, in case the name was replaced after it was inspected.
        try requireOwn(folder.status(), folder.path, "folder")
        return folder
    }

    /// Refuses a link, a thing of the wrong kind, or one another account could write.
    static func requireOwn(_ info: FileInfo, _ path: String, _ what: String) throws {
        guard info.kind != .symlink else {
            throw ToolError.environment("\(path) is a symbolic link where the mirror keeps its own \(what); nothing was changed: remove it")
        }
        guard info.kind == (what == "file" ? .regular : .directory) else {
            throw ToolError.environment("\(path) is not a \(what == "file" ? "plain file" : "folder"), where the mirror keeps its own \(what); nothing was changed")
        }
        let me = CurrentProcess.effectiveUser
        guard info.owner == me || info.owner == 0, !info.isWritableByOthers else {
            throw ToolError.environment("mirror \(what) \(path) is writable by others (owner uid \(info.owner), mode \(String(info.mode, radix: 8))): "
                + "nothing was changed; make it owned by uid \(me) and writable by its owner only (chmod go-w)")
        }
    }

    /// Every folder above the root: owned by the running user or root, and writable by others
    /// only if sticky (then only an entry's owner may move it).
    private static func checkAbove(_ root: String) throws {
        var path = try FS.resolve(root)
        let me = CurrentProcess.effectiveUser
        while path != "/" {
            path = FS.parent(of: path)
            guard let info = try FS.info(path) else { continue }
            if info.owner != me && info.owner != 0 || info.isWritableByOthers && info.mode & 0o1000 == 0 {
                throw ToolError.environment("folder \(path), above the mirror \(root), is writable by others (owner uid \(info.owner), mode \(String(info.mode, radix: 8))): "
                    + "another account could replace the mirror folder; nothing was changed")
            }
        }
    }
}
