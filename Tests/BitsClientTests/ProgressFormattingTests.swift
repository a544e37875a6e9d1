import BitsClient
@testable import bitsctl
import Foundation
import XCTest

final class ProgressBarTests: XCTestCase {
    let mib: UInt64 = 1024 * 1024

    func testKnownTotalAtZeroPercentWithoutRate() {
        XCTAssertEqual(ProgressBar.line(transferred: 0, total: mib, bytesPerSecond: nil, secondsRemaining: nil, width: 10),
                       "[..........]    0%  0 B / 1.00 MiB  -- B/s  ETA --:--")
    }

    func testKnownTotalAtHalfWithRateAndETA() {
        XCTAssertEqual(ProgressBar.line(transferred: mib / 2, total: mib, bytesPerSecond: 65536, secondsRemaining: 8, width: 10),
                       "[#####.....]   50%  512 KiB / 1.00 MiB  64.0 KiB/s  ETA 0:08")
    }

    func testKnownTotalAtHundredPercent() {
        XCTAssertEqual(ProgressBar.line(transferred: mib, total: mib, bytesPerSecond: mib, secondsRemaining: 0, width: 10),
                       "[##########]  100%  1.00 MiB / 1.00 MiB  1.00 MiB/s  ETA 0:00")
        XCTAssertEqual(ProgressBar.line(transferred: mib, total: mib, bytesPerSecond: mib, secondsRemaining: 0, finished: true, width: 10),
                       "[##########]  100%  1.00 MiB / 1.00 MiB  1.00 MiB/s  done")
        XCTAssertEqual(ProgressBar.line(transferred: mib, total: mib, bytesPerSecond: nil, secondsRemaining: nil, finished: true, width: 10),
                       "[##########]  100%  1.00 MiB / 1.00 MiB  -- B/s  done")
    }

    func testPercentRoundsDownAndBarNeverOverflows() {
        // 99.9 % is not "100 %" until the last byte.
        XCTAssertEqual(ProgressBar.line(transferred: 999, total: 1000, bytesPerSecond: nil, secondsRemaining: nil, width: 10),
                       "[#########.]   99%  999 B / 1000 B  -- B/s  ETA --:--")
        // More than the total (a server sending more than announced): capped at 100 %, no ETA.
        XCTAssertEqual(ProgressBar.line(transferred: 2000, total: 1000, bytesPerSecond: 100, secondsRemaining: nil, width: 4),
                       "[####]  100%  1.95 KiB / 1000 B  100 B/s  ETA --:--")
    }

    func testLongETAUsesHours() {
        XCTAssertEqual(ProgressBar.line(transferred: 0, total: 3725 * 1000, bytesPerSecond: 1000, secondsRemaining: 3725, width: 2),
                       "[..]    0%  0 B / 3.55 MiB  1000 B/s  ETA 1:02:05")
    }

    func testETAOfTheServiceThatCannotBeShown() {
        // 100 years left (a crawling rate): no number the clock cannot show.
        XCTAssertEqual(ProgressBar.line(transferred: 10, total: 100, bytesPerSecond: 1, secondsRemaining: 3_155_760_000, width: 10),
                       "[#.........]   10%  10 B / 100 B  1 B/s  ETA --:--")
    }

    func testZeroRateHasNoETA() {
        XCTAssertEqual(ProgressBar.line(transferred: 10, total: 100, bytesPerSecond: 0, secondsRemaining: nil, width: 10),
                       "[#.........]   10%  10 B / 100 B  0 B/s  ETA --:--")
    }

    func testUnknownTotal() {
        XCTAssertEqual(ProgressBar.line(transferred: 1536, total: nil, bytesPerSecond: 512, secondsRemaining: nil, width: 4),
                       "[????]  1.50 KiB / unknown  512 B/s  ETA --:--")
        XCTAssertEqual(ProgressBar.line(transferred: 1536, total: nil, bytesPerSecond: nil, secondsRemaining: nil, width: 4),
                       "[????]  1.50 KiB / unknown  -- B/s  ETA --:--")
        XCTAssertEqual(ProgressBar.line(transferred: 1536, total: nil, bytesPerSecond: 512, secondsRemaining: nil, finished: true, width: 4),
                       "[????]  1.50 KiB / unknown  512 B/s  done")
        XCTAssertEqual(ProgressBar.line(transferred: 0, total: 0, bytesPerSecond: nil, secondsRemaining: nil, width: 4),
                       "[????]  0 B / unknown  -- B/s  ETA --:--")
    }

