import BitsCore
import BitsStore
import BitsSystem
import Dispatch

/// Owns the writes to the durable queue, on a thread of its own (a serial dispatch queue),
/// never on the queue manager's executor: the queue manager submits each write and carries
/// on; the writer takes every write pending, applies them in ONE transaction (one fsync:
/// group commit) and then tells each submitter, in submission order.
///
/// - Order: writes are applied in the order they were submitted (FIFO), so a later write of
///   a job never lands before an earlier one.
/// - Durability: a submitter is told "done" only once its transaction committed, so a reply
///   sent after that survives a kill -9 or a power loss.
/// - Failures: when a grouped transaction fails, its writes are retried one per transaction,
///   so one write that cannot be stored (too big, a constraint) fails only its own submitter;
///   a full disk fails them all, as it would have each.
///
/// The store (`JobStoring.apply`) is called from the writer's queue only, one batch at a
/// time, which makes it the only thread touching the store's diff bookkeeping.
public final class StoreWriter: @unchecked Sendable {
    /// Called on the writer's queue with nil (stored) or the error.
    public typealias Completion = @Sendable ((any Error)?) -> Void

    private struct Pending {
        let write: StoreWrite
        let completion: Completion?
    }

    public let store: any JobStoring
    private let queue = DispatchQueue(label: "bitsd.store-writer", qos: .userInitiated)
    private let lock = ConditionLock()
    private var pending: [Pending] = []
    private var draining = false
    /// The most writes in one transaction (bounds how long one commit holds the others).
    private let maximumBatch: Int

    public init(store: any JobStoring, maximumBatch: Int = 512) {
        self.store = store
        self.maximumBatch = maximumBatch
    }

    /// Queues `write`; `completion` (if any) runs on the writer's queue once it is on disk or
    /// failed. Never blocks. Writes are applied in the order of the calls to `submit`.
    public func submit(_ write: StoreWrite, completion: Completion? = nil) {
        let start = lock.withLock { () -> Bool in
            pending.append(Pending(write: write, completion: completion))
            guard !draining else { return false }
            draining = true
            return true
        }
        if start { queue.async { self.drain() } }
    }

    /// Queues `write` and waits until it is on disk. Call it directly from the actor whose
    /// order of writes matters: the write is queued before this suspends.
    public func write(_ write: StoreWrite, isolation: isolated (any Actor)? = #isolation) async throws {
        try await withCheckedThrowingContinuation(isolation: isolation) { (continuation: CheckedContinuation<Void, any Error>) in
            submit(write) { error in
                if let error { continuation.resume(throwing: error) } else { continuation.resume() }
            }
        }
    }

    /// Blocks until every write submitted before this call has been applied (or failed).
    public func flush() {
        let done = DispatchSemaphore(value: 0)
        lock.withLock {
            pending.append(Pending(write: .clearPendingTemporaries([]), completion: { _ in done.signal() }))
            if !draining {
                draining = true
                queue.async { self.drain() }
            }
        }
        done.wait()
    }

    private func drain() {
        while true {
            let batch = lock.withLock { () -> [Pending] in
                let taken = Array(pending.prefix(maximumBatch))
                pending.removeFirst(taken.count)
                if taken.isEmpty { draining = false }
                return taken
            }
            guard !batch.isEmpty else { return }
            apply(batch)
        }
    }

    private func apply(_ batch: [Pending]) {
        do {
            try store.apply(batch.map(\.write))
            for item in batch { item.completion?(nil) }
        } catch {
            guard batch.count > 1 else {
                batch[0].completion?(error)
                return
            }
            for item in batch {
                do {
                    try store.apply([item.write])
                    item.completion?(nil)
                } catch {
                    item.completion?(error)
                }
            }
        }
    }
}
