import BitsCore
import BitsTransfer
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The engine against the loopback fault server (Tests/Support/faultserver.py).
final class EngineHTTPTests: EngineTestCase {
    /// A request for `path` on the fault server, with a stall timeout.
    private func request(_ path: String, fd: Int32, resume: UInt64 = 0, ifRange: String? = nil,
                         stall: UInt32 = 30, rate: UInt64 = 0) -> DownloadRequest {
        var request = request(url: server.url(path), fd: fd, resume: resume, ifRange: ifRange, rate: rate)
        request.stallTimeoutSeconds = stall
        return request
    }

    // MARK: - Tests

    func testFullDownload() throws {
        let size = 3 * 1024 * 1024 + 123
        let out = destination()
        let req = request("/_gen/\(size)", fd: out.fd)
        XCTAssertEqual(download(req), .finished(bytesOnDisk: UInt64(size)))
        XCTAssertTrue(readAll(out.path) == generatedBytes(0..<size), "content differs")
        let info = try XCTUnwrap(delegate.response(req.id))
        XCTAssertEqual(info.status, 200)
        XCTAssertEqual(info.totalSize, UInt64(size))
        XCTAssertEqual(info.writeOffset, 0)
        XCTAssertEqual(info.entityTag, "\"gen-\(size)\"")
        XCTAssertEqual(info.lastModifiedText, "Wed, 01 Jan 2020 00:00:00 GMT")
        XCTAssertEqual(info.lastModifiedMicroseconds, 1_577_836_800_000_000)
        XCTAssertTrue(info.acceptsRanges)
        XCTAssertEqual(info.effectiveURL, server.url("/_gen/\(size)"))
        XCTAssertTrue(info.headerBlock.hasPrefix("HTTP/1.1 200"), info.headerBlock)
        let logged = try XCTUnwrap(server.requests().last)
        XCTAssertEqual((logged["headers"] as? [String: String])?["User-Agent"], "bitsd-test/1.0")
        XCTAssertNil((logged["headers"] as? [String: String])?["Accept-Encoding"])
    }

    func testResumeWithRangeHonoured() throws {
        let size = 2 * 1024 * 1024
        let offset = 700_001
        let out = destination(prefill: generatedBytes(0..<offset))
        let etag = "\"gen-\(size)\""
        let req = request("/_gen/\(size)", fd: out.fd, resume: UInt64(offset), ifRange: etag)
        XCTAssertEqual(download(req), .finished(bytesOnDisk: UInt64(size)))
        XCTAssertTrue(readAll(out.path) == generatedBytes(0..<size), "content differs")
        let info = try XCTUnwrap(delegate.response(req.id))
        XCTAssertEqual(info.status, 206)
        XCTAssertEqual(info.writeOffset, UInt64(offset))
        XCTAssertEqual(info.totalSize, UInt64(size))
        let logged = try XCTUnwrap(server.requests().last)
        XCTAssertEqual(logged["range"] as? String, "bytes=\(offset)-")
        XCTAssertEqual(logged["if_range"] as? String, etag)
        XCTAssertEqual(logged["status"] as? Int, 206)
    }

    func testServerIgnoringRangeTruncatesAndRestarts() throws {
        let size = 1024 * 1024
        // A longer, wrong prefix: it must be truncated away.
        let out = destination(prefill: [UInt8](repeating: 0xAA, count: size + 5000))
        let req = request("/_gen/\(size)?fault=norange", fd: out.fd, resume: UInt64(size / 2))
        XCTAssertEqual(download(req), .finished(bytesOnDisk: UInt64(size)))
        XCTAssertTrue(readAll(out.path) == generatedBytes(0..<size), "content differs")
        let info = try XCTUnwrap(delegate.response(req.id))
        XCTAssertEqual(info.status, 200)
        XCTAssertEqual(info.writeOffset, 0)
        XCTAssertFalse(info.acceptsRanges)
    }

