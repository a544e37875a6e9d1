import BitsCore
@testable import BitsTransfer
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Generated hostile input for the engine's parsers and plans: status lines, header blocks,
/// Content-Length, Content-Range, Retry-After, HTTP dates and byte-range plans, with numbers
/// at 0, UInt64.max and around every power of two. Each test checks properties (bounds,
/// agreement with a simple model, round trips) over a few thousand cases from a fixed seed;
/// a failure names the case. Also the three reported traps, reproduced.
final class HostileNumbersTests: XCTestCase {
    /// The most a date can be in Last-Modified microseconds.
    private let latestMicros = UInt64(HeaderParsing.httpDateRange.upperBound) * 1_000_000

    // MARK: - Status lines and header blocks

    func testStatusLinesGiveAThreeDigitCodeOrNil() {
        var rng = SplitMix64(seed: 0x5747_4154_5553)
        for n in 0..<4000 {
            let version = rng.pick(["1.1", "1.0", "2", "3", "", "1.1x"])
            let spaces = String(repeating: " ", count: Int(rng.next() % 3) + 1)
            let code: String
            switch rng.next() % 4 {
            case 0: code = String(rng.next() % 1000).leftPadded(to: 3)
            case 1: code = String(rng.edgy())
            case 2: code = rng.string(from: "0123456789", count: Int(rng.next() % 30) + 1)
            default: code = rng.string(from: "0123456789+-x\t.é", count: Int(rng.next() % 5) + 1)
            }
            let reason = rng.pick(["", " OK", " Partial Content", "x", " \(rng.edgy())"])
            let line = "HTTP/\(version)\(spaces)\(code)\(reason)" + rng.pick(["", "\r\n", "\n", "\r\n\r\n"])
            let expected: Int? = {
                guard code.utf8.count == 3, code.utf8.allSatisfy(ASCII.isDigit), let value = Int(code), value >= 100,
                      reason.isEmpty || reason.hasPrefix(" ") else { return nil }
                return value
            }()
            XCTAssertEqual(HeaderParsing.statusCode(ofStatusLine: line), expected, "case \(n): \(line.debugDescription)")
        }
        // Anything else: nil or a code in 100...999, only for a line that starts with HTTP/.
        for n in 0..<2000 {
            let line = rng.pick(["HTTP/", "", "http/", "HTTP/1.1 "]) + rng.string(from: "HTP/1. 0123456789\r\n", count: Int(rng.next() % 24))
            if let code = HeaderParsing.statusCode(ofStatusLine: line) {
                XCTAssertTrue((100...999).contains(code) && line.hasPrefix("HTTP/"), "case \(n): \(line.debugDescription)")
            }
        }
    }

