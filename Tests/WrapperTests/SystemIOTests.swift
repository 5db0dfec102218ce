import Foundation
import Support
import SystemIO
import Testing

/// A fresh folder under the temporary directory, removed by the caller.
private func scratch() throws -> String {
    let dir = FileManager.default.temporaryDirectory.path + "/systemio-\(UUID().uuidString)"
    try FS.makeDirectories(dir)
    return dir
}

@Suite("SystemIO: owned descriptors, locks, positional I/O, errors with a cause")
struct SystemIOTests {
    @Test("a lock excludes a second descriptor until its owner is gone")
    func lockExclusion() throws {
        let dir = try scratch()
        defer { try? FS.removeTree(dir) }
        var first = try FileLock.acquire(dir + "/x.lock")
        #expect(first != nil)
        #expect(try FileLock.acquire(dir + "/x.lock") == nil)
        first?.record("4242\n")
        #expect(try FS.readFile(dir + "/x.lock") == Array("4242\n".utf8))
        first = nil
        #expect(try FileLock.acquire(dir + "/x.lock") != nil)
    }

    @Test("exchange swaps two folders in one step; a missing name is an error with its cause")
    func exchange() throws {
        let dir = try scratch()
        defer { try? FS.removeTree(dir) }
        try FS.makeDirectory(dir + "/a")
        try FS.makeDirectory(dir + "/b")
        try FS.writeAtomically(dir + "/a/x", Array("a".utf8))
        try FS.writeAtomically(dir + "/b/y", Array("b".utf8))
        // ext4, xfs, btrfs and tmpfs exchange; a file system that cannot would return false.
        #expect(try FS.exchange(dir + "/a", dir + "/b"))
        #expect(try FS.list(dir + "/a") == ["y"] && FS.list(dir + "/b") == ["x"])
        let e = try #require(throws: ToolError.self) { _ = try FS.exchange(dir + "/a", dir + "/missing") }
        #expect(e.cause == .noSuchFile, "\(e.message)")
    }

    @Test("positional reads and writes leave the file position alone")
    func positionalIO() throws {
        let dir = try scratch()
        defer { try? FS.removeTree(dir) }
        let fd = try FileDescriptor.open(dir + "/f", .readWrite, options: [.create, .exclusive])
        try fd.write(Array("0123456789".utf8))
        try Array("AB".utf8).withUnsafeBytes { try fd.write($0, toOffset: 4) }
        try Array("Z".utf8).withUnsafeBytes { try fd.write($0, toOffset: 12) }
        var got = [UInt8](repeating: 0, count: 6)
        let n = try got.withUnsafeMutableBytes { try fd.readFully(into: $0, fromOffset: 2) }
        #expect(n == 6)
        #expect(String(decoding: got, as: UTF8.self) == "23AB67")
        // Past the end: only what is there.
        let tail = try got.withUnsafeMutableBytes { try fd.readFully(into: $0, fromOffset: 11) }
        #expect(tail == 2)
        #expect(try fd.size() == 13)
        // The ordinary write above left the position at 10; positional calls did not move it.
        try fd.write(Array("!".utf8))
        try fd.close()
        #expect(try FS.readFile(dir + "/f") == Array("0123AB6789!\0Z".utf8))
    }

    @Test("a failed open carries its errno; the message is the one users always saw")
    func errnoCause() throws {
        let path = "/nonexistent-\(UUID().uuidString)/f"
        do {
            _ = try FileDescriptor.open(path)
            Issue.record("opened \(path)")
        } catch let e as ToolError {
            #expect(e.status == .environment)
            #expect(e.errno == .noSuchFile)
            #expect(e.errno != .fileTooLarge)
            #expect(e.message == "cannot open '\(path)': No such file or directory")
            // Text added for a person keeps the cause for code.
            #expect(e.appending(" (hint)").errno == .noSuchFile)
        }
    }

    @Test("creating an existing file is refused with EEXIST")
    func createExclusive() throws {
        let dir = try scratch()
        defer { try? FS.removeTree(dir) }
        try FileDescriptor.create(dir + "/f").close()
        #expect { try FileDescriptor.create(dir + "/f") } throws: { ($0 as? ToolError)?.errno == .exists }
    }

    @Test("no space left is said in words, with ENOSPC as the cause")
    func noSpaceWording() {
        let e = systemError("write", "/x", errno: Errno.noSpace.rawValue)
        #expect(e.message == "cannot write '/x': no space left on device")
        #expect(e.errno == .noSpace)
    }

    @Test("preallocate, truncate and data sync set the size")
    func sizes() throws {
        let dir = try scratch()
        defer { try? FS.removeTree(dir) }
        let fd = try FileDescriptor.open(dir + "/f", .readWrite, options: .create)
        try fd.preallocate(1 << 20)
        #expect(try fd.size() == 1 << 20)
        try fd.truncate(to: 10)
        try fd.syncData()
        #expect(try fd.size() == 10)
    }

