import BitsSystem
import Dispatch

/// Makes finished files durable in the background without one journal commit per file.
///
/// Each finished file has its writeback started at once (`sync_file_range`, no waiting) and
/// is fsynced only once `window` newer files have been handed in, or when `waitForPending`
/// (Complete) asks. By then its data is on its way or on disk, and one journal commit covers
/// the allocations of every file started since, so most fsyncs have nothing left to commit.
/// An fsync per file as it finishes forced a commit each time instead: on ext4 with a journal
/// Complete of 200 small files waited 110–140 ms for them (15–35 ms for all of Complete now).
/// A file-system-wide `syncfs` would also flush every other program's dirty data.
///
/// Once no file has been handed in for `idleDrain`, the waiting ones are fsynced too, so a
/// quiet daemon holds no descriptors (a cancelled job's deleted temporaries keep their space
/// only while the next files finish, or that long).
///
/// A failed fsync (EIO from a failing disk, ENOSPC, EDQUOT) is kept under the file's tag
/// until `takeFailures` collects it: the kernel reports such an error only once, so this is
/// the one chance to keep a file that may have lost data from being published.
public final class FileFlusher: @unchecked Sendable {
    /// Makes one file durable (`fsync` itself, unless a test injects failures). The
    /// descriptor is borrowed: the flusher closes it.
    public typealias Sync = @Sendable (BorrowedDescriptor) throws(SystemError) -> Void
    /// How many files may wait for their fsync; each holds a duplicate descriptor.
    public let window: Int
    private let idleDrain: DispatchTimeInterval
    private let queue = DispatchQueue(label: "bitsd.flush", qos: .utility)
    private let sync: Sync
    /// The files whose writeback was started, oldest first, each a duplicate of its
    /// descriptor (closed when dropped from here, after its fsync) and its tag (queue only).
    private var started: [SharedDescriptor<String>] = []
    /// errno of each failed fsync by tag, until taken (under `failureLock`: written on the
    /// queue, taken from anywhere without waiting for it).
    private var failures: [String: Int32] = [:]
    private let failureLock = ConditionLock()
    /// Told (on the queue) that `failures` has new entries.
    private var failureHandler: (@Sendable () -> Void)?
    /// Counts files handed in (queue only): an idle drain finds it unchanged.
    private var handedIn = 0

    public init(window: Int = 16, idleDrain: DispatchTimeInterval = .seconds(1), sync: @escaping Sync = { fd throws(SystemError) in try fd.sync() }) {
        self.window = max(0, window)
        self.idleDrain = idleDrain
        self.sync = sync
    }

    /// Starts writing back the file behind `descriptor` and schedules its fsync (a duplicate
    /// descriptor is kept until then), first setting its modification (and access) time to
    /// `modified` when given: on this queue, since any of these calls can block on the file's
    /// file system. `tag` names the file in `takeFailures`. The caller keeps `descriptor`
    /// (borrowed here) and may close it at once.
    ///
    /// Nothing here blocks the caller: when no duplicate can be made (EMFILE: the descriptor
    /// limit), the file is not fsynced on the caller's thread but fails as an fsync would
    /// (`takeFailures` has its errno), so it is never published as durable. `flush(adopting:)`
    /// needs no duplicate.
    public func flush(_ descriptor: Int32, tag: String, modified: FileTime? = nil) {
        let duplicate: FileDescriptor
        do throws(SystemError) {
            duplicate = try BorrowedDescriptor(descriptor).duplicate()
        } catch {
            let code = error.code
            queue.async {
                self.failureLock.withLock { self.failures[tag] = code }
                self.failureHandler?()
            }
            return
        }
        schedule(SharedDescriptor(duplicate, tag), modified: modified)
    }

    /// Like `flush(_:tag:modified:)` for a descriptor the flusher takes over: it is closed
    /// on this queue after its fsync, never on the caller's thread (closing a file on NFS or
    /// FUSE can block), and no duplicate is needed.
    public func flush(adopting descriptor: consuming FileDescriptor, tag: String, modified: FileTime? = nil) {
        schedule(SharedDescriptor(descriptor, tag), modified: modified)
    }

    private func schedule(_ file: SharedDescriptor<String>, modified: FileTime?) {
        queue.async {
            if let modified {
                try? file.descriptor.setTimes(seconds: modified.seconds, nanoseconds: modified.nanoseconds)
            }
            try? file.descriptor.startWriteback()
            self.started.append(file)
            self.drain(keeping: self.window)
            self.handedIn += 1
            let mark = self.handedIn
            self.queue.asyncAfter(deadline: .now() + self.idleDrain) {
                if self.handedIn == mark { self.drain(keeping: 0) }
            }
        }
    }

    /// Waits until every file handed in so far is fsynced.
    public func waitForPending() {
        queue.sync { drain(keeping: 0) }
    }

    /// Sets what is called (on the flusher's queue) after an fsync failed, typically to
    /// collect the failures with `takeFailures` from elsewhere.
    public func onFailure(_ handler: @escaping @Sendable () -> Void) {
        queue.async { self.failureHandler = handler }
    }

    /// Removes and returns the failed fsyncs (errno by tag) whose tags start with `prefix`,
    /// after the fsyncs queued so far ran.
    public func takeFailures(prefix: String) -> [String: Int32] {
        queue.sync { removeFailures(prefix: prefix) }
    }

    /// Removes and returns the failures recorded so far whose tags start with `prefix`, at
    /// once: never waits for the flusher's queue (an actor calls it; after `waitForPending`
    /// the failures of every file handed in are recorded).
    public func takeRecordedFailures(prefix: String) -> [String: Int32] {
        removeFailures(prefix: prefix)
    }

    private func removeFailures(prefix: String) -> [String: Int32] {
        failureLock.withLock {
            let taken = failures.filter { $0.key.hasPrefix(prefix) }
            for tag in taken.keys { failures[tag] = nil }
            return taken
        }
    }

    /// Drops the failures whose tags start with `prefix`, once the fsyncs queued so far ran
    /// (a cancelled job's), without waiting for them.
    public func discardFailures(prefix: String) {
        queue.async { _ = self.removeFailures(prefix: prefix) }
    }

    /// Files handed in whose fsync is still to come (after the ones queued so far ran).
    public var pendingCount: Int { queue.sync { started.count } }

    /// Fsyncs and closes all but the newest `keeping` waiting files (queue only).
    private func drain(keeping: Int) {
        let excess = started.count - keeping
        guard excess > 0 else { return }
        var failed = false
        for file in started.prefix(excess) {
            do throws(SystemError) {
                try sync(file.descriptor.borrowed)
            } catch {
                let code = error.code
                failureLock.withLock { failures[file.info] = code }
                failed = true
            }
        }
        started.removeFirst(excess)  // closes their descriptors
        if failed { failureHandler?() }
    }
}
