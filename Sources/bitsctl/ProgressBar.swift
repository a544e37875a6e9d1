import Foundation

/// Transfer rate over a sliding window of progress samples.
struct RateEstimator {
    private var samples: [(time: Double, bytes: UInt64)] = []
    let window: Double

    init(window: Double = 5) { self.window = window }

    /// Adds a sample (seconds on a monotonic clock, bytes so far). Bytes going down (a file
    /// restarting) starts over.
    mutating func add(time: Double, bytes: UInt64) {
        if let last = samples.last, bytes < last.bytes { samples.removeAll() }
        samples.append((time, bytes))
        while samples.count > 2, let first = samples.first, time - first.time > window { samples.removeFirst() }
    }

    /// Bytes per second over the window, nil until two samples span some time.
    var bytesPerSecond: Double? {
        guard let first = samples.first, let last = samples.last, last.time - first.time > 0.05 else { return nil }
        return Double(last.bytes - first.bytes) / (last.time - first.time)
    }
}

/// One progress line: `[#####.....]  50%  512 MiB / 1.00 GiB  100 MiB/s  ETA 0:05`.
enum ProgressBar {
    /// `finished` shows "done" instead of the ETA.
    static func line(transferred: UInt64, total: UInt64?, bytesPerSecond: Double?, finished: Bool = false,
                     width: Int = 24) -> String {
        var parts: [String] = []
        if let total, total > 0 {
            let fraction = min(1, Double(transferred) / Double(total))
            let filled = Int((fraction * Double(width)).rounded(.down))
            parts.append("[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]")
            parts.append(String(format: "%3d%%", Int((fraction * 100).rounded(.down))))
            parts.append("\(HumanFormat.bytes(transferred)) / \(HumanFormat.bytes(total))")
        } else {
            parts.append("[" + String(repeating: "?", count: width) + "]")
            parts.append("\(HumanFormat.bytes(transferred)) / unknown")
        }
        if let rate = bytesPerSecond {
            parts.append(HumanFormat.rate(rate))
            if finished {
                parts.append("done")
            } else if let total, rate > 0, total >= transferred {
                parts.append("ETA " + HumanFormat.duration(Double(total - transferred) / rate))
            } else {
                parts.append("ETA --:--")
            }
        } else {
            parts.append("-- B/s")
            parts.append(finished ? "done" : "ETA --:--")
        }
        return parts.joined(separator: "  ")
    }
}
