import BitsCore
@testable import BitsTransfer
import CCurl
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class HeaderParsingTests: XCTestCase {
    func testStatusLine() {
        XCTAssertEqual(HeaderParsing.statusCode(ofStatusLine: "HTTP/1.1 206 Partial Content\r\n"), 206)
        XCTAssertEqual(HeaderParsing.statusCode(ofStatusLine: "HTTP/2 200\r\n"), 200)
        XCTAssertEqual(HeaderParsing.statusCode(ofStatusLine: "HTTP/1.0 404 Not Found"), 404)
        XCTAssertNil(HeaderParsing.statusCode(ofStatusLine: "Content-Length: 5\r\n"))
        XCTAssertNil(HeaderParsing.statusCode(ofStatusLine: "HTTP/1.1 2000 Odd\r\n"))
        XCTAssertNil(HeaderParsing.statusCode(ofStatusLine: "\r\n"))
        // Byte-level edge cases: repeated spaces, a bare LF, codes that are not three digits.
        XCTAssertEqual(HeaderParsing.statusCode(ofStatusLine: "HTTP/1.1  304  Not Modified\n"), 304)
        XCTAssertEqual(HeaderParsing.statusCode(ofStatusLine: "HTTP/1.1 100"), 100)
        XCTAssertNil(HeaderParsing.statusCode(ofStatusLine: "HTTP/1.1 099 Low\r\n"))
        XCTAssertNil(HeaderParsing.statusCode(ofStatusLine: "HTTP/1.1 +12 Sign\r\n"))
        XCTAssertNil(HeaderParsing.statusCode(ofStatusLine: "HTTP/1.1 20x\r\n"))
        XCTAssertNil(HeaderParsing.statusCode(ofStatusLine: "HTTP/1.1\r\n"))
        XCTAssertNil(HeaderParsing.statusCode(ofStatusLine: "http/1.1 200 OK\r\n"))
    }

    func testTrimming() {
        XCTAssertEqual(HeaderParsing.trimmingLineEnding("Name: v\r\n"), "Name: v")
        XCTAssertEqual(HeaderParsing.trimmingLineEnding("Name: v\n\r\n"), "Name: v")
        XCTAssertEqual(HeaderParsing.trimmingLineEnding("\r\n"), "")
        XCTAssertEqual(HeaderParsing.trimmingLineEnding("café"), "café")
        XCTAssertEqual(" \t é x \r\n".trimmingASCIIWhitespace(), "é x")
        XCTAssertEqual("a b"[...].trimmingASCIIWhitespace(), "a b")
        XCTAssertEqual(" \t\r\n".trimmingASCIIWhitespace(), "")
        XCTAssertTrue("Content-Length".equalsIgnoringASCIICase("content-LENGTH"))
        XCTAssertFalse("Content-Length".equalsIgnoringASCIICase("Content-Lengt"))
        XCTAssertFalse("ÉTag".equalsIgnoringASCIICase("éTag"))  // ASCII case only, as HTTP field names
    }

    func testHeaderBlock() throws {
        let block = try XCTUnwrap(HTTPHeaderBlock(lines: [
            "HTTP/1.1 200 OK\r\n", "Content-Length: 10\r\n", "etag:  \"abc\" \r\n", "X-Empty:\r\n", "\r\n",
        ]))
        XCTAssertEqual(block.status, 200)
        XCTAssertEqual(block.value("content-length"), "10")
        XCTAssertEqual(block.value("ETag"), "\"abc\"")
        XCTAssertEqual(block.value("X-Empty"), "")
        XCTAssertNil(block.value("Last-Modified"))
        XCTAssertEqual(block.raw, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\netag:  \"abc\" \r\nX-Empty:\r\n")
        XCTAssertNil(HTTPHeaderBlock(lines: ["Content-Length: 10\r\n"]))
    }

    func testContentRange() {
        XCTAssertEqual(HeaderParsing.parseContentRange("bytes 100-199/1000"), ContentRange(first: 100, last: 199, total: 1000))
        XCTAssertEqual(HeaderParsing.parseContentRange("bytes 0-0/1"), ContentRange(first: 0, last: 0, total: 1))
        XCTAssertEqual(HeaderParsing.parseContentRange("bytes 5-9/*"), ContentRange(first: 5, last: 9, total: nil))
        XCTAssertEqual(HeaderParsing.parseContentRange("bytes */1000"), ContentRange(first: nil, last: nil, total: 1000))
        XCTAssertEqual(HeaderParsing.parseContentRange(" Bytes  7-8/9 "), ContentRange(first: 7, last: 8, total: 9))
        XCTAssertNil(HeaderParsing.parseContentRange("bytes */*"))
        XCTAssertNil(HeaderParsing.parseContentRange("bytes 9-5/10"))
        XCTAssertNil(HeaderParsing.parseContentRange("bytes 0-10/10"))
        XCTAssertNil(HeaderParsing.parseContentRange("items 0-1/2"))
        XCTAssertNil(HeaderParsing.parseContentRange("bytes 0-1"))
        XCTAssertNil(HeaderParsing.parseContentRange("bytes -1-5/10"))
    }

    func testContentLength() {
        XCTAssertEqual(HeaderParsing.parseContentLength("123"), 123)
        XCTAssertEqual(HeaderParsing.parseContentLength("42, 42"), 42)
        XCTAssertNil(HeaderParsing.parseContentLength("42, 43"))
        XCTAssertNil(HeaderParsing.parseContentLength("-1"))
        XCTAssertNil(HeaderParsing.parseContentLength(nil))
    }

    func testHTTPDates() {
        // The three formats of RFC 7231 §7.1.1.1 for 1994-11-06 08:49:37 UTC.
        XCTAssertEqual(HeaderParsing.parseHTTPDate("Sun, 06 Nov 1994 08:49:37 GMT"), 784_111_777)
        XCTAssertEqual(HeaderParsing.parseHTTPDate("Sunday, 06-Nov-94 08:49:37 GMT"), 784_111_777)
        XCTAssertEqual(HeaderParsing.parseHTTPDate("Sun Nov  6 08:49:37 1994"), 784_111_777)
        XCTAssertNil(HeaderParsing.parseHTTPDate("not a date"))
        XCTAssertEqual(HeaderParsing.lastModifiedMicroseconds("Wed, 01 Jan 2020 00:00:00 GMT"), 1_577_836_800_000_000)
        XCTAssertEqual(HeaderParsing.lastModifiedMicroseconds("garbage"), 0)
        XCTAssertEqual(HeaderParsing.lastModifiedMicroseconds(nil), 0)
    }

    func testHTTPDateFormatting() {
        XCTAssertEqual(HeaderParsing.httpDate(epochSeconds: 784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT")
        XCTAssertEqual(HeaderParsing.httpDate(epochSeconds: 1_577_836_800), "Wed, 01 Jan 2020 00:00:00 GMT")
        XCTAssertEqual(HeaderParsing.httpDate(epochSeconds: 0), "Thu, 01 Jan 1970 00:00:00 GMT")
        for seconds: Int64 in [1, 86_399, 951_782_400, 1_700_000_000, 4_102_444_800] {
            XCTAssertEqual(HeaderParsing.httpDate(epochSeconds: seconds).flatMap(HeaderParsing.parseHTTPDate), seconds)
        }
    }

    func testRetryAfter() {
        let now: Int64 = 784_111_777
        XCTAssertEqual(HeaderParsing.parseRetryAfter("120", now: now), 120)
        XCTAssertEqual(HeaderParsing.parseRetryAfter(" 0 ", now: now), 0)
        XCTAssertEqual(HeaderParsing.parseRetryAfter("99999999999", now: now), UInt32.max)
        XCTAssertEqual(HeaderParsing.parseRetryAfter("Sun, 06 Nov 1994 08:50:37 GMT", now: now), 60)
        XCTAssertEqual(HeaderParsing.parseRetryAfter("Sun, 06 Nov 1994 08:00:00 GMT", now: now), 0)
        XCTAssertNil(HeaderParsing.parseRetryAfter("soon", now: now))
        XCTAssertNil(HeaderParsing.parseRetryAfter("", now: now))
        XCTAssertNil(HeaderParsing.parseRetryAfter("-5", now: now))
    }

    func testAcceptRanges() {
        XCTAssertTrue(HeaderParsing.acceptsByteRanges("bytes"))
        XCTAssertTrue(HeaderParsing.acceptsByteRanges("none, Bytes"))
        XCTAssertFalse(HeaderParsing.acceptsByteRanges("none"))
        XCTAssertFalse(HeaderParsing.acceptsByteRanges(nil))
    }
}

final class HeaderInjectionTests: XCTestCase {
    /// "\r\n" is one Swift Character: the filter must look at scalars.
    func testLineBreaksAreDetectedAsScalars() {
        XCTAssertTrue(CurlEasyTransfer.hasLineBreak("A: b\r\nEvil: c"))
        XCTAssertTrue(CurlEasyTransfer.hasLineBreak("A: b\nEvil: c"))
        XCTAssertTrue(CurlEasyTransfer.hasLineBreak("A: b\r"))
        XCTAssertFalse(CurlEasyTransfer.hasLineBreak("A: b"))
    }
}

final class ResponseDecisionTests: XCTestCase {
    private func decide(_ lines: [String], resume: UInt64) -> ResponseDecision {
        let block = HTTPHeaderBlock(lines: lines)!
        return ResponseDecision.decide(block, resumeOffset: resume, url: "http://127.0.0.1/x", now: 1000)
    }

    func testFullResponse() {
        XCTAssertEqual(decide(["HTTP/1.1 200 OK", "Content-Length: 50"], resume: 0),
                       .body(writeOffset: 0, truncate: false, totalSize: 50))
        XCTAssertEqual(decide(["HTTP/1.1 200 OK"], resume: 0), .body(writeOffset: 0, truncate: false, totalSize: nil))
    }

    func testIgnoredRangeRestartsAtZero() {
        XCTAssertEqual(decide(["HTTP/1.1 200 OK", "Content-Length: 50"], resume: 20),
                       .body(writeOffset: 0, truncate: true, totalSize: 50))
    }

    func testPartialContent() {
        XCTAssertEqual(decide(["HTTP/1.1 206 Partial", "Content-Range: bytes 20-49/50", "Content-Length: 30"], resume: 20),
                       .body(writeOffset: 20, truncate: false, totalSize: 50))
        XCTAssertEqual(decide(["HTTP/1.1 206 Partial", "Content-Range: bytes 20-49/*"], resume: 20),
                       .body(writeOffset: 20, truncate: false, totalSize: nil))
    }

    func testPartialContentAtWrongOffsetIsProtocolError() {
        guard case .protocolError = decide(["HTTP/1.1 206 Partial", "Content-Range: bytes 0-49/50"], resume: 20) else {
            return XCTFail("expected a protocol error")
        }
        guard case .protocolError = decide(["HTTP/1.1 206 Partial", "Content-Type: multipart/byteranges"], resume: 20) else {
            return XCTFail("expected a protocol error")
        }
    }

    func testRangeNotSatisfiableAtTheEndMeansComplete() {
        XCTAssertEqual(decide(["HTTP/1.1 416 Range Not Satisfiable", "Content-Range: bytes */50"], resume: 50),
                       .alreadyComplete(size: 50))
        XCTAssertEqual(decide(["HTTP/1.1 416 Range Not Satisfiable", "Content-Range: bytes */40"], resume: 50),
                       .httpError(416, retryAfterSeconds: nil))
        XCTAssertEqual(decide(["HTTP/1.1 416 Range Not Satisfiable"], resume: 50), .httpError(416, retryAfterSeconds: nil))
    }

    func testErrorStatuses() {
        XCTAssertEqual(decide(["HTTP/1.1 404 Not Found"], resume: 0), .httpError(404, retryAfterSeconds: nil))
        XCTAssertEqual(decide(["HTTP/1.1 503 Busy", "Retry-After: 30"], resume: 0), .httpError(503, retryAfterSeconds: 30))
        XCTAssertEqual(decide(["HTTP/1.1 304 Not Modified"], resume: 0), .httpError(304, retryAfterSeconds: nil))
    }
}

final class FailureMappingTests: XCTestCase {
    func testLocalWriteErrors() {
        func kind(_ code: Int32) -> String {
            switch FailureMapping.writeFailure(errno: code, destination: "/tmp/f", source: "http://127.0.0.1/x") {
            case .diskFull: "diskFull"
            case .localAccessDenied: "accessDenied"
            case .localIO(let message):
                message.contains("http://127.0.0.1/x") && message.contains("/tmp/f") ? "localIO" : "bad message"
            default: "other"
            }
        }
        XCTAssertEqual(kind(ENOSPC), "diskFull")
        XCTAssertEqual(kind(EDQUOT), "diskFull")
        XCTAssertEqual(kind(EACCES), "accessDenied")
        XCTAssertEqual(kind(EPERM), "accessDenied")
        XCTAssertEqual(kind(EIO), "localIO")
    }

    func testCurlCodes() {
        let context = FailureMapping.CurlContext(url: "http://127.0.0.1:1/x", errorText: "detail", connected: false,
                                                 redirected: false, bytesOnDisk: 5, totalSize: 10,
                                                 stallSeconds: 60, connectTimeoutSeconds: 30)
        var connected = context
        connected.connected = true
        var redirected = context
        redirected.redirected = true
        XCTAssertEqual(FailureMapping.failure(for: CURLE_COULDNT_RESOLVE_HOST, context),
                       .dnsFailure("The host name of http://127.0.0.1:1/x could not be resolved (detail)."))
        guard case .connectionRefused = FailureMapping.failure(for: CURLE_COULDNT_CONNECT, context),
              case .timeout = FailureMapping.failure(for: CURLE_OPERATION_TIMEDOUT, context),
              case .stalled = FailureMapping.failure(for: CURLE_OPERATION_TIMEDOUT, connected),
              case .connectionReset = FailureMapping.failure(for: CURLE_PARTIAL_FILE, context),
              case .connectionReset = FailureMapping.failure(for: CURLE_RECV_ERROR, context),
              case .tls = FailureMapping.failure(for: CURLE_PEER_FAILED_VERIFICATION, context),
              case .tls = FailureMapping.failure(for: CURLE_SSL_CONNECT_ERROR, context),
              case .redirectDenied = FailureMapping.failure(for: CURLE_TOO_MANY_REDIRECTS, context),
              case .redirectDenied = FailureMapping.failure(for: CURLE_UNSUPPORTED_PROTOCOL, redirected),
              case .other(let message) = FailureMapping.failure(for: CURLE_BAD_CONTENT_ENCODING, context)
        else { return XCTFail("unexpected mapping") }
        XCTAssertTrue(message.hasPrefix("curl error 61: "), message)
        XCTAssertTrue(message.contains("detail") && message.contains("http://127.0.0.1:1/x"), message)
    }
}

final class RatePacerTests: XCTestCase {
    func testBurstThenPacing() {
        var pacer = RatePacer(cap: 1_000_000)  // burst 250 000 bytes
        let t0: UInt64 = 1_000_000_000
        XCTAssertNil(pacer.admit(200_000, now: t0))
        XCTAssertNil(pacer.admit(50_000, now: t0))
        // 100 000 more need 0.1 s at 1 MB/s.
        XCTAssertEqual(pacer.admit(100_000, now: t0), t0 + 100_000_000)
        XCTAssertEqual(pacer.admit(100_000, now: t0 + 50_000_000), t0 + 100_000_000)
        XCTAssertNil(pacer.admit(100_000, now: t0 + 100_000_000))
        XCTAssertEqual(pacer.admit(1, now: t0 + 100_000_000), t0 + 100_001_000)
    }

    func testSmallCapHasMinimumBurst() {
        var pacer = RatePacer(cap: 1000)
        XCTAssertEqual(pacer.burst, 16 * 1024)
        XCTAssertNil(pacer.admit(16 * 1024, now: 5))
        XCTAssertEqual(pacer.admit(1000, now: 5), 5 + 1_000_000_000)
    }
}
