import Foundation
import XCTest

/// Priorities, time slices and the background bandwidth cap (bitsd.conf), end to end.
final class SchedulingTests: BitsTestCase {
    static let cap = 1_048_576  // 1 MiB/s for all background transfers together
    override class var daemonConfig: String? {
        "[Scheduler]\nTimeSlice=2\n[Bandwidth]\nBackgroundLimit=\(cap)\n"
    }

    func startJob(_ name: String, priority: String, size: String = "8M") throws -> String {
        let dir = try downloadDirectory(alice, name)
        let job = try createJob(as: alice, name: name)
        _ = try addFile(as: alice, job: job, url: http.url("/_gen/\(size)"), local: "\(dir)/\(name).bin")
        try mustSetProperty(as: alice, job, "Priority", type: "s", value: priority)
        try resume(as: alice, job: job)
        return job
    }

    func bytes(_ job: String) throws -> UInt64 { try property(as: alice, job, "BytesTransferred").uint64 ?? 0 }

    /// Only one background job moves at a time; a higher priority pre-empts a lower one.
    func testOneBackgroundJobAtATimeAndHigherPriorityPreempts() throws {
        let low = try startJob("low", priority: "low")
        XCTAssertTrue(waitUntil(timeout: 10) { (try? self.bytes(low)) ?? 0 > 0 }, "the low job never started")
        let high = try startJob("high", priority: "high")
        XCTAssertTrue(waitUntil(timeout: 10) { (try? self.bytes(high)) ?? 0 > 0 }, "the high job never started")
        XCTAssertTrue(waitUntil(timeout: 5) { (try? self.jobState(as: self.alice, low)) == "queued" }, "low was not pre-empted")
        let lowBytes = try bytes(low)
        sleep(2)
        XCTAssertEqual(try bytes(low), lowBytes, "a pre-empted job must not move")
        XCTAssertEqual(try jobState(as: alice, high), "transferring")
        try cancel(as: alice, job: high)
        XCTAssertTrue(waitUntil(timeout: 10) { ((try? self.bytes(low)) ?? 0) > lowBytes }, "low did not continue after high was cancelled")
        try cancel(as: alice, job: low)
    }

    /// Equal background priorities take turns: both advance over a few time slices.
    func testEqualPrioritiesTakeTurns() throws {
        let a = try startJob("turn-a", priority: "normal")
        let b = try startJob("turn-b", priority: "normal")
        XCTAssertTrue(waitUntil(timeout: 15) { ((try? self.bytes(a)) ?? 0) > 0 && ((try? self.bytes(b)) ?? 0) > 0 },
                      "both jobs should have had a turn within a few 2-second slices")
        var bothTransferring = 0
        for _ in 0..<40 {
            if (try? jobState(as: alice, a)) == "transferring" && (try? jobState(as: alice, b)) == "transferring" { bothTransferring += 1 }
            usleep(100_000)
        }
        // The two states are read by separate calls: a slice switch between them can make
        // one sample look like an overlap; a real overlap shows in many samples.
        XCTAssertLessThanOrEqual(bothTransferring, 1, "two background jobs transferred at the same time")
        try cancel(as: alice, job: a)
        try cancel(as: alice, job: b)
    }

    /// The background cap holds; a foreground job is not throttled; changing the priority of
    /// a running job takes effect at once.
    func testBackgroundCapAndForegroundIsUnthrottled() throws {
        let job = try startJob("capped", priority: "normal", size: "64M")
        XCTAssertTrue(waitUntil(timeout: 10) { (try? self.bytes(job)) ?? 0 > 0 })
        sleep(1)
        let b0 = try bytes(job); let t0 = Date()
        sleep(3)
        let rate = Double(try bytes(job) - b0) / Date().timeIntervalSince(t0)
        XCTAssertEqual(rate, Double(Self.cap), accuracy: Double(Self.cap) * 0.25, "background rate \(Int(rate)) B/s vs cap \(Self.cap)")
        try mustSetProperty(as: alice, job, "Priority", type: "s", value: "foreground")
        sleep(1)
        let f0 = try bytes(job); let t1 = Date()
        sleep(1)
        let fast = Double(try bytes(job) - f0) / Date().timeIntervalSince(t1)
        let finished = try jobState(as: alice, job) == "transferred"
        XCTAssertTrue(fast > Double(Self.cap) * 3 || finished, "foreground should not be throttled: \(Int(fast)) B/s")
        try cancel(as: alice, job: job)
    }
}
