@testable import BitsService
import XCTest

final class EngineRequestsTests: XCTestCase {
    let t0 = ContinuousClock.now

    func testQueuedRequestsFollowTheCurrentOne() {
        var requests = EngineRequests()
        XCTAssertTrue(requests.isIdle)
        XCTAssertTrue(requests.started(1, now: t0), "a running stretch begins")
        requests.queue(2)
        requests.queue(3)
        XCTAssertEqual(requests.last, 3)
        XCTAssertTrue(requests.isLive(2))
        XCTAssertTrue(requests.ended(1))
        XCTAssertEqual(requests.promoteQueued(), 2)
        XCTAssertEqual(requests.current, 2)
        XCTAssertEqual(requests.queued, [3])
        XCTAssertFalse(requests.started(4, now: t0 + .seconds(5)), "still the same stretch")
        XCTAssertTrue(requests.sliceExpired(now: t0 + .seconds(10), slice: .seconds(10)))
        XCTAssertFalse(requests.sliceExpired(now: t0 + .seconds(9), slice: .seconds(10)))
    }

    func testStoppingKeepsTheJobBusyUntilEveryEndArrived() {
        var requests = EngineRequests()
        _ = requests.started(1, now: t0)
        requests.queue(2)
        XCTAssertEqual(requests.discardQueued(), [2])
        XCTAssertEqual(requests.stopCurrent(), 1)
        XCTAssertNil(requests.runningSince)
        XCTAssertFalse(requests.isIdle)
        XCTAssertFalse(requests.isLive(2))
        XCTAssertFalse(requests.ended(2), "not the current one")
        XCTAssertFalse(requests.isIdle)
        XCTAssertFalse(requests.ended(1))
        XCTAssertTrue(requests.isIdle)
        XCTAssertNil(requests.stopCurrent())
        XCTAssertNil(requests.promoteQueued())
    }
}