    func testHeaderBlocksKeepWholeLinesFromTheStartUpToTheCap() throws {
        var rng = SplitMix64(seed: 0x4845_4144_4552)
        for n in 0..<1500 {
            var lines = ["HTTP/1.1 \(rng.pick([200, 206, 404, 503])) \(rng.string(from: "OKa ", count: Int(rng.next() % 40)))\r\n"]
            for i in 0..<Int(rng.next() % 30) {
                let size = rng.pick([0, 1, 10, 100, 1000, 3000, Int(rng.next() % 8000)])
                let value = String(repeating: rng.pick(["a", "é", "b:", " "]), count: size / 2)
                    + rng.string(from: "abc é:\t", count: Int(rng.next() % 8))
                lines.append(rng.pick(["X-\(i): \(value)\r\n", "X-\(i):\(value)\n", "\(value)\r\n", "\r\n"]))
            }
            // The model: each non-blank line as stored (CRLF), kept from the start while it fits.
            let stored = lines.map(HeaderParsing.trimmingLineEnding).filter { !$0.isEmpty }.map { $0 + "\r\n" }
            let wholeSize = stored.reduce(0) { $0 + $1.utf8.count }
            let cap = rng.pick([0, 1, 17, 65_536, wholeSize, wholeSize - 1, Int(rng.next() % UInt64(wholeSize + 1))])
            var expected = "", keptLines = 0
            while keptLines < stored.count && expected.utf8.count + stored[keptLines].utf8.count <= cap {
                expected += stored[keptLines]
                keptLines += 1
            }
            let whole = try XCTUnwrap(HTTPHeaderBlock(lines: lines, maxRawBytes: .max), "case \(n)")
            let kept = try XCTUnwrap(HTTPHeaderBlock(lines: lines, maxRawBytes: cap), "case \(n)")
            XCTAssertEqual(whole.raw, stored.joined(), "case \(n)")
            XCTAssertEqual(kept.status, whole.status, "case \(n): the status survives any cap")
            XCTAssertEqual(kept.raw, expected, "case \(n): cap \(cap)")
            XCTAssertLessThanOrEqual(kept.raw.utf8.count, cap, "case \(n)")
            let keptFields = stored.prefix(keptLines).dropFirst().filter {
                guard let colon = $0.firstIndex(of: ":") else { return false }
                return !$0[..<colon].trimmingASCIIWhitespace().isEmpty
            }.count
            XCTAssertEqual(kept.fields.count, keptFields, "case \(n)")
            XCTAssertEqual(kept.fields.map(\.name), Array(whole.fields.map(\.name).prefix(keptFields)), "case \(n)")
            // Collected as libcurl delivers them, the same lines are kept, and no more bytes.
            var collector = HeaderCollector(limit: cap)
            collector.start(lines[0])
            for line in lines.dropFirst() where !HeaderParsing.trimmingLineEnding(line).isEmpty { collector.append(line) }
            XCTAssertEqual(HTTPHeaderBlock(lines: collector.lines, maxRawBytes: cap)?.raw, kept.raw, "case \(n)")
            XCTAssertEqual(collector.lines.count, max(keptLines, 1), "case \(n)")
            XCTAssertTrue(collector.bytes <= cap || collector.lines.count == 1, "case \(n): the collector grew past its cap")
        }
    }

    // MARK: - Content-Length, Content-Range, Retry-After

    func testContentLengthIsTheNumberOrNil() {
        var rng = SplitMix64(seed: 0x4C45_4E47_5448)
        for n in 0..<4000 {
            let value = rng.edgy()
            XCTAssertEqual(HeaderParsing.parseContentLength(String(value)), value, "case \(n)")
            XCTAssertEqual(HeaderParsing.parseContentLength(" \(value) , \(value)"), value, "case \(n)")
            let other = rng.edgy()
            XCTAssertEqual(HeaderParsing.parseContentLength("\(value), \(other)"), value == other ? value : nil, "case \(n)")
            let digits = rng.string(from: "0123456789", count: Int(rng.next() % 60) + 1)
            XCTAssertEqual(HeaderParsing.parseContentLength(digits), UInt64(digits), "case \(n): \(digits)")
            let junk = rng.pick(["-", "+", "0x", " ", "1e", ""]) + String(value) + rng.pick(["", ".0", "k", " -1"])
            XCTAssertEqual(HeaderParsing.parseContentLength(junk), junk.trimmingASCIIWhitespace() == String(value) ? value : nil,
                           "case \(n): \(junk)")
        }
        XCTAssertEqual(HeaderParsing.parseContentLength("18446744073709551615"), UInt64.max)
        XCTAssertNil(HeaderParsing.parseContentLength("18446744073709551616"))
        XCTAssertNil(HeaderParsing.parseContentLength(String(repeating: "9", count: 10_000)))
    }

