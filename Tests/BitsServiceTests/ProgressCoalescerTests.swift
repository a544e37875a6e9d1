@testable import BitsService
import BitsCore
import XCTest

final class ProgressCoalescerTests: XCTestCase {
    func testFirstChangeIsPublishedAtOnceAndLaterOnesWaitForTheInterval() {
        var coalescer = ProgressCoalescer()
        coalescer.mark(file: 0)
        XCTAssertEqual(coalescer.changed(now: 10_000, interval: 500), .publishNow)
        let first = coalescer.take()
        XCTAssertEqual(first?.map(\.index), [0])
        XCTAssertEqual(first?.first?.properties, FileProperty.progress)
        XCTAssertNil(coalescer.take(), "nothing changed since")

        coalescer.mark(file: 1)
        XCTAssertEqual(coalescer.changed(now: 10_100, interval: 500), .publishAfter(milliseconds: 400))
        coalescer.mark(file: 0, also: [.lastModified])
        XCTAssertEqual(coalescer.changed(now: 10_200, interval: 500), .alreadyScheduled)
        coalescer.flush(now: 10_500)
        let second = coalescer.take()
        XCTAssertEqual(second?.map(\.index), [0, 1], "in index order")
        XCTAssertEqual(second?.first?.properties, FileProperty.progress.union([.lastModified]))
        // The slot was used at 10 500.
        XCTAssertEqual(coalescer.changed(now: 10_600, interval: 500), .publishAfter(milliseconds: 400))
    }

    func testAFileTakenOutGoesWithItsCompletionNotTheNextPublication() {
        var coalescer = ProgressCoalescer()
        coalescer.mark(file: 2, also: [.responseHeaders])
        coalescer.mark(file: 3)
        XCTAssertEqual(coalescer.takeFile(2), FileProperty.progress.union([.responseHeaders]))
        XCTAssertEqual(coalescer.takeFile(2), [])
        XCTAssertEqual(coalescer.take()?.map(\.index), [3])
    }

    func testCountersAloneArePublished() {
        var coalescer = ProgressCoalescer()
        XCTAssertEqual(coalescer.changed(now: 1, interval: 0), .publishNow)
        XCTAssertEqual(coalescer.take()?.count, 0, "the job's counters, no file")
    }
}
