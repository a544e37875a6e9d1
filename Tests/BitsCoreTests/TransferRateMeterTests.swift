import BitsCore
import Foundation
import XCTest

final class TransferRateMeterTests: XCTestCase {
    func testNoRateUntilTwoSamplesSpanTime() {
        var meter = TransferRateMeter()
        XCTAssertEqual(meter.bytesPerSecond, 0)
        XCTAssertEqual(meter.rate(total: 1000, transferred: 0), .idle)
        meter.record(bytes: 100, at: 1_000)
        XCTAssertEqual(meter.bytesPerSecond, 0)
        meter.record(bytes: 200, at: 1_000)
        XCTAssertEqual(meter.bytesPerSecond, 0, "no time has passed")
        XCTAssertEqual(meter.secondsRemaining(total: 1000, transferred: 200), UInt64.max)
    }

    func testSteadyRate() {
        var meter = TransferRateMeter()
        // 100 kB/s, sampled every 500 ms for 20 s.
        for step in 0...40 {
            meter.record(bytes: UInt64(step) * 50_000, at: 10_000 + UInt64(step) * 500)
            if step >= 1 { XCTAssertEqual(meter.bytesPerSecond, 100_000, "step \(step)") }
        }
        // 2 MB transferred of 3 MB: 10 s left.
        XCTAssertEqual(meter.rate(total: 3_000_000, transferred: 2_000_000),
                       TransferRate(bytesPerSecond: 100_000, secondsRemaining: 10))
        // The time left is rounded up, and 0 once everything is there (or more).
        XCTAssertEqual(meter.secondsRemaining(total: 2_000_001, transferred: 2_000_000), 1)
        XCTAssertEqual(meter.secondsRemaining(total: 2_000_000, transferred: 2_000_000), 0)
        XCTAssertEqual(meter.secondsRemaining(total: 1_000, transferred: 2_000_000), 0)
    }

    func testTheRateIsThatOfTheLastFiveSeconds() {
        var meter = TransferRateMeter()
        // 10 s at 1 MB/s, then 1 s-spaced samples at 100 kB/s.
        for second in 0...10 { meter.record(bytes: UInt64(second) * 1_000_000, at: UInt64(second) * 1000) }
        XCTAssertEqual(meter.bytesPerSecond, 1_000_000)
        var bytes: UInt64 = 10_000_000
        for second in 11...15 {
            bytes += 100_000
            meter.record(bytes: bytes, at: UInt64(second) * 1000)
        }
        XCTAssertEqual(meter.bytesPerSecond, 100_000, "the window (10 s to 15 s) holds only the slow part")
    }

    func testSparseSamplesSpanTheWindow() {
        // Publications every 8 s (a long MinimumNotificationInterval): the rate is taken
        // from the sample before the window's start.
        var meter = TransferRateMeter()
        meter.record(bytes: 0, at: 0)
        meter.record(bytes: 800, at: 8_000)
        XCTAssertEqual(meter.bytesPerSecond, 100)
        meter.record(bytes: 2_400, at: 16_000)
        XCTAssertEqual(meter.bytesPerSecond, 200)
    }

    func testAStallDropsTheRateTowardZero() {
        var meter = TransferRateMeter()
        for step in 0...10 { meter.record(bytes: UInt64(step) * 1000, at: UInt64(step) * 1000) }
        XCTAssertEqual(meter.bytesPerSecond, 1000)
        var previous = meter.bytesPerSecond
        for second in 11...15 {
            meter.record(bytes: 10_000, at: UInt64(second) * 1000)  // nothing new
            XCTAssertLessThan(meter.bytesPerSecond, previous, "second \(second)")
            previous = meter.bytesPerSecond
        }
        XCTAssertEqual(meter.bytesPerSecond, 0, "five seconds without a byte")
        XCTAssertEqual(meter.secondsRemaining(total: 20_000, transferred: 10_000), UInt64.max, "no rate, no estimate")
    }