    @Test("direct I/O files are created where the file system takes them, or nil")
    func directIO() throws {
        let dir = try scratch()
        defer { try? FS.removeTree(dir) }
        guard let fd = try FileDescriptor.createDirect(dir + "/d") else { return }  // tmpfs: no O_DIRECT
        let buffer = Memory.allocateIOBuffer(byteCount: 4096)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 7)
        try fd.write(UnsafeRawBufferPointer(buffer))
        try fd.setDirectIO(false)
        try fd.write([1, 2, 3])
        try fd.close()
        #expect(try FS.info(dir + "/d")?.size == 4099)
        #expect { try FileDescriptor.createDirect(dir + "/d") } throws: { ($0 as? ToolError)?.errno == .exists }
    }

    @Test("a directory handle creates, opens and hard-links by name")
    func directoryCalls() throws {
        let dir = try scratch()
        defer { try? FS.removeTree(dir) }
        let root = try Directory(dir)
        try root.makeDirectory("a")
        try root.makeDirectory("a")  // exists: fine, as with FS.makeDirectory
        try root.makeDirectory("b")
        let a = try root.directory("a"), b = try root.directory("b")
        let fd = try a.open("f", .writeOnly, options: [.create, .exclusive], mode: 0o600)
        try fd.write(Array("x".utf8))
        try fd.close()
        try a.link("f", into: b, as: "g")
        try b.sync()
        #expect(try FS.info(dir + "/b/g")?.links == 2)
        #expect(try FS.info(dir + "/a/f")?.mode == 0o600)
        #expect { try a.link("f", into: b, as: "g") } throws: {
            ($0 as? ToolError)?.message == "cannot hard-link '\(dir)/a/f' as '\(dir)/b/g': File exists"
        }
    }

    @Test("a directory handle never follows a link below it: open, lock, folder, listing and removal")
    func directoryRefusesLinks() throws {
        let dir = try scratch()
        defer { try? FS.removeTree(dir) }
        try FS.makeDirectory(dir + "/outside")
        try FS.writeAtomically(dir + "/outside/secret", Array("keep".utf8))
        try FS.symlink(target: dir + "/outside/secret", at: dir + "/file-link")
        try FS.symlink(target: dir + "/outside", at: dir + "/folder-link")
        let root = try Directory(dir)
        #expect(try root.info("file-link")?.kind == .symlink)
        #expect(try root.info("missing") == nil)
        #expect(try root.readLink("folder-link") == dir + "/outside")
        #expect(try root.readLink("outside") == nil)
        #expect(throws: ToolError.self) { try root.open("file-link", .readWrite, options: .create) }
        #expect(throws: ToolError.self) { try FileLock.acquire("file-link", in: root) }
        #expect(throws: ToolError.self) { try FileLock.acquire(dir + "/file-link") }
        #expect(throws: ToolError.self) { try root.directory("folder-link") }
        #expect(throws: ToolError.self) { try FS.readFile(dir + "/file-link", followingLinks: false) }
        #expect(try FS.readFile(dir + "/file-link") == Array("keep".utf8))
        // Removing a link removes the link, never what it points at.
        try root.removeTree("folder-link")
        try root.removeTree("file-link")
        #expect(try root.list() == ["outside"])
        #expect(try FS.readFile(dir + "/outside/secret") == Array("keep".utf8))
    }

    @Test("folders get exactly the mode asked for, whatever the umask", arguments: [0o077, 0o000] as [UInt32])
    func exactFolderModes(_ mask: UInt32) throws {
        let dir = try scratch()
        defer { try? FS.removeTree(dir) }
        let old = umask(mode_t(mask))
        defer { umask(old) }
        try FS.makeDirectory(dir + "/a", mode: 0o755)
        try Directory(dir).makeDirectory("b", mode: 0o750)
        #expect(try FS.info(dir + "/a")?.mode == 0o755)
        #expect(try FS.info(dir + "/b")?.mode == 0o750)
        #expect(try Directory(dir + "/a").status().owner == getuid())
    }

    @Test("a file swapped after it was opened is not linked; the one opened is")
    func linkOnlyTheOpenedFile() throws {
        let dir = try scratch()
        defer { try? FS.removeTree(dir) }
        try FS.writeAtomically(dir + "/f", Array("checked".utf8))
        try FS.writeAtomically(dir + "/other", Array("swapped in".utf8))
        let opened = try FileDescriptor.open(dir + "/f", options: .noFollow)
        #expect(try FS.link(opened, named: dir + "/f", as: dir + "/shared"))
        #expect(try FS.info(dir + "/shared")?.isSameFile(as: opened.status()) == true)
        try FS.rename(dir + "/other", dir + "/f")
        #expect(try !FS.link(opened, named: dir + "/f", as: dir + "/again"))
        #expect(try FS.info(dir + "/again") == nil)
    }

    @Test("threads hand work over under a condition")
    func conditionAndThreads() throws {
        final class Box: @unchecked Sendable { var items: [Int] = []; var done = false }
        let box = Box(), condition = Condition()
        let consumer = try JoinableThread("a test thread") {
            condition.locked {
                while !box.done { condition.wait() }
            }
        }
        for i in 0..<100 { condition.locked { box.items.append(i); condition.broadcast() } }
        condition.locked { box.done = true; condition.broadcast() }
        consumer.join()
        consumer.join()
        #expect(box.items == Array(0..<100))
    }

    @Test("background work runs while the caller goes on, and its value is the work's")
    func backgroundValue() {
        // The work waits for the caller's signal: it can only finish if it runs on another thread.
        final class Gate: @unchecked Sendable { var open = false }
        let gate = Gate(), condition = Condition()
        let pending = Background("a test thread") { () -> [Int] in
            condition.locked { while !gate.open { condition.wait() } }
            return Array(0..<1000).map { $0 * 2 }
        }
        condition.locked { gate.open = true; condition.broadcast() }
        #expect(pending.value() == Array(0..<1000).map { $0 * 2 })
        #expect(pending.value().count == 1000)
    }

    @Test("work shared out over threads: results by index; the lowest failing index's error, and no new work after it")
    func concurrentWork() throws {
        #expect(try concurrentMap(1000, workers: 4, what: "a test thread") { $0 * $0 } == (0..<1000).map { $0 * $0 })
        #expect(try concurrentMap(0, workers: 4, what: "a test thread") { $0 }.isEmpty)
        struct Failed: Error, Equatable { var index: Int }
        final class Count: @unchecked Sendable { let lock = Mutex(); var started = 0 }
        let count = Count()
        #expect(throws: Failed(index: 3)) {
            try concurrentForEach(10_000, workers: 2, what: "a test thread") { i in
                count.lock.locked { count.started += 1 }
                if i == 3 || i == 7 { throw Failed(index: i) }
            }
        }
        // Each of the two threads may have taken a few more before the failure was recorded.
        #expect(count.started < 100, "\(count.started) started")
    }

    @Test("background work dropped unread is still waited for")
    func backgroundDropped() {
        final class Done: @unchecked Sendable { var done = false }
        let done = Done()
        do {
            _ = Background("a test thread") { () -> Int in
                Thread.sleep(forTimeInterval: 0.2)
                done.done = true
                return 1
            }
        }
        #expect(done.done)
    }
}

