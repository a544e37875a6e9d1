import BitsCore
import BitsTransfer
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Files with byte ranges (AddFileWithRanges): one request per range, written back to back.
final class EngineRangeTests: EngineTestCase {
    private func ranges(_ list: [(UInt64, UInt64)]) -> HTTPOptions {
        var options = HTTPOptions()
        options.ranges = list.map { ByteRange(offset: $0.0, length: $0.1) }
        return options
    }

    /// The expected destination: the /_gen slices of the ranges, back to back.
    private func expected(_ list: [(Int, Int)]) -> [UInt8] {
        list.flatMap { generatedBytes($0.0..<($0.0 + $0.1)) }
    }

    private func loggedRanges() -> [String] {
        server.requests().compactMap { $0["range"] as? String }
    }

    func testThreeRangesBackToBack() throws {
        let out = destination(prefill: [UInt8](repeating: 0xEE, count: 100_000))  // truncated away
        let req = request(url: server.url("/_gen/1000000"), fd: out.fd,
                          http: ranges([(10, 1000), (300_000, 70_000), (999_000, 500)]))
        XCTAssertEqual(download(req), .finished(bytesOnDisk: 71_500))
        XCTAssertTrue(readAll(out.path) == expected([(10, 1000), (300_000, 70_000), (999_000, 500)]), "content differs")
        let info = try XCTUnwrap(delegate.response(req.id))
        XCTAssertEqual(info.status, 206)
        XCTAssertEqual(info.totalSize, 71_500)
        XCTAssertEqual(info.writeOffset, 0)
        XCTAssertTrue(info.acceptsRanges)
        XCTAssertEqual(loggedRanges(), ["bytes=10-1009", "bytes=300000-369999", "bytes=999000-999499"])
        // One connection for all ranges.
        XCTAssertEqual(Set(server.requests().compactMap { $0["connection_id"] as? Int }).count, 1)
    }

    func testRangeToTheEnd() throws {
        let out = destination()
        let req = request(url: server.url("/_gen/1000000"), fd: out.fd,
                          http: ranges([(5000, 100), (900_000, UInt64.max)]))
        XCTAssertEqual(download(req), .finished(bytesOnDisk: 100_100))
        XCTAssertTrue(readAll(out.path) == expected([(5000, 100), (900_000, 100_000)]))
        XCTAssertEqual(delegate.response(req.id)?.totalSize, 100_100)
        XCTAssertEqual(loggedRanges(), ["bytes=5000-5099", "bytes=900000-"])
    }

    func testResumeInsideTheSecondRangeAfterADrop() throws {
        // The first two requests drop the connection after 60000 body bytes: the first range
        // (50000 bytes) arrives whole, the second breaks after 60000 of its 100000 bytes.
        let url = server.url("/_gen/600000?fault=drop&after=60000&times=2")
        let list: [(UInt64, UInt64)] = [(1000, 50_000), (200_000, 100_000), (500_000, UInt64.max)]
        let whole = expected([(1000, 50_000), (200_000, 100_000), (500_000, 100_000)])
        let out = destination()
        let first = request(url: url, fd: out.fd, http: ranges(list))
        let (failure, bytes) = try XCTUnwrap(failure(download(first)))
        guard case .connectionReset = failure else { return XCTFail("got \(failure)") }
        XCTAssertEqual(bytes, 110_000)
        XCTAssertTrue(readAll(out.path) == Array(whole.prefix(110_000)))

        let before = server.requests().count  // (no resetLog: it would reset the `times` counters too)
        let again = request(url: url, fd: out.fd, resume: bytes, ifRange: "\"gen-600000\"", http: ranges(list))
        XCTAssertEqual(download(again), .finished(bytesOnDisk: 250_000))
        XCTAssertTrue(readAll(out.path) == whole, "content differs")
        let info = try XCTUnwrap(delegate.response(again.id))
        XCTAssertEqual(info.writeOffset, 110_000)
        XCTAssertEqual(info.totalSize, 250_000)
        XCTAssertEqual(Array(loggedRanges().dropFirst(before)), ["bytes=260000-299999", "bytes=500000-"])
        XCTAssertTrue(delegate.progress(again.id).allSatisfy { $0 >= 110_000 && $0 <= 250_000 })
    }