    func testChangedValidatorRestartsFromZero() throws {
        let size = 300_000
        let out = destination(prefill: [UInt8](repeating: 0x55, count: 1000))
        let req = request("/_gen/\(size)", fd: out.fd, resume: 1000, ifRange: "\"stale-etag\"")
        XCTAssertEqual(download(req), .finished(bytesOnDisk: UInt64(size)))
        XCTAssertTrue(readAll(out.path) == generatedBytes(0..<size), "content differs")
        XCTAssertEqual(delegate.response(req.id)?.status, 200)
        XCTAssertEqual(delegate.response(req.id)?.writeOffset, 0)
        XCTAssertEqual(server.requests().last?["if_range"] as? String, "\"stale-etag\"")
    }

    func testAlreadyCompleteFileAnswered416() throws {
        let size = 10_000
        let out = destination(prefill: generatedBytes(0..<size))
        let req = request("/_gen/\(size)", fd: out.fd, resume: UInt64(size))
        XCTAssertEqual(download(req), .finished(bytesOnDisk: UInt64(size)))
        XCTAssertTrue(readAll(out.path) == generatedBytes(0..<size))
        let info = try XCTUnwrap(delegate.response(req.id))
        XCTAssertEqual(info.status, 416)
        XCTAssertEqual(info.totalSize, UInt64(size))
    }

    func testNotFoundWritesNothing() throws {
        let out = destination()
        let req = request("/missing.bin", fd: out.fd)
        XCTAssertEqual(download(req), .failed(.httpStatus(404, retryAfterSeconds: nil), bytesOnDisk: 0))
        XCTAssertEqual(readAll(out.path).count, 0)
        XCTAssertNil(delegate.response(req.id), "an error page is not the file")

        // While resuming, the prefix stays as it was.
        let prefix = generatedBytes(0..<1000)
        let out2 = destination("out2", prefill: prefix)
        let req2 = request("/_gen/5000?fault=status&code=404", fd: out2.fd, resume: 1000)
        XCTAssertEqual(download(req2), .failed(.httpStatus(404, retryAfterSeconds: nil), bytesOnDisk: 1000))
        XCTAssertEqual(readAll(out2.path), prefix)
    }

    func testServiceUnavailableWithRetryAfter() {
        let out = destination()
        let req = request("/_gen/5000?fault=status&code=503&retry-after=7", fd: out.fd)
        XCTAssertEqual(download(req), .failed(.httpStatus(503, retryAfterSeconds: 7), bytesOnDisk: 0))
        XCTAssertEqual(readAll(out.path).count, 0)
    }

    func testDropMidBodyKeepsValidPrefix() throws {
        let size = 1024 * 1024
        let out = destination()
        let req = request("/_gen/\(size)?fault=drop&after=300000", fd: out.fd)
        let (failure, bytes) = try XCTUnwrap(failure(download(req)))
        guard case .connectionReset(let message) = failure else { return XCTFail("got \(failure)") }
        XCTAssertTrue(message.contains(server.url("/_gen/")), message)
        XCTAssertEqual(bytes, 300_000)
        XCTAssertTrue(readAll(out.path) == generatedBytes(0..<300_000))

        // Resumed, the prefix counts too.
        let out2 = destination("out2", prefill: generatedBytes(0..<100_000))
        let req2 = request("/_gen/\(size)?fault=drop&after=200000", fd: out2.fd, resume: 100_000)
        let (failure2, bytes2) = try XCTUnwrap(self.failure(download(req2)))
        guard case .connectionReset = failure2 else { return XCTFail("got \(failure2)") }
        XCTAssertEqual(bytes2, 300_000)
        XCTAssertTrue(readAll(out2.path) == generatedBytes(0..<300_000))
    }

    func testConnectionRefused() throws {
        let out = destination()
        let req = DownloadRequest(id: 99, source: .url("http://127.0.0.1:\(closedLoopbackPort())/x"),
                                  destinationDescriptor: out.fd, resumeOffset: 0)
        let (failure, bytes) = try XCTUnwrap(failure(download(req)))
        guard case .connectionRefused(let message) = failure else { return XCTFail("got \(failure)") }
        XCTAssertTrue(message.contains("http://127.0.0.1:"), message)
        XCTAssertEqual(bytes, 0)
    }

