import BitsClient
import Foundation

/// Text for people: sizes, rates, durations, times and property values.
enum HumanFormat {
    /// 1536 → "1.5 KiB"; binary units, 3 significant digits.
    static func bytes(_ count: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        if unit == 0 { return "\(count) B" }
        let digits = value >= 100 ? 0 : (value >= 10 ? 1 : 2)
        return String(format: "%.\(digits)f %@", value, units[unit])
    }

    static func size(_ count: UInt64?) -> String { count.map(bytes) ?? "unknown" }

    static func rate(_ bytesPerSecond: Double) -> String { bytes(UInt64(max(0, bytesPerSecond))) + "/s" }

    /// 75 → "1:15", 3725 → "1:02:05".
    static func duration(_ seconds: Double) -> String {
        // Beyond Int32.max seconds (68 years) Int() could trap and "%d" would truncate.
        guard seconds.isFinite, seconds >= 0, seconds < Double(Int32.max) else { return "--:--" }
        let total = Int(seconds.rounded())
        let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60)
        return h > 0 ? String(format: "%d:%02d:%02d", h, m, s) : String(format: "%d:%02d", m, s)
    }

    /// `EstimatedTimeRemaining` (nil: unknown) → "1:15" or "unknown".
    static func timeLeft(_ seconds: UInt64?) -> String {
        guard let seconds, case let text = duration(Double(seconds)), text != "--:--" else { return "unknown" }
        return text
    }

    /// Microseconds since the epoch → local ISO 8601, or "never".
    static func time(_ microseconds: UInt64) -> String {
        guard microseconds > 0 else { return "never" }
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = .current
        return formatter.string(from: Date(timeIntervalSince1970: Double(microseconds) / 1_000_000))
    }

    /// A property value as text: strings bare, lists one item per line, ranges `offset:length`.
    static func value(_ variant: Variant) -> String {
        switch variant {
        case .string(let s), .objectPath(let s), .signature(let s): return s
        case .bool(let b): return b ? "true" : "false"
        case .byte(let v): return "\(v)"
        case .int32(let v): return "\(v)"
        case .uint32(let v): return "\(v)"
        case .int64(let v): return "\(v)"
        case .uint64(let v): return "\(v)"
        case .double(let v): return "\(v)"
        case .variant(let inner): return value(inner)
        case .array(let type, let items) where type == "(tt)":
            return items.map { pair in
                let offset = pair.items.first?.uint64Value ?? 0
                let length = pair.items.dropFirst().first?.uint64Value ?? UInt64.max
                return "\(offset):\(length == UInt64.max ? "eof" : String(length))"
            }.joined(separator: ",")
        case .array(_, let items): return items.map(value).joined(separator: "\n")
        case .tuple(let items): return items.map(value).joined(separator: " ")
        case .dictionary(_, _, let entries): return entries.map { "\(value($0.0))=\(value($0.1))" }.joined(separator: "\n")
        }
    }

    /// "3 / 10 files, 1.5 MiB / 20.0 MiB".
    static func progress(_ job: JobProperties) -> String {
        "\(job.filesTransferred) / \(job.filesTotal) files, \(bytes(job.bytesTransferred)) / \(size(job.bytesTotal))"
    }

    /// `text` ending with a full stop, to be followed by another sentence.
    static func sentence(_ text: String) -> String {
        text.hasSuffix(".") || text.hasSuffix("!") || text.hasSuffix("?") ? text : text + "."
    }

    /// The error line of a job in error, or nil.
    static func error(_ job: JobProperties) -> String? {
        guard !job.errorCode.isEmpty else { return nil }
        return "\(job.errorCode) (\(job.errorContext.rawValue)): \(job.errorDescription)"
    }
}