    func testDefaultWidthIs24() {
        let line = ProgressBar.line(transferred: 1, total: 4, bytesPerSecond: nil, secondsRemaining: nil)
        XCTAssertTrue(line.hasPrefix("[" + String(repeating: "#", count: 6) + String(repeating: ".", count: 18) + "]   25%"), line)
    }
}

final class HumanFormatTests: XCTestCase {
    func testBytes() {
        XCTAssertEqual(HumanFormat.bytes(0), "0 B")
        XCTAssertEqual(HumanFormat.bytes(1), "1 B")
        XCTAssertEqual(HumanFormat.bytes(1023), "1023 B")
        XCTAssertEqual(HumanFormat.bytes(1024), "1.00 KiB")
        XCTAssertEqual(HumanFormat.bytes(1536), "1.50 KiB")
        XCTAssertEqual(HumanFormat.bytes(150 * 1024), "150 KiB")
        XCTAssertEqual(HumanFormat.bytes(10 * 1024 * 1024), "10.0 MiB")
        XCTAssertEqual(HumanFormat.bytes(1 << 30), "1.00 GiB")
        XCTAssertEqual(HumanFormat.bytes(1 << 40), "1.00 TiB")
        XCTAssertEqual(HumanFormat.bytes(1 << 50), "1.00 PiB")
        XCTAssertEqual(HumanFormat.bytes(UInt64.max), "16384 PiB")
    }

    func testSizeAndRate() {
        XCTAssertEqual(HumanFormat.size(nil), "unknown")
        XCTAssertEqual(HumanFormat.size(2048), "2.00 KiB")
        XCTAssertEqual(HumanFormat.rate(1536.9), "1.50 KiB/s")
        XCTAssertEqual(HumanFormat.rate(-5), "0 B/s")
        XCTAssertEqual(HumanFormat.rate(0), "0 B/s")
    }

    func testDuration() {
        XCTAssertEqual(HumanFormat.duration(0), "0:00")
        XCTAssertEqual(HumanFormat.duration(8), "0:08")
        XCTAssertEqual(HumanFormat.duration(59.6), "1:00")
        XCTAssertEqual(HumanFormat.duration(75), "1:15")
        XCTAssertEqual(HumanFormat.duration(3599), "59:59")
        XCTAssertEqual(HumanFormat.duration(3600), "1:00:00")
        XCTAssertEqual(HumanFormat.duration(3725), "1:02:05")
        XCTAssertEqual(HumanFormat.duration(100 * 3600), "100:00:00")
        XCTAssertEqual(HumanFormat.duration(500_000 * 3600), "500000:00:00")
    }

    func testDurationThatCannotBeShown() {
        XCTAssertEqual(HumanFormat.duration(-1), "--:--")
        XCTAssertEqual(HumanFormat.duration(.infinity), "--:--")
        XCTAssertEqual(HumanFormat.duration(.nan), "--:--")
        // An ETA from a crawling rate (1 TB at a byte an hour) must not trap converting to Int.
        XCTAssertEqual(HumanFormat.duration(1e12 * 3600), "--:--")
        XCTAssertEqual(HumanFormat.duration(1e300), "--:--")
    }

    func testInfoShowsTheRateAndTimeLeftOnce() {
        let job = JobProperties(path: "/j", properties: [
            "State": .string("transferring"), "BytesPerSecond": .uint64(65536), "EstimatedTimeRemaining": .uint64(75),
        ])
        let text = Info.text(job, files: [])
        XCTAssertTrue(text.contains("\nRate: 64.0 KiB/s   Time left: 1:15\n"), text)
        XCTAssertFalse(text.contains("BytesPerSecond"), "shown twice: \(text)")
        XCTAssertFalse(text.contains("EstimatedTimeRemaining"), "shown twice: \(text)")
        let idle = Info.text(JobProperties(path: "/j", properties: ["EstimatedTimeRemaining": .uint64(UInt64.max)]), files: [])
        XCTAssertTrue(idle.contains("\nRate: 0 B/s   Time left: unknown\n"), idle)
    }