    func testStallIsReported() throws {
        let out = destination()
        let started = Date()
        let req = request("/_gen/1000000?fault=stall&after=100000&seconds=30", fd: out.fd, stall: 2)
        let (failure, bytes) = try XCTUnwrap(failure(download(req)))
        guard case .stalled = failure else { return XCTFail("got \(failure)") }
        XCTAssertEqual(bytes, 100_000)
        // curl's low-speed check averages over a ~5 s window, then waits LOW_SPEED_TIME.
        XCTAssertLessThan(Date().timeIntervalSince(started), 12)
        XCTAssertTrue(readAll(out.path) == generatedBytes(0..<100_000))
    }

    func testCancelMidTransfer() throws {
        let out = destination()
        let req = request("/_gen/20M?rate=2000000", fd: out.fd)
        engine.start(req)
        XCTAssertTrue(delegate.wait(req.id) { events in
            events.filter { if case .progress = $0 { return true } else { return false } }.count >= 3
        })
        engine.cancel(id: req.id)
        let outcome = try XCTUnwrap(delegate.waitForEnd(req.id))
        guard case .cancelled(let bytes) = outcome else { return XCTFail("got \(outcome)") }
        XCTAssertGreaterThan(bytes, 0)
        XCTAssertLessThan(bytes, 20 * 1024 * 1024)
        delegate.assertWellOrdered(req.id)
        let content = readAll(out.path)
        XCTAssertGreaterThanOrEqual(content.count, Int(bytes))
        XCTAssertTrue(Array(content.prefix(Int(bytes))) == generatedBytes(0..<Int(bytes)))
        // Progress is time-based: at most about every 100 ms.
        let times = delegate.records(req.id).compactMap { record -> UInt64? in
            if case .progress = record.event { return record.time } else { return nil }
        }
        for (a, b) in zip(times, times.dropFirst()) { XCTAssertGreaterThanOrEqual(b - a, 95_000_000) }
        engine.cancel(id: req.id)  // finished id: no-op
        engine.cancel(id: 12345)   // unknown id: no-op
        usleep(100_000)
        XCTAssertEqual(delegate.events(req.id).count, delegate.records(req.id).count)
        delegate.assertWellOrdered(req.id)
    }

    func testRateCap() {
        let out = destination()
        let started = Date()
        // 2 MiB at 2 MB/s with a quarter second of burst: about 0.8 s.
        let size = 2 * 1024 * 1024
        let req = request("/_gen/\(size)", fd: out.fd, rate: 2_000_000)
        XCTAssertEqual(download(req), .finished(bytesOnDisk: UInt64(size)))
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertGreaterThan(elapsed, 0.7)
        XCTAssertLessThan(elapsed, 2.5)
        XCTAssertTrue(readAll(out.path) == generatedBytes(0..<size))
    }

    func testTwoTransfersInParallel() {
        let size = 2_000_000
        let a = destination("a"), b = destination("b")
        // Each is throttled by the server to ~1 s. They run in parallel when each one's
        // progress began before the other's ended (one after the other, they could not
        // overlap); no wall-time limit, which a loaded machine would break.
        let ra = request("/_gen/\(size)?rate=2000000&tag=a", fd: a.fd)
        let rb = request("/_gen/\(size)?rate=2000000&tag=b", fd: b.fd)
        engine.start(ra)
        engine.start(rb)
        XCTAssertEqual(delegate.waitForEnd(ra.id), .finished(bytesOnDisk: UInt64(size)))
        XCTAssertEqual(delegate.waitForEnd(rb.id), .finished(bytesOnDisk: UInt64(size)))
        func progressTimes(_ id: TransferID) -> [UInt64] {
            delegate.records(id).compactMap { record in
                if case .progress = record.event { return record.time } else { return nil }
            }
        }
        let ta = progressTimes(ra.id), tb = progressTimes(rb.id)
        if let firstA = ta.first, let lastA = ta.last, let firstB = tb.first, let lastB = tb.last {
            XCTAssertLessThan(firstB, lastA, "b's transfer began only after a's had ended")
            XCTAssertLessThan(firstA, lastB, "a's transfer began only after b's had ended")
        } else {
            XCTFail("no progress events: a \(ta.count), b \(tb.count)")
        }
        delegate.assertWellOrdered(ra.id)
        delegate.assertWellOrdered(rb.id)
        XCTAssertTrue(readAll(a.path) == generatedBytes(0..<size))
        XCTAssertTrue(readAll(b.path) == generatedBytes(0..<size))
    }

