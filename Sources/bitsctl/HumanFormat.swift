import BitsClient
import BitsSystem

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
        return fixed(value, fractionDigits: digits) + " " + units[unit]
    }

    static func size(_ count: UInt64?) -> String { count.map(bytes) ?? "unknown" }

    static func rate(_ bytesPerSecond: Double) -> String { bytes(UInt64(max(0, bytesPerSecond))) + "/s" }

    /// 75 → "1:15", 3725 → "1:02:05".
    static func duration(_ seconds: Double) -> String {
        // Beyond Int32.max seconds (68 years) Int() could trap and "%d" would truncate.
        guard seconds.isFinite, seconds >= 0, seconds < Double(Int32.max) else { return "--:--" }
        let total = Int(seconds.rounded())
        let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60)
        return h > 0 ? "\(h):\(padded(m, 2)):\(padded(s, 2))" : "\(m):\(padded(s, 2))"
    }

    /// `EstimatedTimeRemaining` (nil: unknown) → "1:15" or "unknown".
    static func timeLeft(_ seconds: UInt64?) -> String {
        guard let seconds, case let text = duration(Double(seconds)), text != "--:--" else { return "unknown" }
        return text
    }

    /// Microseconds since the epoch → local ISO 8601 to the second ("2026-12-06T04:05:06+01:00",
    /// "…Z" in UTC), or "never".
    static func time(_ microseconds: UInt64) -> String {
        guard microseconds > 0 else { return "never" }
        // UInt64.max µs is 584 542 years: seconds always fit an Int64.
        let (t, offset) = SystemClock.localFields(epochSeconds: Int64(microseconds / 1_000_000))
        let date = "\(padded(Int(t.year), 4))-\(padded(Int(t.month) + 1, 2))-\(padded(Int(t.day), 2))"
        let clock = "\(padded(Int(t.hour), 2)):\(padded(Int(t.minute), 2)):\(padded(Int(t.second), 2))"
        return date + "T" + clock + zone(offset)
    }

    /// A UTC offset in seconds as ISO 8601 writes it: "Z", "+01:00", "-03:30".
    static func zone(_ offset: Int) -> String {
        guard offset != 0 else { return "Z" }
        let minutes = abs(offset) / 60
        return (offset < 0 ? "-" : "+") + padded(minutes / 60, 2) + ":" + padded(minutes % 60, 2)
    }

    /// Local time of day, "HH:MM:SS".
    static func clock() -> String {
        let t = SystemClock.localFields()
        return "\(padded(Int(t.hour), 2)):\(padded(Int(t.minute), 2)):\(padded(Int(t.second), 2))"
    }

    /// `value` with `fractionDigits` (0...3) digits after the point, as printf's "%.2f" writes
    /// it: the exact binary value rounded half to even (2.675 is 2.67499999… and gives "2.67").
    /// Values whose digits do not fit 64 bits, infinities and NaN (never shown by bitsctl) as
    /// Swift prints them.
    static func fixed(_ value: Double, fractionDigits digits: Int) -> String {
        let digits = min(max(0, digits), 3)
        let magnitude = value.magnitude
        guard magnitude.isFinite, magnitude < 9_223_372_036_854_775_808 else { return "\(value)" }
        var scale: UInt64 = 1
        for _ in 0..<digits { scale *= 10 }
        // magnitude = significand * 2^exponent exactly, significand < 2^53.
        let significand = magnitude == 0 ? 0
            : UInt64(magnitude.significandBitPattern) | (magnitude.isNormal ? 1 << 52 : 0)
        let exponent = magnitude.isNormal ? Int(magnitude.exponent) - 52 : -1074
        let units: UInt64
        if exponent >= 0 {
            // An integer below 2^63; with the fraction's digits it may not fit.
            let (scaled, overflow) = UInt64(magnitude).multipliedReportingOverflow(by: scale)
            guard !overflow else { return "\(value)" }
            units = scaled
        } else {
            let numerator = significand * scale  // < 2^53 × 1000 < 2^63
            let shift = -exponent
            if shift >= 64 {
                units = 0  // below 2^63 / 2^64: less than half a unit
            } else {
                let quotient = numerator >> UInt64(shift)
                let remainder = numerator & ((1 << UInt64(shift)) - 1)
                let half: UInt64 = 1 << UInt64(shift - 1)
                units = remainder > half || (remainder == half && quotient % 2 == 1) ? quotient + 1 : quotient
            }
        }
        let sign = value.sign == .minus ? "-" : ""
        let whole = units / scale, fraction = units % scale
        return digits > 0 ? "\(sign)\(whole).\(padded(Int(fraction), digits))" : "\(sign)\(whole)"
    }

    /// `number` with leading zeros to `width` digits ("%02d"); a sign goes before them.
    static func padded(_ number: Int, _ width: Int) -> String {
        let digits = String(number.magnitude)
        let zeros = String(repeating: "0", count: max(0, width - digits.count - (number < 0 ? 1 : 0)))
        return (number < 0 ? "-" : "") + zeros + digits
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
