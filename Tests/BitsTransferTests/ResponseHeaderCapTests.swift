import BitsCore
@testable import BitsTransfer
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Server-controlled text the engine keeps is bounded: the header block (ResponseHeaders, an
/// upload packet's answer) at 64 KiB of whole lines, validators, and dates no HTTP date can
/// name — against the fault server's `headerpad` and `lastmod-text` switches.
final class ResponseHeaderCapTests: EngineTestCase {
    private let cap = HeaderParsing.maxHeaderBlockBytes

    /// Checks that `block` is whole lines, starts with the status line, holds the regular
    /// headers and as many 1000-byte pad lines as fit under the cap.
    private func assertCut(_ block: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertLessThanOrEqual(block.utf8.count, cap, file: file, line: line)
        XCTAssertTrue(block.hasPrefix("HTTP/1.1 200"), file: file, line: line)
        XCTAssertTrue(block.hasSuffix("\r\n"), "not cut at a line end", file: file, line: line)
        XCTAssertTrue(block.contains("\r\nContent-Length: 1000\r\n"), file: file, line: line)
        let pads = block.components(separatedBy: "\r\n").filter { $0.hasPrefix("X-Pad-") }
        XCTAssertFalse(pads.isEmpty, file: file, line: line)
        XCTAssertTrue(pads.allSatisfy { $0.utf8.count + 2 == 1000 }, "a pad line was cut", file: file, line: line)
        XCTAssertGreaterThan(block.utf8.count + 1000, cap, "the next pad line would have fitted", file: file, line: line)
    }

    func testNinetyKilobyteHeaderBlockIsCutAt64KiB() throws {
        let out = destination()
        let req = request(url: server.url("/_gen/1000?headerpad=92160"), fd: out.fd)
        XCTAssertEqual(download(req), .finished(bytesOnDisk: 1000))
        XCTAssertTrue(readAll(out.path) == generatedBytes(0..<1000))
        let info = try XCTUnwrap(delegate.response(req.id))
        assertCut(info.headerBlock)
        XCTAssertEqual(info.totalSize, 1000, "headers before the cut are used")
        XCTAssertEqual(info.entityTag, "\"gen-1000\"")
    }

    func testTenMegabyteHeaderBlockFailsWithoutGrowing() throws {
        let out = destination()
        let req = request(url: server.url("/_gen/1000?headerpad=10485760"), fd: out.fd)
        let outcome = download(req)
        XCTAssertNil(delegate.response(req.id), "the block never ended: nothing to report")
        let (failure, bytes) = try XCTUnwrap(failure(outcome))
        XCTAssertEqual(bytes, 0)
        guard case .protocolError(let text) = failure else { return XCTFail("\(failure)") }
        XCTAssertTrue(text.contains("header block of more than 65536 bytes"), text)
        XCTAssertEqual(FailureClassifier.classify(failure).disposition, .fatal)
    }

    func testExchangeAnswerHeadersAreCut() throws {
        let recorder = ExchangeRecorder()
        let exchangeEngine = TransferEngine(delegate: recorder, userAgent: "bitsd-test/1.0")
        defer { exchangeEngine.shutdown() }
        exchangeEngine.exchange(ExchangeRequest(id: 77, url: server.url("/_gen/1000?headerpad=92160"), method: "POST"))
        guard case .response(let response) = recorder.wait(77) else { return XCTFail("no response") }
        XCTAssertEqual(response.status, 200)
        let size = response.headers.reduce("HTTP/1.1 200 OK\r\n".utf8.count) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
        XCTAssertLessThanOrEqual(size, cap)
        XCTAssertEqual(response.value("Content-Length"), "1000")
        XCTAssertGreaterThan(response.headers.filter { $0.name.hasPrefix("X-Pad-") }.count, 50)
    }

    /// Reported trap 1, end to end: the engine reports such a date as unknown.
    func testLastModifiedInTheYear999999() throws {
        let out = destination()
        let text = "Sat, 01 Jan 999999 00:00:00 GMT"
        let req = request(url: server.url("/_gen/1000?lastmod-text=Sat,%2001%20Jan%20999999%2000:00:00%20GMT"), fd: out.fd)
        XCTAssertEqual(download(req), .finished(bytesOnDisk: 1000))
        let info = try XCTUnwrap(delegate.response(req.id))
        XCTAssertEqual(info.lastModifiedText, text, "kept as a validator: the server sends it back the same")
        XCTAssertEqual(info.lastModifiedMicroseconds, 0)
    }

    func testOversizedValidatorsAreDropped() throws {
        let out = destination()
        let long = String(repeating: "x", count: HeaderParsing.maxLastModifiedBytes + 1)
        let req = request(url: server.url("/_gen/1000?lastmod-text=\(long)"), fd: out.fd)
        XCTAssertEqual(download(req), .finished(bytesOnDisk: 1000))
        let info = try XCTUnwrap(delegate.response(req.id))
        XCTAssertNil(info.lastModifiedText)
        XCTAssertEqual(info.lastModifiedMicroseconds, 0)
        XCTAssertTrue(info.headerBlock.contains("Last-Modified: \(long)\r\n"), "ResponseHeaders still shows it")
        XCTAssertEqual(HeaderParsing.boundedValue(String(repeating: "e", count: 1024), limit: HeaderParsing.maxEntityTagBytes)?.count, 1024)
        XCTAssertNil(HeaderParsing.boundedValue(String(repeating: "e", count: 1025), limit: HeaderParsing.maxEntityTagBytes))
    }

    /// RedirectPolicy allow-report makes the effective URL the file's RemoteName: only a URL
    /// AddFile would take (at most 2,200 characters) is reported.
    func testOverlongEffectiveURLIsNotReported() throws {
        let short = server.url("/_gen/1000?tag=short")
        let long = server.url("/_gen/1000?tag=" + String(repeating: "L", count: JobDefaults.urlMaxLength))
        for (target, reported) in [(short, short), (long, "")] {
            let out = destination("out-\(reported.isEmpty)")
            let req = request(url: server.url("/start?redirect=\(target)"), fd: out.fd)
            XCTAssertEqual(download(req), .finished(bytesOnDisk: 1000))
            XCTAssertEqual(delegate.response(req.id)?.effectiveURL, reported)
        }
    }

    func testQuotedServerTextIsClipped() {
        XCTAssertEqual(HeaderParsing.clipped("short"), "short")
        let long = String(repeating: "é", count: 2000)  // 4000 bytes
        let clipped = HeaderParsing.clipped(long)
        XCTAssertTrue(clipped.hasSuffix("…"))
        XCTAssertLessThanOrEqual(clipped.dropLast().utf8.count, HeaderParsing.maxQuotedServerTextBytes)
        XCTAssertEqual(clipped.dropLast().utf8.count, HeaderParsing.maxQuotedServerTextBytes, "é is 2 bytes: 512 fit")
        XCTAssertTrue(long.hasPrefix(String(clipped.dropLast())))
    }
}