    func testContentRangeAgreesWithItsDefinition() {
        var rng = SplitMix64(seed: 0x5241_4E47_45)
        for n in 0..<5000 {
            let first = rng.edgy(), last = rng.edgy(), total = rng.edgy()
            let knownTotal = rng.next() % 4 != 0
            let text = "bytes \(first)-\(last)/\(knownTotal ? String(total) : "*")"
            let parsed = HeaderParsing.parseContentRange(text)
            let valid = first <= last && (!knownTotal || last < total)
            XCTAssertEqual(parsed, valid ? ContentRange(first: first, last: last, total: knownTotal ? total : nil) : nil,
                           "case \(n): \(text)")
            XCTAssertEqual(HeaderParsing.parseContentRange("bytes */\(total)"), ContentRange(first: nil, last: nil, total: total))
            // Digits beyond 64 bits, signs and garbage are malformed.
            let huge = "1" + rng.string(from: "0123456789", count: 20 + Int(rng.next() % 40))
            XCTAssertNil(HeaderParsing.parseContentRange("bytes 0-\(huge)/*"), "case \(n)")
            XCTAssertNil(HeaderParsing.parseContentRange("bytes 0-1/\(huge)"), "case \(n)")
            XCTAssertNil(HeaderParsing.parseContentRange("bytes -\(first)-\(last)/*"), "case \(n)")
            let garbage = "bytes " + rng.string(from: "0123456789-/* ,+", count: Int(rng.next() % 30))
            if let range = HeaderParsing.parseContentRange(garbage) {
                if let f = range.first, let l = range.last { XCTAssertLessThanOrEqual(f, l, "case \(n): \(garbage)") }
                if let l = range.last, let t = range.total { XCTAssertLessThan(l, t, "case \(n): \(garbage)") }
                XCTAssertTrue(range.first != nil || range.total != nil, "case \(n): \(garbage)")
            }
        }
    }

    func testRetryAfterIsClampedSecondsFromNow() throws {
        var rng = SplitMix64(seed: 0x5245_5452_59)
        let range = HeaderParsing.httpDateRange
        for n in 0..<3000 {
            let now = rng.pick([Int64.min, Int64.max, 0, -1, Int64(bitPattern: rng.next()),
                                Int64(rng.next() % UInt64(range.upperBound))])
            let delta = rng.edgy()
            XCTAssertEqual(HeaderParsing.parseRetryAfter(String(delta), now: now), UInt32(clamping: delta), "case \(n)")
            let digits = rng.string(from: "0123456789", count: 21 + Int(rng.next() % 50))
            XCTAssertEqual(HeaderParsing.parseRetryAfter(digits, now: now), UInt32.max, "case \(n): too many digits")
            let date = Int64.random(in: range, using: &rng)
            let text = try XCTUnwrap(HeaderParsing.httpDate(epochSeconds: date))
            let (difference, overflow) = date.subtractingReportingOverflow(now)
            let expected = overflow ? (now < 0 ? UInt32.max : 0) : UInt32(clamping: max(0, difference))
            XCTAssertEqual(HeaderParsing.parseRetryAfter(text, now: now), expected, "case \(n): \(text) at \(now)")
            XCTAssertNil(HeaderParsing.parseRetryAfter("-\(delta)", now: now), "case \(n)")
        }
        XCTAssertNil(HeaderParsing.parseRetryAfter("Sat, 01 Jan 999999 00:00:00 GMT", now: 0), "no HTTP date: ignored")
    }

    // MARK: - HTTP dates

    func testHTTPDatesRoundTripInsideTheRangeAndAreUnknownOutside() throws {
        var rng = SplitMix64(seed: 0x4441_5445)
        let range = HeaderParsing.httpDateRange
        for n in 0..<3000 {
            let seconds = rng.next() % 4 == 0 ? rng.pick([range.lowerBound, range.upperBound, 0, 1, -1])
                                              : Int64.random(in: range, using: &rng)
            let text = try XCTUnwrap(HeaderParsing.httpDate(epochSeconds: seconds), "case \(n): \(seconds)")
            XCTAssertEqual(text.utf8.count, 29, "case \(n): \(text)")
            // curl answers -1 for "unparseable", so it reads 1969-12-31 23:59:59 as 0.
            XCTAssertEqual(HeaderParsing.parseHTTPDate(text), seconds == -1 ? 0 : seconds, "case \(n): \(text)")
            XCTAssertEqual(HeaderParsing.lastModifiedMicroseconds(text), seconds > 0 ? UInt64(seconds) * 1_000_000 : 0)
            let outside = rng.pick([range.upperBound + 1, range.lowerBound - 1, Int64.max, Int64.min,
                                    Int64.random(in: (range.upperBound + 1)...Int64.max, using: &rng),
                                    Int64.random(in: Int64.min...(range.lowerBound - 1), using: &rng)])
            XCTAssertNil(HeaderParsing.httpDate(epochSeconds: outside), "case \(n): \(outside)")
            // Local files: any mtime, any nanoseconds.
            let nanos = rng.pick([0, 999_999_999, -1, Int.max, Int.min, Int(rng.next() % 1_000_000_000)])
            let local = HeaderParsing.lastModified(epochSeconds: seconds, nanoseconds: nanos)
            XCTAssertEqual(local.text, text)
            let fraction = UInt64(min(max(nanos, 0), 999_999_999) / 1000)
            XCTAssertEqual(local.microseconds, seconds > 0 ? UInt64(seconds) * 1_000_000 + fraction : 0, "case \(n)")
            let far = HeaderParsing.lastModified(epochSeconds: outside, nanoseconds: nanos)
            XCTAssertTrue(far.text == nil && far.microseconds == 0, "case \(n): \(outside)")
        }
    }

