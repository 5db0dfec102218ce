import Support
#if canImport(Glibc)
import Glibc
#endif

/// A plain pthread mutex; enough for progress counters shared by a few threads.
public final class Mutex: @unchecked Sendable {
    private let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    public init() { pthread_mutex_init(m, nil) }
    deinit { pthread_mutex_destroy(m); m.deallocate() }
    public func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(m)
        defer { pthread_mutex_unlock(m) }
        return try body()
    }
}

/// A mutex with one condition variable: `locked` runs a body under the mutex; inside it,
/// `wait()` sleeps until another thread calls `broadcast()`.
/// The corresponding C functions are `pthread_mutex_lock` and `pthread_cond_wait`.
public final class Condition: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(changed, nil)
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        changed.deallocate()
        mutex.deallocate()
    }

    public func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Sleeps until a broadcast; call only inside `locked`, and test the awaited state again after.
    public func wait() { pthread_cond_wait(changed, mutex) }

    /// Wakes every waiting thread; call inside `locked`, after changing the awaited state.
    public func broadcast() { pthread_cond_broadcast(changed) }
}

/// A joinable POSIX thread running one closure. The corresponding C function is `pthread_create`.
public final class JoinableThread {
    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    private var handle = pthread_t()
    private var joined = false

    /// Starts `body`; `what` names the thread in the error ("a hashing thread").
    public init(_ what: String, _ body: @escaping @Sendable () -> Void) throws {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let r = pthread_create(&handle, nil, { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, box)
        guard r == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            throw ToolError(.environment, "cannot start \(what): \(errnoText(r))", cause: Errno(rawValue: r))
        }
    }

    /// Waits for the closure to return; later calls return at once.
    public func join() {
        guard !joined else { return }
        joined = true
        pthread_join(handle, nil)
    }
}

/// A value worked out on a thread of its own while the caller goes on: `value()` waits for it.
/// When no thread can be started, the work runs in `value()` instead: later, never lost. One
/// dropped unread still has its thread joined, so none outlives what it reads.
public final class Background<T>: @unchecked Sendable {
    /// Where the thread leaves the result: the thread holds this, never the `Background`, so
    /// the owner's release is what ends it (joining there), not the thread's.
    private final class Slot: @unchecked Sendable { var value: T? }
    private let slot = Slot()
    private let work: () -> T
    private var thread: JoinableThread?

    /// Starts `work`; `what` names the thread ("the change report").
    public init(_ what: String, _ work: @escaping @Sendable () -> T) {
        self.work = work
        thread = try? JoinableThread(what) { [slot] in slot.value = work() }
    }

    /// The work's result, once it is done (joining the thread makes its writes visible here).
    public func value() -> T {
        thread?.join()
        if let v = slot.value { return v }
        let v = work()
        slot.value = v
        return v
    }

    deinit { thread?.join() }
}

/// Runs `body(i)` for every i in 0..<count on up to `workers` threads, this one among them, each
/// taking the next index as soon as it is free, so the order work starts in is the order of the
/// indices. Once one call throws, no further index is taken; when all have stopped, the error
/// of the lowest index is rethrown. A thread that cannot be started leaves its share to the rest.
public func concurrentForEach(_ count: Int, workers: Int, what: String, _ body: @escaping @Sendable (Int) throws -> Void) throws {
    let queue = IndexQueue(count)
    let run: @Sendable () -> Void = {
        while let i = queue.next() {
            do { try body(i) } catch { queue.fail(i, error) }
        }
    }
    let threads = (1..<max(1, min(workers, count))).compactMap { _ in try? JoinableThread(what, run) }
    run()
    for t in threads { t.join() }
    if let e = queue.error { throw e }
}

/// `concurrentForEach` that keeps what each call returns: `[body(0), body(1), ...]`.
public func concurrentMap<T>(_ count: Int, workers: Int, what: String, _ body: @escaping @Sendable (Int) throws -> T) throws -> [T] {
    let slots = Slots<T>(count)
    try concurrentForEach(count, workers: workers, what: what) { i in slots.store(i, try body(i)) }
    return slots.all
}

/// One result per index, each stored once by the thread that made it.
private final class Slots<T>: @unchecked Sendable {
    private let lock = Mutex()
    private var values: [T?]
    init(_ count: Int) { values = Array(repeating: nil, count: count) }
    func store(_ i: Int, _ v: T) { lock.locked { values[i] = v } }
    /// Only once every index has been stored (`concurrentForEach` returned without error).
    var all: [T] { lock.locked { values.map { $0! } } }
}

/// The next index to work on, and the first failure, under one lock.
private final class IndexQueue: @unchecked Sendable {
    private let lock = Mutex()
    private let count: Int
    private var taken = 0
    private var failure: (index: Int, error: Error)?
    init(_ count: Int) { self.count = count }

    func next() -> Int? {
        lock.locked {
            guard failure == nil, taken < count else { return nil }
            taken += 1
            return taken - 1
        }
    }

    func fail(_ i: Int, _ e: Error) {
        lock.locked { if failure.map({ i < $0.index }) ?? true { failure = (i, e) } }
    }

    var error: Error? { lock.locked { failure?.error } }
}