    func testConnectionReuseAcrossSequentialDownloads() {
        server.resetLog()
        for i in 0..<20 {
            let out = destination("small\(i)")
            let req = request("/_gen/\(10_000 + i)?tag=\(i)", fd: out.fd)
            XCTAssertEqual(download(req), .finished(bytesOnDisk: UInt64(10_000 + i)))
        }
        let log = server.requests().filter { ($0["path"] as? String)?.hasPrefix("/_gen/") == true }
        XCTAssertEqual(log.count, 20)
        XCTAssertEqual(Set(log.compactMap { $0["connection_id"] as? Int }).count, 1)
    }

    func testRedirectIsFollowed() throws {
        let out = destination()
        let target = server.url("/_gen/5000")
        let req = request("/start?redirect=\(target)&code=302", fd: out.fd)
        XCTAssertEqual(download(req), .finished(bytesOnDisk: 5000))
        XCTAssertEqual(delegate.response(req.id)?.effectiveURL, target)
        XCTAssertTrue(readAll(out.path) == generatedBytes(0..<5000))
    }

    func testRedirectToOtherProtocolIsDenied() throws {
        let out = destination()
        let req = request("/start?redirect=ftp://127.0.0.1/file&code=302", fd: out.fd)
        let (failure, _) = try XCTUnwrap(failure(download(req)))
        guard case .redirectDenied = failure else { return XCTFail("got \(failure)") }
    }

    func testUnknownLengthBody() throws {
        let out = destination()
        let req = request("/_gen/100000?fault=nolength", fd: out.fd)
        XCTAssertEqual(download(req), .finished(bytesOnDisk: 100_000))
        XCTAssertNil(delegate.response(req.id)?.totalSize)
        XCTAssertTrue(readAll(out.path) == generatedBytes(0..<100_000))
    }

    func testDiskFull() throws {
        let fd = openFile("/dev/full", flags: O_WRONLY)
        descriptors.append(fd)
        let req = request("/_gen/100000", fd: fd)
        let (failure, bytes) = try XCTUnwrap(failure(download(req)))
        guard case .diskFull(let message) = failure else { return XCTFail("got \(failure)") }
        XCTAssertTrue(message.contains("/dev/full") && message.contains(server.url("/_gen/")), message)
        XCTAssertEqual(bytes, 0)
    }

    func testUnwritableDestination() throws {
        let path = directory.file("readonly")
        writeAll(path, [])
        let fd = openFile(path, flags: O_RDONLY)
        descriptors.append(fd)
        let (failure, _) = try XCTUnwrap(failure(download(request("/_gen/1000", fd: fd))))
        guard case .localIO = failure else { return XCTFail("got \(failure)") }
    }

    func testNonHTTPURLFailsImmediately() throws {
        let out = destination()
        let req = DownloadRequest(id: 77, source: .url("ftp://127.0.0.1/x"), destinationDescriptor: out.fd)
        let (failure, _) = try XCTUnwrap(failure(download(req)))
        guard case .protocolError = failure else { return XCTFail("got \(failure)") }
    }

    func testShutdownCancelsRunningTransfers() throws {
        let out = destination()
        let req = request("/_gen/20M?rate=1000000", fd: out.fd)
        engine.start(req)
        XCTAssertTrue(delegate.wait(req.id) { !$0.isEmpty })
        engine.shutdown()
        guard case .cancelled = try XCTUnwrap(delegate.waitForEnd(req.id, timeout: 0)) else { return XCTFail() }
        delegate.assertWellOrdered(req.id)
        engine.shutdown()  // idempotent
        let late = request("/_gen/10", fd: out.fd)
        engine.start(late)
        XCTAssertEqual(delegate.waitForEnd(late.id, timeout: 0), .cancelled(bytesOnDisk: 0))
    }
}