    func testExtremeDateTextsParseInRangeOrNotAtAll() {
        var rng = SplitMix64(seed: 0x5945_4152)
        let years = ["0", "0000", "1", "99", "1582", "1583", "1969", "1970", "2038", "9999", "10000", "999999",
                     "-1", "-5", "+2000", "18446744073709551616", String(repeating: "9", count: 400)]
        for n in 0..<3000 {
            let year = rng.next() % 3 == 0 ? String(rng.edgy()) : rng.pick(years)
            let text: String
            switch rng.next() % 4 {
            case 0: text = "\(rng.pick(["Sat", "Mon", "Xyz"])), \(rng.pick(["01", "31", "00", "99"])) \(rng.pick(["Jan", "Dec", "Foo"])) \(year) \(rng.pick(["00:00:00", "23:59:59", "24:00:00", "99:99:99"])) \(rng.pick(["GMT", "UTC", "+9999", "-2400", ""]))"
            case 1: text = "\(rng.pick(["Saturday", "Sunday"])), 01-Jan-\(year) 00:00:00 GMT"
            case 2: text = "Sat Jan  1 00:00:00 \(year)"
            default: text = rng.string(from: "SatJn, 0123456789:-+GMT", count: Int(rng.next() % 40))
            }
            if let date = HeaderParsing.parseHTTPDate(text) {
                XCTAssertTrue(HeaderParsing.httpDateRange.contains(date), "case \(n): \(text) → \(date)")
            }
            XCTAssertLessThanOrEqual(HeaderParsing.lastModifiedMicroseconds(text), latestMicros, "case \(n): \(text)")
            _ = HeaderParsing.parseRetryAfter(text, now: Int64(bitPattern: rng.next()))
        }
        // The documented outcomes at the edges.
        XCTAssertEqual(HeaderParsing.parseHTTPDate("Fri, 31 Dec 9999 23:59:59 GMT"), 253_402_300_799)
        XCTAssertNil(HeaderParsing.parseHTTPDate("Sat, 01 Jan 10000 00:00:00 GMT"))
        XCTAssertNil(HeaderParsing.parseHTTPDate("Sat, 01 Jan 999999 00:00:00 GMT"))
        XCTAssertEqual(HeaderParsing.parseHTTPDate("Mon, 01 Jan 1583 00:00:00 GMT"), -12_212_553_600)
        XCTAssertNil(HeaderParsing.parseHTTPDate("Fri, 31 Dec 1582 23:59:59 GMT"))
        // curl reads a year below 100 as 19xx/20xx: "0000" is 2000.
        XCTAssertEqual(HeaderParsing.parseHTTPDate("Sat, 01 Jan 0000 00:00:00 GMT"), 946_684_800)
        XCTAssertEqual(HeaderParsing.lastModifiedMicroseconds("Mon, 01 Jan 1583 00:00:00 GMT"), 0, "before the epoch")
    }

    /// Reported trap 1: `Last-Modified: Sat, 01 Jan 999999 00:00:00 GMT` overflowed
    /// seconds × 1,000,000 (3.1e13 s → 3.1e19 µs > UInt64.max).
    func testLastModifiedInTheYear999999IsUnknown() {
        XCTAssertEqual(HeaderParsing.lastModifiedMicroseconds("Sat, 01 Jan 999999 00:00:00 GMT"), 0)
        XCTAssertEqual(HeaderParsing.lastModifiedMicroseconds("Fri, 31 Dec 9999 23:59:59 GMT"), 253_402_300_799_000_000)
    }

