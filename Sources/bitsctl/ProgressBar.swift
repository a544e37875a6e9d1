
/// One progress line: `[#####.....]  50%  512 MiB / 1.00 GiB  100 MiB/s  ETA 0:05`.
enum ProgressBar {
    /// `bytesPerSecond` and `secondsRemaining` are the service's `BytesPerSecond` and
    /// `EstimatedTimeRemaining` (nil: not known, "--"); `finished` shows "done" instead of the ETA.
    static func line(transferred: UInt64, total: UInt64?, bytesPerSecond: UInt64?, secondsRemaining: UInt64?,
                     finished: Bool = false, width: Int = 24) -> String {
        var parts: [String] = []
        if let total, total > 0 {
            let fraction = min(1, Double(transferred) / Double(total))
            let filled = Int((fraction * Double(width)).rounded(.down))
            parts.append("[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]")
            let percent = String(Int((fraction * 100).rounded(.down)))
            parts.append(String(repeating: " ", count: max(0, 3 - percent.count)) + percent + "%")
            parts.append("\(HumanFormat.bytes(transferred)) / \(HumanFormat.bytes(total))")
        } else {
            parts.append("[" + String(repeating: "?", count: width) + "]")
            parts.append("\(HumanFormat.bytes(transferred)) / unknown")
        }
        parts.append(bytesPerSecond.map { HumanFormat.rate(Double($0)) } ?? "-- B/s")
        if finished {
            parts.append("done")
        } else {
            parts.append("ETA " + (secondsRemaining.map { HumanFormat.duration(Double($0)) } ?? "--:--"))
        }
        return parts.joined(separator: "  ")
    }
}