    func testResetAndRestartStartOver() {
        var meter = TransferRateMeter()
        meter.record(bytes: 0, at: 0)
        meter.record(bytes: 5_000, at: 1_000)
        XCTAssertEqual(meter.bytesPerSecond, 5_000)
        meter.reset()
        XCTAssertEqual(meter.bytesPerSecond, 0)
        meter.record(bytes: 5_000, at: 60_000)
        XCTAssertEqual(meter.bytesPerSecond, 0, "one sample after the reset: no rate yet (not the time stopped)")
        meter.record(bytes: 6_000, at: 61_000)
        XCTAssertEqual(meter.bytesPerSecond, 1_000)
        // Bytes going down (a file restarting from 0): the earlier samples are dropped.
        meter.record(bytes: 0, at: 62_000)
        XCTAssertEqual(meter.bytesPerSecond, 0)
        meter.record(bytes: 3_000, at: 63_000)
        XCTAssertEqual(meter.bytesPerSecond, 3_000)
    }

    func testUnknownTotal() {
        var meter = TransferRateMeter()
        meter.record(bytes: 0, at: 0)
        meter.record(bytes: 1_000, at: 1_000)
        XCTAssertEqual(meter.rate(total: nil, transferred: 1_000),
                       TransferRate(bytesPerSecond: 1_000, secondsRemaining: UInt64.max))
    }

    func testOverflowSafe() {
        var meter = TransferRateMeter()
        meter.record(bytes: 0, at: 0)
        meter.record(bytes: UInt64.max, at: 1)  // a server's absurd counter, 1 ms apart
        XCTAssertEqual(meter.bytesPerSecond, UInt64.max, "saturates instead of trapping")
        XCTAssertEqual(meter.secondsRemaining(total: UInt64.max - 1, transferred: 0), 1)
        meter.reset()
        meter.record(bytes: UInt64.max - 10, at: UInt64.max - 1000)
        meter.record(bytes: UInt64.max, at: UInt64.max)
        XCTAssertEqual(meter.bytesPerSecond, 10)
        // A time going backwards is taken as the newest.
        meter.record(bytes: UInt64.max, at: 0)
        XCTAssertEqual(meter.bytesPerSecond, 10)
        // 1 byte/s with nearly 2^64 bytes left: the estimate stays a number (no wrap to 0).
        meter.reset()
        meter.record(bytes: 0, at: 0)
        meter.record(bytes: 1, at: 1000)
        XCTAssertEqual(meter.secondsRemaining(total: UInt64.max - 1, transferred: 1), UInt64.max - 2)
        // Random counters and times never trap.
        var generator = SplitMix64(seed: 19)
        for _ in 0..<10_000 {
            meter.record(bytes: generator.edgy(), at: generator.edgy())
            _ = meter.rate(total: generator.edgy(), transferred: generator.edgy())
        }
    }

    func testSamplesAreBounded() {
        var meter = TransferRateMeter()
        for ms in 0..<100_000 { meter.record(bytes: UInt64(ms) * 10, at: UInt64(ms)) }
        XCTAssertEqual(meter.bytesPerSecond, 10_000)
        XCTAssertLessThanOrEqual(meter.sampleCount, 60, "one sample a millisecond is thinned to one per 100 ms")
    }
}

final class TransferRateStorageTests: XCTestCase {
    /// The rate is a runtime value: a job's stored document has no trace of it, and a
    /// document (an old one too) decodes as `.idle`.
    func testJobDocumentsNeverHoldTheRate() throws {
        var job = Job(id: JobID.random(), type: .download, owner: 1000, displayName: "rate", now: 1)
        job.state = .transferring
        job.transferRate = TransferRate(bytesPerSecond: 12_345, secondsRemaining: 67)
        let data = try JSONEncoder().encode(job)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertNil(object["transferRate"])
        XCTAssertFalse(String(decoding: data, as: UTF8.self).contains("12345"))
        let decoded = try JSONDecoder().decode(Job.self, from: data)
        XCTAssertEqual(decoded.transferRate, .idle)
        var expected = job
        expected.transferRate = .idle
        XCTAssertEqual(decoded, expected)
    }
}
