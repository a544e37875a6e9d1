/// Coalescing of progress notifications: at most one per interval per job. Pure timing logic
/// on a monotonic clock in milliseconds.
public struct NotificationThrottle: Sendable, Equatable {
    /// When the last notification went out; nil if none yet.
    public private(set) var lastSent: UInt64?
    /// A notification is waiting for its slot.
    public private(set) var pending = false

    public init() {}

    /// A change happened at `now`. Returns 0 to send at once, or the milliseconds to wait
    /// before sending (then the caller schedules `flush`); nil when a send is already pending.
    public mutating func changed(now: UInt64, interval: UInt32) -> UInt64? {
        if pending { return nil }
        guard let last = lastSent, now < last &+ UInt64(interval) else {
            lastSent = now
            return 0
        }
        pending = true
        return last &+ UInt64(interval) - now
    }

    /// The scheduled send happens now.
    public mutating func flush(now: UInt64) {
        pending = false
        lastSent = now
    }
}
