import BitsCore
import BitsTransfer
import Foundation
import XCTest

/// `start(_:after:)`: a request queued behind a running transfer starts on the engine thread
/// the moment that one finishes, and only then.
final class EngineChainTests: EngineTestCase {
    private func genRequest(_ size: Int, tag: String, fd: Int32, rate: UInt64 = 0) -> DownloadRequest {
        request(url: server.url("/_gen/\(size)?tag=\(tag)"), fd: fd, rate: rate)
    }

    /// The sizes asked for from `/_gen/`, in the order the server saw them.
    private func loggedSizes() -> [Int] {
        server.requests().compactMap { entry -> Int? in
            guard let path = entry["path"] as? String, path.hasPrefix("/_gen/") else { return nil }
            return Int(path.dropFirst(6))
        }
    }

    func testChainedRequestsFollowEachOtherOverOneConnection() {
        server.resetLog()
        let sizes = [300_000, 1, 70_000, 250_001]
        var requests: [DownloadRequest] = []
        var paths: [String] = []
        for (i, size) in sizes.enumerated() {
            let out = destination("chain\(i)")
            paths.append(out.path)
            let req = genRequest(size, tag: "c\(i)", fd: out.fd)
            if let previous = requests.last { engine.start(req, after: previous.id) } else { engine.start(req) }
            requests.append(req)
        }
        for (req, size) in zip(requests, sizes) {
            XCTAssertEqual(delegate.waitForEnd(req.id), .finished(bytesOnDisk: UInt64(size)))
            delegate.assertWellOrdered(req.id)
        }
        for (path, size) in zip(paths, sizes) { XCTAssertTrue(readAll(path) == generatedBytes(0..<size), path) }
        // Each starts only after the one before it ended (its first event comes later).
        for (a, b) in zip(requests, requests.dropFirst()) {
            let endOfA = delegate.records(a.id).last!.time
            let startOfB = delegate.records(b.id).first!.time
            XCTAssertLessThan(endOfA, startOfB)
        }
        XCTAssertEqual(loggedSizes(), sizes)
        let connections = server.requests().compactMap { $0["connection_id"] as? Int }
        XCTAssertEqual(Set(connections).count, 1, "one reused connection")
    }

    func testFailedPredecessorEndsTheQueuedRequestUnstarted() throws {
        server.resetLog()
        let a = destination("a"), b = destination("b", prefill: [1, 2, 3])
        let first = request(url: server.url("/missing-file?tag=a"), fd: a.fd)
        var second = genRequest(100_000, tag: "b", fd: b.fd)
        second.resumeOffset = 3
        engine.start(first)
        engine.start(second, after: first.id)
        let (failure, _) = try XCTUnwrap(failure(delegate.waitForEnd(first.id)))
        guard case .httpStatus(404, _) = failure else { return XCTFail("got \(failure)") }
        XCTAssertEqual(delegate.waitForEnd(second.id), .cancelled(bytesOnDisk: 3))
        XCTAssertEqual(delegate.events(second.id).count, 1, "only the end")
        XCTAssertEqual(loggedSizes(), [], "the queued request never reached the server")
        XCTAssertEqual(readAll(b.path), [1, 2, 3])
    }

    func testCancellingAQueuedRequestLeavesItsPredecessorRunning() {
        server.resetLog()
        let a = destination("a"), b = destination("b"), c = destination("c")
        let first = genRequest(1_000_000, tag: "a", fd: a.fd, rate: 2_000_000)  // about half a second
        let second = genRequest(10_000, tag: "b", fd: b.fd)
        let third = genRequest(20_000, tag: "c", fd: c.fd)
        engine.start(first)
        engine.start(second, after: first.id)
        engine.start(third, after: second.id)
        engine.cancel(id: second.id)
        XCTAssertEqual(delegate.waitForEnd(second.id), .cancelled(bytesOnDisk: 0))
        // What waited for the cancelled one is cancelled with it.
        XCTAssertEqual(delegate.waitForEnd(third.id), .cancelled(bytesOnDisk: 0))
        XCTAssertEqual(delegate.waitForEnd(first.id), .finished(bytesOnDisk: 1_000_000))
        XCTAssertEqual(loggedSizes(), [1_000_000])
        XCTAssertTrue(readAll(a.path) == generatedBytes(0..<1_000_000))
    }

    func testQueuedBehindAFinishedOrUnknownTransferStartsAtOnce() {
        let a = destination("a"), b = destination("b")
        let first = genRequest(5_000, tag: "a", fd: a.fd)
        XCTAssertEqual(download(first), .finished(bytesOnDisk: 5_000))
        let second = genRequest(6_000, tag: "b", fd: b.fd)
        engine.start(second, after: first.id)
        XCTAssertEqual(delegate.waitForEnd(second.id), .finished(bytesOnDisk: 6_000))
        let c = destination("c")
        let third = genRequest(7_000, tag: "c", fd: c.fd)
        engine.start(third, after: 999_999)
        XCTAssertEqual(delegate.waitForEnd(third.id), .finished(bytesOnDisk: 7_000))
        XCTAssertTrue(readAll(c.path) == generatedBytes(0..<7_000))
    }

    func testRateCapOfAQueuedRequestCanChangeBeforeItStarts() {
        let a = destination("a"), b = destination("b")
        let first = genRequest(400_000, tag: "a", fd: a.fd, rate: 2_000_000)
        let size = 1_000_000
        let second = genRequest(size, tag: "b", fd: b.fd, rate: 0)
        engine.start(first)
        engine.start(second, after: first.id)
        engine.setRateLimit(id: second.id, bytesPerSecond: 1_000_000)
        XCTAssertEqual(delegate.waitForEnd(first.id), .finished(bytesOnDisk: 400_000))
        let started = Date()
        XCTAssertEqual(delegate.waitForEnd(second.id), .finished(bytesOnDisk: UInt64(size)))
        // 1 MB at 1 MB/s (with a quarter second of burst): well over half a second.
        XCTAssertGreaterThan(Date().timeIntervalSince(started), 0.6)
        XCTAssertTrue(readAll(b.path) == generatedBytes(0..<size))
    }

    func testShutdownEndsQueuedRequests() {
        let a = destination("a"), b = destination("b")
        let first = genRequest(20_000_000, tag: "a", fd: a.fd, rate: 1_000_000)
        let second = genRequest(10_000, tag: "b", fd: b.fd)
        engine.start(first)
        engine.start(second, after: first.id)
        XCTAssertTrue(delegate.wait(first.id) { $0.contains { if case .receive = $0 { return true } else { return false } } })
        engine.shutdown()
        guard case .cancelled = delegate.waitForEnd(first.id) else { return XCTFail("first not cancelled") }
        XCTAssertEqual(delegate.waitForEnd(second.id), .cancelled(bytesOnDisk: 0))
    }
}
