/// Holds a transfer to its receive-rate cap with a token bucket (a quarter second of burst).
///
/// curl's own CURLOPT_MAX_RECV_SPEED_LARGE is set too, but is not enough: libcurl 7.88 reads up
/// to 100 buffers per wakeup while the socket stays readable, so a sender faster than the disk
/// is not held to the cap. The engine pauses the transfer (CURL_WRITEFUNC_PAUSE) until `admit`
/// allows the data, which also lets TCP flow control slow the sender.
struct RatePacer {
    /// Bytes per second, > 0.
    private(set) var cap: UInt64
    private var start: UInt64 = 0
    private var accepted: UInt64 = 0

    init(cap: UInt64) { self.cap = cap }

    /// A pacer that starts at `now` with an empty bucket: no burst, the cap applies at once
    /// (for a cap set on a transfer that is already running).
    init(cap: UInt64, emptyAt now: UInt64) {
        self.cap = cap
        start = now
        accepted = burst
    }

    var burst: UInt64 { max(cap / 4, 16 * 1024) }

    /// Accepts `count` bytes arriving at `now` (monotonic ns) and returns nil, or returns the
    /// time at which they may be accepted (nothing is counted then; offer them again).
    mutating func admit(_ count: Int, now: UInt64) -> UInt64? {
        if start == 0 { start = now }
        let needed = accepted.addingSaturating(UInt64(clamping: count))
        if needed > burst {
            let readyAt = Self.time(start, plus: needed - burst, at: cap)
            if readyAt > now { return readyAt }
        }
        accepted = needed
        return nil
    }

    /// Follows a new cap from `now` on. The bucket restarts empty, so neither the credit
    /// saved under the old cap nor a fresh burst lets a burst through; bytes accepted ahead of
    /// the old schedule still delay the next ones.
    mutating func retarget(cap newCap: UInt64, now: UInt64) {
        var from = now
        if start != 0 && accepted > burst {
            let due = Self.time(start, plus: accepted - burst, at: cap)
            from = max(now, due)
        }
        self = RatePacer(cap: newCap, emptyAt: from)
    }

    /// `start` plus the nanoseconds `bytes` take at `cap` bytes per second, saturating at
    /// UInt64.max (a far-off time, not a trap, for absurd byte counts or a cap of 0).
    static func time(_ start: UInt64, plus bytes: UInt64, at cap: UInt64) -> UInt64 {
        let nanoseconds = Double(bytes) / Double(max(cap, 1)) * 1e9
        // 2^64 is exactly representable; anything at or above it does not fit.
        let delay = nanoseconds < 18_446_744_073_709_551_616.0 ? UInt64(nanoseconds) : UInt64.max
        return start.addingSaturating(delay)
    }
}