    func testResumeWithAChangedValidatorStartsOver() throws {
        let out = destination(prefill: [UInt8](repeating: 0x33, count: 700))
        let req = request(url: server.url("/_gen/100000"), fd: out.fd, resume: 700, ifRange: "\"stale\"",
                          http: ranges([(0, 500), (50_000, 1000)]))
        XCTAssertEqual(download(req), .finished(bytesOnDisk: 1500))
        XCTAssertTrue(readAll(out.path) == expected([(0, 500), (50_000, 1000)]))
        XCTAssertEqual(delegate.response(req.id)?.writeOffset, 0)
        XCTAssertEqual(loggedRanges(), ["bytes=50200-50999", "bytes=0-499", "bytes=50000-50999"])
    }

    func testAlreadyCompleteRanges() throws {
        // Known lengths: nothing to ask for.
        let done = expected([(100, 10), (200, 20)])
        let out = destination(prefill: done)
        let req = request(url: server.url("/_gen/1000"), fd: out.fd, resume: 30, http: ranges([(100, 10), (200, 20)]))
        XCTAssertEqual(download(req), .finished(bytesOnDisk: 30))
        XCTAssertTrue(server.requests().isEmpty)
        XCTAssertEqual(readAll(out.path), done)

        // A to-EOF range resumed at its end: the server's 416 tells it is complete.
        let done2 = expected([(100, 10), (900, 100)])
        let out2 = destination("out2", prefill: done2)
        let req2 = request(url: server.url("/_gen/1000"), fd: out2.fd, resume: 110, http: ranges([(100, 10), (900, UInt64.max)]))
        XCTAssertEqual(download(req2), .finished(bytesOnDisk: 110))
        XCTAssertEqual(delegate.response(req2.id)?.status, 416)
        XCTAssertEqual(delegate.response(req2.id)?.totalSize, 110)
        XCTAssertEqual(readAll(out2.path), done2)
    }

    func testServerIgnoringRangesIsRangeUnsupported() throws {
        let url = server.url("/_gen/100000?fault=norange")
        let out = destination()
        let req = request(url: url, fd: out.fd, http: ranges([(10, 100), (5000, 100)]))
        let (failure, bytes) = try XCTUnwrap(failure(download(req)))
        guard case .rangeUnsupported(let text) = failure else { return XCTFail("got \(failure)") }
        XCTAssertTrue(text.contains(url), text)
        XCTAssertEqual(bytes, 0)
        XCTAssertEqual(readAll(out.path).count, 0)
        XCTAssertNil(delegate.response(req.id))
    }

    func testRangeBeyondTheEndIsRangeUnsupported() throws {
        let url = server.url("/_gen/100000")
        // The server answers 416.
        let out = destination()
        let req = request(url: url, fd: out.fd, http: ranges([(200_000, 10)]))
        let (failure, bytes) = try XCTUnwrap(failure(download(req)))
        guard case .rangeUnsupported(let text) = failure else { return XCTFail("got \(failure)") }
        XCTAssertTrue(text.contains(url) && text.contains("beyond the end"), text)
        XCTAssertEqual(bytes, 0)

        // A later range beyond the end fails before anything is written.
        let out2 = destination("out2")
        let req2 = request(url: url, fd: out2.fd, http: ranges([(0, 10), (99_995, 10)]))
        let (failure2, bytes2) = try XCTUnwrap(self.failure(download(req2)))
        guard case .rangeUnsupported(let text2) = failure2 else { return XCTFail("got \(failure2)") }
        XCTAssertTrue(text2.contains(url) && text2.contains("beyond the end"), text2)
        XCTAssertEqual(bytes2, 0)
        XCTAssertEqual(readAll(out2.path).count, 0)
    }

    func testRangesCountTowardsTheMaximumSize() throws {
        let out = destination()
        var options = ranges([(0, 600), (1000, 600)])
        options.maximumSize = 1000
        let req = request(url: server.url("/_gen/5000"), fd: out.fd, http: options)
        let (failure, _) = try XCTUnwrap(failure(download(req)))
        guard case .maximumDownloadSizeExceeded(let text) = failure else { return XCTFail("got \(failure)") }
        XCTAssertTrue(text.contains("1000"), text)
        XCTAssertEqual(readAll(out.path).count, 0)
    }
}