@Suite("Timestamp without libc")
struct TimestampTests {
    @Test("matches Foundation's ISO 8601 text for epochs across four centuries")
    func againstFoundation() {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        var state: UInt64 = 0x9E3779B97F4A7C15
        var epochs: [Int64] = [0, -1, 86399, 86400, 951782400, 951868800, 4102444800, -2208988800, 253402300799]
        for _ in 0..<2000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            epochs.append(Int64(state >> 30) % 12_000_000_000 - 2_000_000_000)
        }
        for e in epochs {
            let text = Timestamp.format(e)
            #expect(text == formatter.string(from: Date(timeIntervalSince1970: TimeInterval(e))), "epoch \(e)")
            #expect(Timestamp.parse(text) == e, "round trip of \(text)")
        }
    }

    @Test("dates that do not exist are refused", arguments: [
        "2026-02-29T00:00:00Z", "2026-02-31T00:00:00Z", "2026-04-31T12:00:00Z", "2026-12-31T23:59:60Z",
        "2026-13-01T00:00:00Z", "2026-06-01T24:00:00Z", "2026-06-01 00:00:00", "26-06-01T00:00:00Z",
    ])
    func refused(_ text: String) {
        #expect(Timestamp.parse(text) == nil)
    }

    @Test("accepted spellings")
    func accepted() {
        #expect(Timestamp.parse("2024-02-29T00:00:00Z") == 1709164800)
        #expect(Timestamp.parse("2026-06-01T00:00:00+00:00") == Timestamp.parse("2026-06-01T00:00:00Z"))
        #expect(Timestamp.parse(" 2026-06-01T00:00:00.123Z ") == 1780272000)
        // A leap second inside a day counts on into the next minute, as timegm does.
        let leap: Int64 = 1780272000 + 12 * 3600 + 60
        #expect(Timestamp.parse("2026-06-01T12:00:60Z") == leap)
        #expect(Timestamp.now() > 1780000000 - 400 * 86400)
    }
}
