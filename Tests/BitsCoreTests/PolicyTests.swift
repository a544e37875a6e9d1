import XCTest
@testable import BitsCore

final class PolicyTests: XCTestCase {
    func testJobLimits() throws {
        let limits = JobLimits()
        XCTAssertNoThrow(try limits.checkNewJob(ownerJobs: 59, machineJobs: 100, uid: 1, exempt: false))
        XCTAssertThrowsError(try limits.checkNewJob(ownerJobs: 60, machineJobs: 100, uid: 1, exempt: false)) {
            XCTAssertEqual(($0 as? ServiceError)?.name, .tooManyJobsPerUser)
        }
        XCTAssertThrowsError(try limits.checkNewJob(ownerJobs: 1, machineJobs: 300, uid: 1, exempt: false)) {
            XCTAssertEqual(($0 as? ServiceError)?.name, .tooManyJobsPerMachine)
        }
        XCTAssertNoThrow(try limits.checkNewJob(ownerJobs: 600, machineJobs: 3000, uid: 0, exempt: true))
        XCTAssertThrowsError(try limits.checkFiles(existing: 199, adding: 2, jobID: .random(), exempt: false)) {
            XCTAssertEqual(($0 as? ServiceError)?.name, .tooManyFilesInJob)
        }
    }

    func testSchedulerRunsAllForegroundAndOneBackground() {
        let ids = (0..<5).map { _ in JobID.random() }
        let picked = Scheduler.select([
            .init(id: ids[0], priority: .foreground, queuedSequence: 5, running: false),
            .init(id: ids[1], priority: .foreground, queuedSequence: 6, running: false),
            .init(id: ids[2], priority: .normal, queuedSequence: 1, running: false),
            .init(id: ids[3], priority: .high, queuedSequence: 9, running: false),
            .init(id: ids[4], priority: .low, queuedSequence: 0, running: true),
        ])
        XCTAssertEqual(picked, [ids[0], ids[1], ids[3]])
    }

    func testSchedulerKeepsRunningJobOfEqualPriorityAndIsFIFO() {
        let a = JobID.random(), b = JobID.random()
        XCTAssertEqual(Scheduler.select([.init(id: a, priority: .normal, queuedSequence: 1, running: false),
                                         .init(id: b, priority: .normal, queuedSequence: 2, running: true)]), [b])
        XCTAssertEqual(Scheduler.select([.init(id: a, priority: .normal, queuedSequence: 1, running: false),
                                         .init(id: b, priority: .normal, queuedSequence: 2, running: false)]), [a])
        XCTAssertEqual(Scheduler.select([]), [])
    }

    func testNotificationThrottleCoalesces() {
        var t = NotificationThrottle()
        XCTAssertEqual(t.changed(now: 1000, interval: 500), 0)
        XCTAssertEqual(t.changed(now: 1100, interval: 500), 400)
        XCTAssertNil(t.changed(now: 1200, interval: 500))
        t.flush(now: 1500)
        XCTAssertEqual(t.changed(now: 2100, interval: 500), 0)
        XCTAssertEqual(t.changed(now: 2100, interval: 0), 0)
    }

    func testFailureClassification() {
        func c(_ f: TransferFailure) -> ClassifiedFailure { FailureClassifier.classify(f) }
        XCTAssertEqual(c(.httpStatus(404, retryAfterSeconds: nil)).disposition, .fatal)
        XCTAssertEqual(c(.httpStatus(404, retryAfterSeconds: nil)).code.rawValue, "http-404")
        XCTAssertEqual(c(.httpStatus(404, retryAfterSeconds: nil)).context, .remoteFile)
        for status in [500, 503, 408, 429] {
            XCTAssertEqual(c(.httpStatus(status, retryAfterSeconds: nil)).disposition, .transient, "\(status)")
        }
        XCTAssertEqual(c(.httpStatus(503, retryAfterSeconds: 30)).retryAfterSeconds, 30)
        XCTAssertEqual(c(.connectionRefused("x")).code, .connectionRefused)
        XCTAssertEqual(c(.connectionReset("x")).disposition, .transient)
        XCTAssertEqual(c(.dnsFailure("x")).disposition, .transient)
        XCTAssertEqual(c(.stalled("x")).disposition, .transient)
        XCTAssertEqual(c(.tls("x")).disposition, .fatal)
        XCTAssertEqual(c(.localAccessDenied("x")).context, .localFile)
        XCTAssertEqual(c(.localAccessDenied("x")).code, .accessDenied)
    }

    func testConfigParsing() throws {
        let config = try ServiceConfig.parse("# c\n[Limits]\nMaxJobsPerUser = 5\nMaxJobsPerMachine=7\n[Future]\nX=y\n")
        XCTAssertEqual(config.limits.maxJobsPerUser, 5)
        XCTAssertEqual(config.limits.maxJobsPerMachine, 7)
        XCTAssertEqual(config.limits.maxFilesPerJob, 200)
        XCTAssertThrowsError(try ServiceConfig.parse("[Limits]\nMaxJobsPerUser=lots\n")) {
            XCTAssertEqual(($0 as? ServiceConfig.ParseError)?.line, 2)
        }
        XCTAssertThrowsError(try ServiceConfig.parse("[Limits]\n\nBogus=1\n")) {
            XCTAssertEqual(($0 as? ServiceConfig.ParseError)?.line, 3)
        }
        XCTAssertThrowsError(try ServiceConfig.parse("garbage\n"))
        XCTAssertEqual(try ServiceConfig.parse("").notifyTimeLimit, 300)
        XCTAssertEqual(try ServiceConfig.parse("[Notify]\nNotifyTimeLimit=2\n").notifyTimeLimit, 2)
        for bad in ["0", "-1", "86401", "5m"] {
            XCTAssertThrowsError(try ServiceConfig.parse("[Notify]\nNotifyTimeLimit=\(bad)\n")) {
                XCTAssertEqual(($0 as? ServiceConfig.ParseError)?.line, 2)
            }
        }
        XCTAssertThrowsError(try ServiceConfig.parse("[Notify]\nTimeLimit=2\n"))
    }
}
