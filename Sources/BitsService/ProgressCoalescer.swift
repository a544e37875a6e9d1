import BitsCore

/// Coalesces one job's progress notifications: which files' counters (and which other file
/// properties riding along, such as a response's LastModified) changed since the last
/// progress notification, whether the job's counters did, and when the next notification
/// may go out (at most one per MinimumNotificationInterval, `NotificationThrottle`).
/// Pure state: the queue manager publishes what `take` returns.
struct ProgressCoalescer: Sendable, Equatable {
    private var throttle = NotificationThrottle()
    /// Files whose progress changed since the last notification, with the properties to send.
    private(set) var dirtyFiles: [Int: Set<FileProperty>] = [:]
    /// The job's progress counters changed since the last notification.
    private(set) var countersChanged = false

    /// What to do after a change.
    enum Decision: Equatable {
        /// Publish now (`take`).
        case publishNow
        /// Publish after this many milliseconds (then `flush` and `take`).
        case publishAfter(milliseconds: UInt64)
        /// A publication is already scheduled; it will carry this change.
        case alreadyScheduled
    }

    /// A file's progress counters (and `also`) changed.
    mutating func mark(file index: Int, also: Set<FileProperty> = []) {
        dirtyFiles[index, default: []].formUnion(FileProperty.progress.union(also))
    }

    /// The job's counters changed at `now` (monotonic milliseconds): when to publish.
    mutating func changed(now: UInt64, interval: UInt32) -> Decision {
        countersChanged = true
        switch throttle.changed(now: now, interval: interval) {
        case .some(0): return .publishNow
        case .some(let wait): return .publishAfter(milliseconds: wait)
        case .none: return .alreadyScheduled
        }
    }

    /// The scheduled publication happens now (or one is forced, before a state change).
    mutating func flush(now: UInt64) {
        throttle.flush(now: now)
    }

    /// What to publish, and forgets it: the changed files in index order (the job's counters
    /// go out with them). Nil when nothing changed.
    mutating func take() -> [(index: Int, properties: Set<FileProperty>)]? {
        guard countersChanged || !dirtyFiles.isEmpty else { return nil }
        let files = dirtyFiles.sorted { $0.key < $1.key }.map { (index: $0.key, properties: $0.value) }
        dirtyFiles = [:]
        countersChanged = false
        return files
    }

    /// The pending properties of one file, taken out (they go out with its completion).
    mutating func takeFile(_ index: Int) -> Set<FileProperty> {
        dirtyFiles.removeValue(forKey: index) ?? []
    }
}
