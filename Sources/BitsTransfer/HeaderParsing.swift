import CCurl
import BitsCore
#if canImport(Glibc)
import Glibc
#endif

/// The header block of one HTTP response: its status and fields, parsed from the raw lines
/// libcurl hands to the header callback.
struct HTTPHeaderBlock: Equatable {
    /// Status code from the status line (`HTTP/1.1 200 OK`, `HTTP/2 206`).
    var status: Int
    /// Header fields in order, names as sent.
    var fields: [(name: String, value: String)]
    /// The raw block, CRLF lines including the status line, without the terminating blank line.
    var raw: String

    static func == (lhs: HTTPHeaderBlock, rhs: HTTPHeaderBlock) -> Bool {
        lhs.status == rhs.status && lhs.raw == rhs.raw
            && lhs.fields.map { $0.name } == rhs.fields.map { $0.name }
            && lhs.fields.map { $0.value } == rhs.fields.map { $0.value }
    }

    /// Parses a status line and header lines (with or without line endings). Nil when the
    /// first line is not an HTTP status line.
    init?(lines: [String]) {
        guard let first = lines.first, let status = HeaderParsing.statusCode(ofStatusLine: first) else {
            return nil
        }
        self.status = status
        var fields: [(name: String, value: String)] = []
        var raw = HeaderParsing.trimmingLineEnding(first) + "\r\n"
        for line in lines.dropFirst() {
            let text = HeaderParsing.trimmingLineEnding(line)
            if text.isEmpty { continue }
            raw += text + "\r\n"
            guard let colon = text.utf8.firstIndex(of: 0x3A) else { continue }
            let name = text[..<colon].trimmingASCIIWhitespace()
            let value = text[text.utf8.index(after: colon)...].trimmingASCIIWhitespace()
            if !name.isEmpty { fields.append((name, value)) }
        }
        self.fields = fields
        self.raw = raw
    }

    /// The first value of a field, compared case-insensitively.
    func value(_ name: String) -> String? {
        fields.first { $0.name.equalsIgnoringASCIICase(name) }?.value
    }
}

/// A `Content-Range: bytes first-last/total` value. `first`/`last` are nil for the
/// unsatisfied form `bytes */total`; `total` is nil for `/*`.
struct ContentRange: Equatable {
    var first: UInt64?
    var last: UInt64?
    var total: UInt64?
}

/// Pure parsing of HTTP header values, testable without a network.
enum HeaderParsing {
    /// `HTTP/1.1 206 Partial Content` → 206. Nil for anything else.
    static func statusCode(ofStatusLine line: String) -> Int? {
        // Bytes, not Characters: this runs for every header line of every response.
        guard line.utf8.starts(with: "HTTP/".utf8) else { return nil }
        let bytes = trimmingLineEnding(line).utf8
        // The version, then one or more spaces, then a three-digit code ending at a space or the end.
        guard let space = bytes.firstIndex(of: 0x20) else { return nil }
        let codeBytes = bytes[space...].drop { $0 == 0x20 }.prefix { $0 != 0x20 }
        guard codeBytes.count == 3, codeBytes.allSatisfy(ASCII.isDigit) else { return nil }
        let code = codeBytes.reduce(0) { $0 * 10 + Int($1 - 0x30) }
        return code >= 100 ? code : nil
    }

    /// Parses `bytes a-b/total`, `bytes */total` and `bytes a-b/*`. Nil when malformed.
    static func parseContentRange(_ value: String) -> ContentRange? {
        let text = value.trimmingASCIIWhitespace()
        guard text.lowercased().hasPrefix("bytes") else { return nil }
        let spec = String(text.dropFirst(5)).trimmingASCIIWhitespace()
        let halves = spec.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard halves.count == 2 else { return nil }
        let rangePart = halves[0].trimmingASCIIWhitespace()
        let totalPart = halves[1].trimmingASCIIWhitespace()
        var result = ContentRange()
        if totalPart != "*" {
            guard let total = parseDigits(totalPart) else { return nil }
            result.total = total
        }
        if rangePart == "*" {
            // The unsatisfied form needs a known total.
            return result.total == nil ? nil : result
        }
        let bounds = rangePart.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard bounds.count == 2, let first = parseDigits(bounds[0].trimmingASCIIWhitespace()),
              let last = parseDigits(bounds[1].trimmingASCIIWhitespace()), last >= first else {
            return nil
        }
        if let total = result.total, last >= total { return nil }
        result.first = first
        result.last = last
        return result
    }

