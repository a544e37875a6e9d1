/// The cap for background transfers (all of them together; foreground jobs are never
/// throttled), with an optional daily window that has its own cap, as BITS's
/// MaxInternetBandwidth policy. A cap of 0 inside the window blocks background jobs.
public struct BandwidthPolicy: Sendable, Equatable {
    /// Bytes per second outside the window; nil = unlimited.
    public var limit: UInt64?
    /// The daily window, in minutes after local midnight (start inclusive, end exclusive;
    /// a window may wrap past midnight), and its cap (nil = unlimited, 0 = blocked).
    public var window: (start: Int, end: Int, limit: UInt64?)?

    public init(limit: UInt64? = nil, window: (start: Int, end: Int, limit: UInt64?)? = nil) {
        self.limit = limit
        self.window = window
    }

    public static func == (a: BandwidthPolicy, b: BandwidthPolicy) -> Bool {
        a.limit == b.limit && a.window?.start == b.window?.start && a.window?.end == b.window?.end
            && a.window?.limit == b.window?.limit
    }

    /// The cap in force at `minute` (0..<1440) of the local day: nil = unlimited, 0 = blocked.
    public func cap(atMinute minute: Int) -> UInt64? {
        guard let window, isInWindow(minute, window.start, window.end) else { return limit }
        return window.limit
    }

    /// Minutes from `minute` until the cap may change (the next window edge); nil without a window.
    public func minutesUntilChange(from minute: Int) -> Int? {
        guard let window else { return nil }
        let edges = [window.start, window.end].map { ($0 - minute + 1440) % 1440 }.filter { $0 > 0 }
        return edges.min() ?? 1440
    }

    func isInWindow(_ m: Int, _ start: Int, _ end: Int) -> Bool {
        start <= end ? (m >= start && m < end) : (m >= start || m < end)
    }

    /// Parses a rate such as `20M`, `512K`, `1000000` (bytes per second; K/M/G are binary).
    public static func parseRate(_ text: String) -> UInt64? {
        var digits = text
        var multiplier: UInt64 = 1
        switch text.last {
        case "K", "k": multiplier = 1 << 10
        case "M", "m": multiplier = 1 << 20
        case "G", "g": multiplier = 1 << 30
        default: break
        }
        if multiplier > 1 { digits = String(text.dropLast()) }
        guard let value = UInt64(digits) else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : product
    }

    /// Parses `HH:MM` into minutes after midnight.
    public static func parseTime(_ text: String) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0..<24).contains(h), (0..<60).contains(m)
        else { return nil }
        return h * 60 + m
    }
}