    // MARK: - Range plans

    /// Reported trap 3: a to-EOF range (length UInt64.max) at offset 2^64−2, resumed past the
    /// bytes it could ever hold, trapped in `offset + (destination − start)`.
    func testToEndRangeAtTheTopOfTheOffsetSpace() {
        let top = UInt64.max - 1
        for (resume, start) in [(UInt64(0), top), (1, UInt64.max), (2, UInt64.max), (UInt64.max, UInt64.max)] {
            var plan = RangePlan(ranges: [ByteRange(offset: top, length: .max)], resumeOffset: resume)
            XCTAssertFalse(plan.isComplete)
            XCTAssertEqual(plan.requestStart, start, "resume \(resume)")
            XCTAssertEqual(plan.rangeSpec, "\(start)-")
            XCTAssertNil(plan.requestLength)
            // The file's size: one byte fits at 2^64−2. A request at UInt64.max asks for nothing
            // any server has: it is answered 416 and the transfer fails with a range error.
            XCTAssertNil(plan.resolve(fileSize: UInt64.max))
            XCTAssertEqual(plan.totalLength, 1)
            XCTAssertEqual(plan.requestLength, start == top ? 1 : 0)
            XCTAssertNotNil(plan.resolve(fileSize: top), "beyond the end of a file of 2^64−2 bytes")
        }
        // Unchecked overlapping ranges (e.g. read back from the database) saturate too.
        let huge = RangePlan(ranges: [ByteRange(offset: 0, length: .max - 1), ByteRange(offset: 0, length: .max - 1)],
                             resumeOffset: .max)
        XCTAssertEqual(huge.totalLength, UInt64.max)
        XCTAssertEqual(huge.index, 1, "UInt64.max − (2^64 − 2) = 1 byte into the second range")
        XCTAssertEqual(huge.requestStart, 1)
        XCTAssertEqual(huge.requestDestinationOffset, UInt64.max)
    }

    func testRangePlansAgreeWithAnExactModel() {
        var rng = SplitMix64(seed: 0x504C_414E)
        for n in 0..<4000 {
            let ranges = (0..<Int(rng.next() % 6) + 1).map { _ in
                ByteRange(offset: rng.edgy(), length: rng.next() % 3 == 0 ? .max : rng.edgy())
            }
            let resume = rng.edgy()
            var plan = RangePlan(ranges: ranges, resumeOffset: resume)
            let context = "case \(n): \(ranges.map { "(\($0.offset), \($0.length))" }) resume \(resume)"
            checkInvariants(plan, context)
            // The kept segments: empty ranges dropped, a range ending past UInt64.max to-EOF.
            let expected = ranges.filter { $0.length > 0 }.map { range -> (UInt64, UInt64?) in
                UInt128(range.offset) + UInt128(range.length) > UInt128(UInt64.max) || range.length == .max
                    ? (range.offset, nil) : (range.offset, range.length)
            }
            XCTAssertEqual(plan.segments.map(\.offset), expected.map(\.0), context)
            XCTAssertEqual(plan.segments.map(\.length), expected.map(\.1), context)
            checkPosition(plan, destination: resume, context)
            for step in 0..<4 {
                switch rng.next() % 3 {
                case 0:
                    let size: UInt64? = rng.next() % 5 == 0 ? nil : rng.edgy()
                    let before = plan
                    if plan.resolve(fileSize: size) != nil {
                        XCTAssertEqual(plan.index, before.index, context)
                        XCTAssertEqual(plan.requestStart, before.requestStart, context)
                    } else if let size {
                        XCTAssertEqual(plan.fileSize, size, context)
                        for segment in plan.segments {
                            XCTAssertLessThanOrEqual(UInt128(segment.offset) + UInt128(segment.length ?? 0), UInt128(size), context)
                        }
                    }
                case 1:
                    let destination = rng.edgy()
                    plan.position(at: destination)
                    checkPosition(plan, destination: destination, context + " step \(step)")
                default:
                    let before = plan.index
                    plan.advance()
                    XCTAssertEqual(plan.index, min(before + 1, plan.segments.count), context)
                }
                checkInvariants(plan, context + " step \(step)")
            }
        }
    }