    /// A Content-Length value, nil when absent or malformed.
    static func parseContentLength(_ value: String?) -> UInt64? {
        guard let value else { return nil }
        // Repeated identical values may be folded into "N, N".
        let items = value.split(separator: ",").map { $0.trimmingASCIIWhitespace() }
        guard let first = items.first, let length = parseDigits(first),
              items.allSatisfy({ parseDigits($0) == length }) else { return nil }
        return length
    }

    /// Retry-After as seconds from `now`: either delta-seconds or an HTTP date (a date in the
    /// past gives 0). Nil when malformed. Clamped to UInt32.
    static func parseRetryAfter(_ value: String, now: Int64) -> UInt32? {
        let text = value.trimmingASCIIWhitespace()
        if text.isEmpty { return nil }
        if text.utf8.allSatisfy(ASCII.isDigit) {
            guard let seconds = UInt64(text) else { return UInt32.max }  // too many digits
            return UInt32(clamping: seconds)
        }
        guard let date = parseHTTPDate(text) else { return nil }
        return UInt32(clamping: max(0, date - now))
    }

    /// Seconds since the epoch of an HTTP date (RFC 7231 IMF-fixdate, RFC 850, asctime), via
    /// `curl_getdate`. Nil when unparseable.
    static func parseHTTPDate(_ value: String) -> Int64? {
        let seconds = curl_getdate(value, nil)
        return seconds == -1 ? nil : Int64(seconds)
    }

    /// Microseconds since the epoch of a Last-Modified value; 0 when absent, unparseable or
    /// before the epoch.
    static func lastModifiedMicroseconds(_ value: String?) -> UInt64 {
        guard let value, let seconds = parseHTTPDate(value), seconds > 0 else { return 0 }
        return UInt64(seconds) * 1_000_000
    }

    /// IMF-fixdate text (`Wed, 01 Jan 2020 00:00:00 GMT`) of a time in seconds since the epoch.
    static func httpDate(epochSeconds: Int64) -> String {
        let days = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        var t = time_t(epochSeconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        let dayIndex = Int(((epochSeconds / 86_400) % 7 + 7) % 7)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[dayIndex]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }

    /// `Accept-Ranges` lists the `bytes` unit.
    static func acceptsByteRanges(_ value: String?) -> Bool {
        guard let value else { return false }
        return value.split(separator: ",").contains { $0.trimmingASCIIWhitespace().lowercased() == "bytes" }
    }

    static func trimmingLineEnding(_ line: String) -> String {
        var end = line.utf8.endIndex
        while end > line.utf8.startIndex {
            let before = line.utf8.index(before: end)
            guard line.utf8[before] == 0x0D || line.utf8[before] == 0x0A else { break }
            end = before
        }
        return end == line.utf8.endIndex ? line : String(line[..<end])
    }

    private static func parseDigits(_ text: String) -> UInt64? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return UInt64(text)
    }
}

extension StringProtocol {
    /// The string without leading and trailing spaces and tabs (and line endings).
    func trimmingASCIIWhitespace() -> String {
        // On UTF-8 bytes: these four are ASCII, so the bounds found are character boundaries.
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A }
        let text = Substring(self)
        guard let start = text.utf8.firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = text.utf8.lastIndex(where: { !isSpace($0) })!
        return String(text[start...last])
    }
}