    func testTimeLeft() {
        XCTAssertEqual(HumanFormat.timeLeft(nil), "unknown")
        XCTAssertEqual(HumanFormat.timeLeft(75), "1:15")
        XCTAssertEqual(HumanFormat.timeLeft(UInt64.max - 1), "unknown")
    }

    func testTime() throws {
        XCTAssertEqual(HumanFormat.time(0), "never")
        let text = HumanFormat.time(1_700_000_000_123_456)
        let parsed = try XCTUnwrap(ISO8601DateFormatter().date(from: text), text)
        XCTAssertEqual(parsed.timeIntervalSince1970, 1_700_000_000)
    }

    func testValueScalars() {
        XCTAssertEqual(HumanFormat.value(.string("queued")), "queued")
        XCTAssertEqual(HumanFormat.value(.objectPath("/org/example/Bits/jobs/ab")), "/org/example/Bits/jobs/ab")
        XCTAssertEqual(HumanFormat.value(.signature("a{sv}")), "a{sv}")
        XCTAssertEqual(HumanFormat.value(.bool(true)), "true")
        XCTAssertEqual(HumanFormat.value(.bool(false)), "false")
        XCTAssertEqual(HumanFormat.value(.byte(255)), "255")
        XCTAssertEqual(HumanFormat.value(.int32(-3)), "-3")
        XCTAssertEqual(HumanFormat.value(.uint32(600)), "600")
        XCTAssertEqual(HumanFormat.value(.int64(-9_000_000_000)), "-9000000000")
        XCTAssertEqual(HumanFormat.value(.uint64(UInt64.max)), "18446744073709551615")
        XCTAssertEqual(HumanFormat.value(.double(1.5)), "1.5")
        XCTAssertEqual(HumanFormat.value(.variant(.variant(.string("boxed")))), "boxed")
    }

    func testValueRangesUseEof() {
        let ranges = Variant.array(elementType: "(tt)", [
            .tuple([.uint64(0), .uint64(100)]),
            .tuple([.uint64(2000), .uint64(100)]),
            .tuple([.uint64(5000), .uint64(UInt64.max)]),
        ])
        XCTAssertEqual(HumanFormat.value(ranges), "0:100,2000:100,5000:eof")
        XCTAssertEqual(HumanFormat.value(.array(elementType: "(tt)", [])), "")
    }

    func testValueArraysOneItemPerLine() {
        XCTAssertEqual(HumanFormat.value(.strings(["X-A: 1", "X-B: 2"])), "X-A: 1\nX-B: 2")
        XCTAssertEqual(HumanFormat.value(.objectPaths(["/a/files/0", "/a/files/1"])), "/a/files/0\n/a/files/1")
        XCTAssertEqual(HumanFormat.value(.strings([])), "")
        // A non-range array of uint64 is not shown as ranges.
        XCTAssertEqual(HumanFormat.value(.array(elementType: "t", [.uint64(1), .uint64(UInt64.max)])),
                       "1\n18446744073709551615")
    }

    func testValueTupleAndDictionary() {
        XCTAssertEqual(HumanFormat.value(.tuple([.string("a"), .uint32(1), .bool(false)])), "a 1 false")
        XCTAssertEqual(HumanFormat.value(.vardict([("Size", .uint64(10)), ("Name", .string("x"))])), "Size=10\nName=x")
    }

    func testErrorLine() {
        var job = JobProperties(path: "/org/example/Bits/jobs/00")
        XCTAssertNil(HumanFormat.error(job))
        job.apply(["ErrorCode": .string("0x80190194"), "ErrorContext": .string("remote-file"),
                   "ErrorDescription": .string("HTTP 404: Not Found")])
        XCTAssertEqual(HumanFormat.error(job), "0x80190194 (remote-file): HTTP 404: Not Found")
    }

    func testProgress() {
        let job = JobProperties(path: "/j", properties: [
            "FilesTransferred": .uint32(3), "FilesTotal": .uint32(10),
            "BytesTransferred": .uint64(1536 * 1024), "BytesTotal": .uint64(UInt64.max),
        ])
        XCTAssertEqual(HumanFormat.progress(job), "3 / 10 files, 1.50 MiB / unknown")
        let known = JobProperties(path: "/j", properties: ["BytesTotal": .uint64(20 * 1024 * 1024)])
        XCTAssertEqual(HumanFormat.progress(known), "0 / 0 files, 0 B / 20.0 MiB")
    }
}