    /// Where `position(at:)` must have put the request, computed exactly (128 bits).
    private func checkPosition(_ plan: RangePlan, destination: UInt64, _ context: String) {
        var start: UInt128 = 0
        for (i, segment) in plan.segments.enumerated() {
            if let length = segment.length, UInt128(destination) >= start + UInt128(length) {
                start += UInt128(length)
                continue
            }
            XCTAssertEqual(plan.index, i, context)
            let exact = UInt128(segment.offset) + UInt128(destination) - start
            XCTAssertEqual(plan.requestStart, exact > UInt128(UInt64.max) ? UInt64.max : UInt64(exact), context)
            return
        }
        XCTAssertTrue(plan.isComplete, context)
        XCTAssertEqual(plan.requestStart, 0, context)
    }

    private func checkInvariants(_ plan: RangePlan, _ context: String) {
        XCTAssertTrue((0...plan.segments.count).contains(plan.index), context)
        let lengths = plan.segments.map(\.length)
        if lengths.allSatisfy({ $0 != nil }) {
            let exact = lengths.reduce(UInt128(0)) { $0 + UInt128($1!) }
            XCTAssertEqual(plan.totalLength, exact > UInt128(UInt64.max) ? UInt64.max : UInt64(exact), context)
        } else {
            XCTAssertNil(plan.totalLength, context)
        }
        guard !plan.isComplete else {
            XCTAssertEqual(plan.rangeSpec, "", context)
            return
        }
        let segment = plan.segments[plan.index]
        XCTAssertGreaterThanOrEqual(plan.requestStart, segment.offset, context)
        // The spec round-trips to the request's start and end.
        let parts = plan.rangeSpec.split(separator: "-", omittingEmptySubsequences: false)
        XCTAssertEqual(parts.count, 2, context)
        XCTAssertEqual(UInt64(parts[0]), plan.requestStart, context)
        if let end = plan.requestEnd {
            XCTAssertEqual(UInt128(end), UInt128(segment.offset) + UInt128(segment.length!) - 1, context)
            XCTAssertEqual(plan.requestLength, end >= plan.requestStart ? end - plan.requestStart + 1 : 0, context)
            XCTAssertTrue(parts[1].isEmpty || UInt64(parts[1]) == end, context)
            if let total = plan.totalLength, let length = plan.requestLength, length > 0 {
                XCTAssertLessThanOrEqual(plan.requestDestinationOffset.addingSaturating(length), total, context)
            }
        } else {
            XCTAssertNil(plan.requestLength, context)
            XCTAssertTrue(parts[1].isEmpty, context)
        }
    }

    // MARK: - Pacing

    func testPacerTimesSaturate() {
        var rng = SplitMix64(seed: 0x5041_4345)
        for n in 0..<3000 {
            let cap = rng.edgy()
            var pacer = RatePacer(cap: max(cap, 1))
            let now = rng.edgy()
            let count = Int(truncatingIfNeeded: rng.edgy() % (UInt64(Int.max) + 1))
            if let ready = pacer.admit(count, now: now) { XCTAssertGreaterThan(ready, now, "case \(n)") }
            _ = pacer.admit(Int(rng.next() % 1_000_000), now: rng.edgy())
            pacer.retarget(cap: max(rng.edgy(), 1), now: rng.edgy())
            let start = rng.edgy(), bytes = rng.edgy()
            let time = RatePacer.time(start, plus: bytes, at: cap)
            XCTAssertGreaterThanOrEqual(time, start, "case \(n)")
            if cap > 0 && bytes / cap < 1_000_000_000 && start < UInt64.max / 2 {
                let exact = Double(start) + Double(bytes) / Double(cap) * 1e9
                XCTAssertEqual(Double(time), exact, accuracy: max(exact * 1e-9, 2048), "case \(n)")
            }
        }
    }
}

