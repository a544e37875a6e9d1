import BitsSystem

/// A few threads for the blocking file work of jobs: opening, creating, renaming, reading and
/// deleting users' files as their owners (`OwnerFiles`). The queue manager hands such work
/// here and awaits it, so a slow or hung file system (NFS, a user's FUSE mount) delays only
/// the job that needs it, never the queue manager's executor and with it every other call.
///
/// Each thread has a file-system context of its own (`unshare(CLONE_FS)`), so it can take on
/// a job owner's umask while it creates that owner's files (`creatingFiles(umask:)`) without
/// changing the daemon's.
public final class FileWorkers: @unchecked Sendable {
    private let condition = ConditionLock()
    private var queue: [() -> Void] = []
    private var head = 0

    /// Starts `threads` worker threads; they live as long as the process.
    public init(threads: Int = 4) {
        for index in 0..<threads {
            let name = "bits-files-\(index)"
            guard let thread = JoinableThread(name: name, { [self] in serve() }) else {
                fatalError("cannot start the file worker thread \(name): out of threads")
            }
            thread.detach()
        }
    }

    /// Runs `body` on a worker thread and returns its result.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            enqueue { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Runs `body` on a worker thread, not throwing.
    public func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            enqueue { continuation.resume(returning: body()) }
        }
    }

    /// Runs `work` on a worker thread without waiting for it (closing descriptors).
    public func submit(_ work: @escaping @Sendable () -> Void) { enqueue(work) }

    private func enqueue(_ work: @escaping () -> Void) {
        condition.withLock {
            queue.append(work)
            condition.signal()
        }
    }

    private func serve() {
        Self.ownFileSystemContext.set((try? ThreadIdentity.unshareFileSystemContext()) != nil)
        while true {
            let work = condition.withLock(waitingUntil: { head < queue.count }) {
                let work = queue[head]
                head += 1
                if head == queue.count {
                    queue.removeAll(keepingCapacity: true)
                    head = 0
                }
                return work
            }
            work()
        }
    }

    /// Whether the calling thread is a worker with a file-system context of its own.
    private static let ownFileSystemContext = ThreadFlag()

    /// Runs `create` (an open with O_CREAT) under `umask`, as the owner's own process would
    /// have created the file: 0666 less the umask, or as the directory's default ACL says.
    /// On a thread that is not a worker the process-wide umask must not change; the daemon's
    /// own umask applies there (the queue manager creates files on workers only).
    static func creatingFiles<T: ~Copyable>(umask mask: UInt32, _ create: () throws(SystemError) -> T) throws(SystemError) -> T {
        guard ownFileSystemContext.isSet else { return try create() }
        let previous = ThreadIdentity.exchangeUmask(mask & 0o777)
        defer { _ = ThreadIdentity.exchangeUmask(previous) }
        return try create()
    }
}
