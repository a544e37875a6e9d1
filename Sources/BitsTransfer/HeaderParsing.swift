import BitsCore
import BitsSystem

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
    ///
    /// At most `maxRawBytes` of the block are kept, whole lines from the start: the first line
    /// that would make `raw` longer, and every line after it, are dropped (from `fields` too).
    /// A status line longer than the cap still gives the status, with an empty `raw`.
    init?(lines: [String], maxRawBytes: Int = HeaderParsing.maxHeaderBlockBytes) {
        guard let first = lines.first, let status = HeaderParsing.statusCode(ofStatusLine: first) else {
            return nil
        }
        self.status = status
        var fields: [(name: String, value: String)] = []
        let statusLine = HeaderParsing.trimmingLineEnding(first)
        var raw = ""
        var kept = statusLine.utf8.count + 2
        if kept <= maxRawBytes { raw = statusLine + "\r\n" }
        for line in lines.dropFirst() {
            guard kept <= maxRawBytes else { break }
            let text = HeaderParsing.trimmingLineEnding(line)
            if text.isEmpty { continue }
            kept += text.utf8.count + 2
            guard kept <= maxRawBytes else { break }
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

/// The lines of one header block as libcurl delivers them (see `HTTPHeaderBlock`), keeping
/// whole lines from the start up to `limit` bytes as `HTTPHeaderBlock.raw` counts them (CRLF
/// endings) and dropping the rest as they arrive, so a server cannot make it grow without
/// bound. The status line is always kept (libcurl caps one line at 100 KiB).
struct HeaderCollector {
    let limit: Int
    private(set) var lines: [String] = []
    /// Bytes of `lines` as stored in `raw`.
    private(set) var bytes = 0
    /// A line was dropped: every later line of the block is dropped too.
    private(set) var isCut = false

    init(limit: Int = HeaderParsing.maxHeaderBlockBytes) { self.limit = limit }

    /// A status line starts a new block.
    mutating func start(_ statusLine: String) {
        lines = [statusLine]
        bytes = HeaderParsing.trimmingLineEnding(statusLine).utf8.count + 2
        isCut = bytes > limit
    }

    /// A header line of the current block (a blank line ends the block and is not added).
    mutating func append(_ line: String) {
        guard !isCut else { return }
        let size = HeaderParsing.trimmingLineEnding(line).utf8.count + 2
        guard bytes + size <= limit else {
            isCut = true
            return
        }
        bytes += size
        lines.append(line)
    }

    mutating func reset() {
        lines = []
        bytes = 0
        isCut = false
    }
}

/// Pure parsing of HTTP header values, testable without a network.
enum HeaderParsing {
    /// The most of a response's header block kept (`ResponseHeaders`, and the headers of an
    /// upload packet's answer): 64 KiB, whole lines from the start.
    static let maxHeaderBlockBytes = 65_536
    /// Longest `ETag` kept as a validator (it is stored with the file and sent back as
    /// If-Range); a longer one is treated as absent.
    static let maxEntityTagBytes = 1_024
    /// Longest `Last-Modified` text kept (an HTTP date is 29 characters); a longer one is
    /// treated as absent.
    static let maxLastModifiedBytes = 128
    /// Server text (a redirect's Location) quoted in an error description is cut after this
    /// many bytes.
    static let maxQuotedServerTextBytes = 1_024
    /// The dates an HTTP date can name, in seconds since the epoch: curl parses none before
    /// 1583-01-01 00:00:00 GMT, and a year has four digits, so none after
    /// 9999-12-31 23:59:59 GMT. Outside: unknown (nil).
    static let httpDateRange: ClosedRange<Int64> = -12_212_553_600 ... 253_402_300_799

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
    /// past gives 0). Nil when malformed (also a date outside `httpDateRange`). Clamped to
    /// UInt32.
    static func parseRetryAfter(_ value: String, now: Int64) -> UInt32? {
        let text = value.trimmingASCIIWhitespace()
        if text.isEmpty { return nil }
        if text.utf8.allSatisfy(ASCII.isDigit) {
            guard let seconds = UInt64(text) else { return UInt32.max }  // too many digits
            return UInt32(clamping: seconds)
        }
        guard let date = parseHTTPDate(text) else { return nil }
        return UInt32(clamping: max(0, date.subtractingSaturating(now)))
    }

    /// Microseconds since the epoch of a Last-Modified value; 0 (unknown) when absent,
    /// unparseable, outside `httpDateRange` or before the epoch.
    static func lastModifiedMicroseconds(_ value: String?) -> UInt64 {
        guard let value, let seconds = parseHTTPDate(value), seconds > 0 else { return 0 }
        let (micros, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000)
        return overflow ? 0 : micros
    }

    /// The Last-Modified of a local file whose mtime is `seconds` + `nanoseconds`: its HTTP
    /// date, and microseconds since the epoch. (nil, 0) — unknown — when no HTTP date can name
    /// it (outside `httpDateRange`); microseconds 0 before the epoch (as for servers).
    static func lastModified(epochSeconds seconds: Int64, nanoseconds: Int) -> (text: String?, microseconds: UInt64) {
        guard let text = httpDate(epochSeconds: seconds) else { return (nil, 0) }
        guard seconds > 0 else { return (text, 0) }
        let fraction = UInt64(clamping: min(max(nanoseconds, 0), 999_999_999) / 1000)
        return (text, UInt64(seconds).multipliedSaturating(by: 1_000_000).addingSaturating(fraction))
    }

    /// IMF-fixdate text (`Wed, 01 Jan 2020 00:00:00 GMT`) of a time in seconds since the
    /// epoch; nil outside `httpDateRange`.
    static func httpDate(epochSeconds: Int64) -> String? {
        guard httpDateRange.contains(epochSeconds) else { return nil }
        let days = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let parts = SystemClock.utcFields(epochSeconds: epochSeconds)
        let dayIndex = Int(((epochSeconds / 86_400) % 7 + 7) % 7)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[dayIndex]), \(two(parts.day)) \(months[Int(parts.month)]) \(parts.year) "
            + "\(two(parts.hour)):\(two(parts.minute)):\(two(parts.second)) GMT"
    }

    /// A validator or date header value as kept: nil when absent or longer than `limit` bytes.
    static func boundedValue(_ value: String?, limit: Int) -> String? {
        guard let value, value.utf8.count <= limit else { return nil }
        return value
    }

    /// `text` cut after at most `limit` bytes (at a character boundary, marked with "…"), for
    /// quoting server text in error descriptions.
    static func clipped(_ text: String, limit: Int = maxQuotedServerTextBytes) -> String {
        guard text.utf8.count > limit else { return text }
        var end = text.startIndex
        var used = 0
        for index in text.indices {
            let size = text[index].utf8.count
            guard used + size <= limit else { break }
            used += size
            end = text.index(after: index)
        }
        return String(text[..<end]) + "…"
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