/// Reported trap 2: a `file://` source whose mtime is far in the future (`touch -d
/// @100000000000000`) trapped in LocalFileCopy (seconds × 1,000,000 overflowed UInt64). ext4
/// clamps such a time to the year 2446, so the sources live on tmpfs (/dev/shm), which keeps
/// 64-bit times, when there is one.
final class FarFutureLocalCopyTests: XCTestCase {
    private var directory: TemporaryDirectory!
    /// Where the sources are made: a tmpfs directory if possible, else `directory`.
    private var sourceDirectory = ""
    private var delegate: RecordingDelegate!
    private var engine: TransferEngine!
    private var descriptors: [Int32] = []

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
        var template = Array("/dev/shm/bits-hostile-XXXXXX".utf8CString)
        sourceDirectory = mkdtemp(&template).map { String(cString: $0) } ?? directory.path
        delegate = RecordingDelegate()
        engine = TransferEngine(delegate: delegate, userAgent: "bitsd-test/1.0")
    }

    override func tearDown() {
        engine?.shutdown()
        for fd in descriptors { close(fd) }
        descriptors = []
        if sourceDirectory != directory?.path { try? FileManager.default.removeItem(atPath: sourceDirectory) }
        directory?.remove()
    }

    private func source(_ content: [UInt8], mtime: Int) throws -> (fd: Int32, size: UInt64) {
        let path = sourceDirectory + "/source-\(descriptors.count)"
        writeAll(path, content)
        var times = [timespec(tv_sec: mtime, tv_nsec: 0), timespec(tv_sec: mtime, tv_nsec: 0)]
        guard utimensat(AT_FDCWD, path, &times, 0) == 0 else {
            throw XCTSkip("this file system cannot store the mtime \(mtime): errno \(errno)")
        }
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)
        guard st.st_mtim.tv_sec == mtime else { throw XCTSkip("this file system stored \(st.st_mtim.tv_sec) for \(mtime)") }
        let fd = openFile(path, flags: O_RDONLY)
        descriptors.append(fd)
        return (fd, UInt64(content.count))
    }

    private func copy(id: TransferID, from source: (fd: Int32, size: UInt64), resume: UInt64 = 0,
                      ifRange: String? = nil, prefill: [UInt8] = []) -> (path: String, outcome: TransferOutcome?) {
        let path = directory.file("out-\(id)")
        writeAll(path, prefill)
        let fd = openFile(path)
        descriptors.append(fd)
        engine.start(DownloadRequest(id: id, source: .localFile(descriptor: source.fd, size: source.size),
                                     destinationDescriptor: fd, resumeOffset: resume, ifRange: ifRange))
        let outcome = delegate.waitForEnd(id)
        delegate.assertWellOrdered(id)
        return (path, outcome)
    }

    func testFarFutureModificationTimeIsUnknown() throws {
        let content = generatedBytes(0..<100_000)
        let far = try source(content, mtime: 100_000_000_000_000)
        let result = copy(id: 1, from: far)
        XCTAssertEqual(result.outcome, .finished(bytesOnDisk: UInt64(content.count)))
        XCTAssertTrue(readAll(result.path) == content)
        let info = try XCTUnwrap(delegate.response(1))
        XCTAssertNil(info.lastModifiedText, "no HTTP date names the year 3170843")
        XCTAssertEqual(info.lastModifiedMicroseconds, 0)
        // A resume can never match such a source: the copy restarts from 0.
        let resumed = copy(id: 2, from: far, resume: 1000, ifRange: "Fri, 31 Dec 9999 23:59:59 GMT",
                           prefill: [UInt8](repeating: 0xEE, count: 1000))
        XCTAssertEqual(resumed.outcome, .finished(bytesOnDisk: UInt64(content.count)))
        XCTAssertEqual(delegate.response(2)?.writeOffset, 0)
        XCTAssertTrue(readAll(resumed.path) == content)
    }

    func testLastRepresentableModificationTime() throws {
        let content = generatedBytes(0..<5000)
        let last = try source(content, mtime: 253_402_300_799)
        XCTAssertEqual(copy(id: 3, from: last).outcome, .finished(bytesOnDisk: 5000))
        let info = try XCTUnwrap(delegate.response(3))
        XCTAssertEqual(info.lastModifiedText, "Fri, 31 Dec 9999 23:59:59 GMT")
        XCTAssertEqual(info.lastModifiedMicroseconds, 253_402_300_799_000_000)
    }
}

private extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
