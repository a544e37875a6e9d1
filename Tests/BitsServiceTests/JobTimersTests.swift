@testable import BitsService
import BitsCore
import XCTest

final class JobTimersTests: XCTestCase {
    let t0 = ContinuousClock.now

    func testDownloadTimeCountsOnlyActiveStretches() {
        var timers = JobTimers()
        XCTAssertEqual(timers.setActive(true, now: t0, limit: 100), .seconds(100))
        XCTAssertEqual(timers.checkDownloadTime(now: t0 + .seconds(30), limit: 100), .checkAgain(after: .seconds(70)))
        XCTAssertNil(timers.setActive(false, now: t0 + .seconds(40), limit: 100))
        XCTAssertNil(timers.checkDownloadTime(now: t0 + .seconds(500), limit: 100), "not active: nothing to check")
        // Back to work after a long pause: 60 s of the budget are left.
        XCTAssertEqual(timers.setActive(true, now: t0 + .seconds(1000), limit: 100), .seconds(60))
        XCTAssertNil(timers.setActive(true, now: t0 + .seconds(1010), limit: 100), "already active")
        XCTAssertEqual(timers.checkDownloadTime(now: t0 + .seconds(1060), limit: 100), .exceeded)
        XCTAssertNil(timers.checkDownloadTime(now: t0 + .seconds(1060), limit: 0), "no limit")
    }

    func testResumeStartsTheBudgetsAgain() {
        var timers = JobTimers()
        _ = timers.setActive(true, now: t0, limit: 100)
        _ = timers.transientFailure(now: t0 + .seconds(10), noProgressTimeout: 50, retryDelay: .seconds(5))
        timers.resumed(now: t0 + .seconds(90))
        XCTAssertNil(timers.noProgressSince)
        XCTAssertEqual(timers.activeTime, .zero)
        XCTAssertEqual(timers.checkDownloadTime(now: t0 + .seconds(100), limit: 100), .checkAgain(after: .seconds(90)))
    }

    func testTransientFailuresRetryUntilNoProgressTimeout() {
        var timers = JobTimers()
        XCTAssertEqual(timers.transientFailure(now: t0, noProgressTimeout: 100, retryDelay: .seconds(60)), .retry(after: .seconds(60)))
        XCTAssertEqual(timers.noProgressSince, t0)
        // The window runs from the first error: 40 s are left, less than the delay.
        XCTAssertEqual(timers.transientFailure(now: t0 + .seconds(60), noProgressTimeout: 100, retryDelay: .seconds(60)),
                       .giveUp(after: .seconds(40)))
        XCTAssertEqual(timers.transientFailure(now: t0 + .seconds(100), noProgressTimeout: 100, retryDelay: .seconds(60)), .timedOut)
        // Progress closes the window.
        timers.progressed()
        XCTAssertEqual(timers.transientFailure(now: t0 + .seconds(200), noProgressTimeout: 100, retryDelay: .seconds(60)),
                       .retry(after: .seconds(60)))
        var none = JobTimers()
        XCTAssertEqual(none.transientFailure(now: t0, noProgressTimeout: 0, retryDelay: .seconds(60)), .timedOut)
    }

    func testARetryTimerReplacesThePreviousOne() async {
        var timers = JobTimers()
        let first = Task { _ = try? await Task.sleep(for: .seconds(60)) }
        timers.armRetry(first)
        timers.armRetry(Task {})
        XCTAssertTrue(first.isCancelled)
        timers.cancelRetry()
    }

    func testInactivityDeadlines() {
        let a = JobID.random(), b = JobID.random(), c = JobID.random()
        let second: UInt64 = 1_000_000
        let result = InactivityDeadlines.evaluate([(a, 0), (b, 50 * second), (c, 20 * second)], now: 100 * second, timeout: 90)
        XCTAssertEqual(result.expired, [a])
        XCTAssertEqual(result.next, 110 * second)
        XCTAssertEqual(InactivityDeadlines.evaluate([(a, 0)], now: .max, timeout: 0).expired, [])
        XCTAssertNil(InactivityDeadlines.evaluate([], now: 0, timeout: 90).next)
    }
}
