import Glibc

/// A joinable POSIX thread running one closure (the transfer engine's loop, a local copy).
public final class JoinableThread {
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    private var thread = pthread_t()
    private var joined = false

    /// Starts the thread, named `name` (at most 15 bytes are kept); nil when pthread_create
    /// fails.
    public init?(name: String, _ run: @escaping () -> Void) {
        let threadName = String(name.utf8.prefix(15))!
        let body = Unmanaged.passRetained(Body {
            Self.nameCurrentThread(threadName)
            run()
        }).toOpaque()
        let rc = pthread_create(&thread, nil, { context in
            Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, body)
        guard rc == 0 else {
            Unmanaged<Body>.fromOpaque(body).release()
            return nil
        }
    }

    /// Names the calling thread (shown by top -H, gdb) through /proc; best effort.
    private static func nameCurrentThread(_ name: String) {
        guard let comm = try? FileDescriptor.open("/proc/thread-self/comm", .writeOnly) else { return }
        try? comm.writeAll(Array(name.utf8))
    }

    /// Waits for the thread to end. Call once, from another thread.
    public func join() {
        guard !joined else { return }
        joined = true
        pthread_join(thread, nil)
    }

    /// Lets the thread's resources go when it ends, for threads nobody joins.
    public func detach() {
        guard !joined else { return }
        joined = true
        pthread_detach(thread)
    }
}

/// A pthread mutex and condition for the few fields shared between callers and engine threads.
public final class ConditionLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits until `ready` returns true, then runs `body`, all holding the lock; wakes on
    /// `signal()` and `broadcast()`.
    public func withLock<T>(waitingUntil ready: () -> Bool, _ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !ready() { pthread_cond_wait(condition, mutex) }
        return try body()
    }

    /// Waits (holding the lock) until `done` returns true; wakes on `broadcast()`.
    public func wait(until done: () -> Bool) {
        pthread_mutex_lock(mutex)
        while !done() { pthread_cond_wait(condition, mutex) }
        pthread_mutex_unlock(mutex)
    }

    /// Wakes `wait(until:)` callers; call after changing the state they check (under the lock).
    public func broadcast() { pthread_cond_broadcast(condition) }

    /// Wakes one waiter; call after changing the state it checks (under the lock).
    public func signal() { pthread_cond_signal(condition) }
}

/// A Boolean of each thread (a pthread key): false on every thread until it sets its own.
public final class ThreadFlag: @unchecked Sendable {
    private var key = pthread_key_t()

    public init() {
        // Fails only when the process ran out of keys (PTHREAD_KEYS_MAX, 1024): a bug.
        precondition(pthread_key_create(&key, nil) == 0, "out of pthread keys")
    }

    /// The calling thread's value.
    public var isSet: Bool { pthread_getspecific(key) != nil }

    /// Sets the calling thread's value.
    public func set(_ value: Bool) {
        pthread_setspecific(key, value ? UnsafeRawPointer(bitPattern: 1) : nil)
    }
}
