import BitsTransfer

/// One job's requests to the transfer engine: the one in flight, the files queued behind it
/// (started by the engine the moment the one before ends, `QueueManager.filesQueuedAhead`),
/// the ones told to stop whose end has not arrived yet (they may still write), and since when
/// the job runs (time slices among equal background jobs). Pure bookkeeping: the queue
/// manager makes the engine calls these transitions return.
struct EngineRequests: Sendable, Equatable {
    private(set) var current: TransferID?
    private(set) var queued: [TransferID] = []
    private(set) var stopping: Set<TransferID> = []
    private(set) var runningSince: ContinuousClock.Instant?

    /// Nothing in flight and nothing still stopping: the job may start a transfer.
    var isIdle: Bool { current == nil && stopping.isEmpty }
    var isRunning: Bool { current != nil }
    /// The request after which the next file is queued.
    var last: TransferID? { queued.last ?? current }

    /// Whether `id` is the job's current or a queued request (limits apply to those).
    func isLive(_ id: TransferID) -> Bool { current == id || queued.contains(id) }

    /// Whether a running job's time slice is over at `now`.
    func sliceExpired(now: ContinuousClock.Instant, slice: Duration) -> Bool {
        isRunning && (runningSince.map { $0.duration(to: now) >= slice } ?? false)
    }

    /// A request became the current one at `now`. True when this begins a running stretch
    /// (a background job's time slice starts).
    mutating func started(_ id: TransferID, now: ContinuousClock.Instant) -> Bool {
        current = id
        guard runningSince == nil else { return false }
        runningSince = now
        return true
    }

    /// A request queued behind the last one.
    mutating func queue(_ id: TransferID) { queued.append(id) }

    /// Drops the queued requests (the job changed): returns them, to cancel.
    mutating func discardQueued() -> [TransferID] {
        let discarded = queued
        queued = []
        stopping.formUnion(discarded)
        return discarded
    }

    /// Stops the current request (the queued ones are discarded first): returns it, to cancel.
    mutating func stopCurrent() -> TransferID? {
        runningSince = nil
        guard let id = current else { return nil }
        current = nil
        stopping.insert(id)
        return id
    }

    /// The end of request `id` arrived: whether it was the current one (no request is
    /// current then).
    mutating func ended(_ id: TransferID) -> Bool {
        stopping.remove(id)
        guard current == id else { return false }
        current = nil
        return true
    }

    /// The running stretch is over (a failure, the end of an upload run).
    mutating func stoppedRunning() { runningSince = nil }

    /// The current request finished and the engine started the first queued one, which is
    /// current now (returned; nil when none was queued).
    mutating func promoteQueued() -> TransferID? {
        guard !queued.isEmpty else { return nil }
        current = queued.removeFirst()
        return current
    }
}
