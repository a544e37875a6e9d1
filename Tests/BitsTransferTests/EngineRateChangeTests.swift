import BitsCore
import BitsTransfer
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `setRateLimit` on running transfers.
final class EngineRateChangeTests: EngineTestCase {
    /// The last progress report at or before `time` (monotonic ns): (time, bytes).
    private func progress(_ id: TransferID, atOrBefore time: UInt64) -> (UInt64, UInt64)? {
        delegate.records(id).compactMap { record -> (UInt64, UInt64)? in
            if case .progress(let bytes) = record.event, record.time <= time { return (record.time, bytes) }
            return nil
        }.last
    }

    private func waitForBytes(_ id: TransferID, _ bytes: UInt64, timeout: TimeInterval = 20) -> Bool {
        delegate.wait(id, timeout: timeout) { events in
            events.contains { event in
                if case .progress(let n) = event { return n >= bytes }
                if case .end = event { return true }
                return false
            }
        }
    }

    func testRaisingTheCapToUnlimitedFinishesQuickly() throws {
        let size = 6 * 1024 * 1024  // 30 s at 200 KB/s
        let out = destination()
        let req = request(url: server.url("/_gen/\(size)"), fd: out.fd, rate: 200_000)
        let started = Date()
        engine.start(req)
        XCTAssertTrue(waitForBytes(req.id, 150_000))
        let early = Date().timeIntervalSince(started)
        XCTAssertGreaterThan(early, 0.3, "the initial cap did not hold")
        engine.setRateLimit(id: req.id, bytesPerSecond: 0)
        XCTAssertEqual(delegate.waitForEnd(req.id), .finished(bytesOnDisk: UInt64(size)))
        XCTAssertLessThan(Date().timeIntervalSince(started), 8)
        delegate.assertWellOrdered(req.id)
        XCTAssertTrue(readAll(out.path) == generatedBytes(0..<size))
    }

    func testLoweringTheCapHoldsTheNewRate() throws {
        // ~4 MB/s from the server (about 15 s for the whole file) until the cap drops.
        let out = destination()
        let req = request(url: server.url("/_gen/60M?rate=4000000"), fd: out.fd)
        engine.start(req)
        XCTAssertTrue(waitForBytes(req.id, 1_500_000))
        let cap: UInt64 = 500_000
        engine.setRateLimit(id: req.id, bytesPerSecond: cap)
        usleep(600_000)  // let the new cap settle (no burst expected, but be generous)
        let t1 = monotonicNow()
        usleep(2_000_000)
        let t2 = monotonicNow()
        engine.cancel(id: req.id)
        guard case .cancelled = try XCTUnwrap(delegate.waitForEnd(req.id)) else { return XCTFail() }
        delegate.assertWellOrdered(req.id)

        let (time1, bytes1) = try XCTUnwrap(progress(req.id, atOrBefore: t1))
        let (time2, bytes2) = try XCTUnwrap(progress(req.id, atOrBefore: t2))
        let rate = Double(bytes2 - bytes1) / (Double(time2 - time1) / 1e9)
        XCTAssertGreaterThan(rate, Double(cap) * 0.75, "observed \(Int(rate)) B/s")
        XCTAssertLessThan(rate, Double(cap) * 1.25, "observed \(Int(rate)) B/s")
        let content = readAll(out.path)
        XCTAssertTrue(Array(content.prefix(Int(bytes2))) == generatedBytes(0..<Int(bytes2)))
    }

    func testRateChangesForUnknownIdsAreIgnored() {
        engine.setRateLimit(id: 424242, bytesPerSecond: 1000)
        let out = destination()
        let req = request(url: server.url("/_gen/10000"), fd: out.fd)
        XCTAssertEqual(download(req), .finished(bytesOnDisk: 10_000))
        engine.setRateLimit(id: req.id, bytesPerSecond: 1000)  // finished: no-op
    }

    private func monotonicNow() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
