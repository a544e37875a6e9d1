@testable import BitsService
import BitsCore
import XCTest

final class JobControllerTests: XCTestCase {
    let t0 = ContinuousClock.now

    func controller(_ settings: (inout Job) -> Void = { _ in }) -> JobController {
        var job = Job(id: JobID.random(), type: .download, owner: 1000, displayName: "j", now: 1)
        settings(&job)
        return JobController(job: job, runtime: JobRuntime())
    }

    func moment(_ seconds: Int64) -> Moment { Moment(now: t0 + .seconds(seconds), wall: 1_000_000 * UInt64(seconds)) }

    func testEnteringStatesKeepsQueueOrderAndCompletionTime() {
        var c = controller()
        var sequence: UInt64 = 7
        XCTAssertEqual(c.enter(.queued, at: moment(0), sequence: &sequence), .init(changed: [.state]))
        XCTAssertEqual(c.runtime.queuedSequence, 7)
        XCTAssertEqual(sequence, 8)
        let done = c.enter(.transferred, at: moment(5), sequence: &sequence)
        XCTAssertEqual(done.changed, [.state, .transferCompletionTime])
        XCTAssertEqual(c.job.transferCompletionTime, 5_000_000)
    }

    /// The live rate: measured while transferring, kept over a `connecting` between two
    /// files (shown as 0 meanwhile), 0 / unknown in the same transition that leaves.
    func testTheRateIsMeasuredWhileTransferringAndClearedOnLeaving() {
        var c = controller { $0.files = [JobFile(remoteName: "http://h/f", localName: "/tmp/f", temporaryName: "/tmp/.f")] }
        c.job.files[0].bytesTotal = 10_000
        var sequence: UInt64 = 0
        _ = c.enter(.connecting, at: moment(0), sequence: &sequence)
        c.measureRate(now: 0)
        XCTAssertEqual(c.job.transferRate, .idle, "not measured before bytes flow")
        XCTAssertEqual(c.enter(.transferring, at: moment(0), sequence: &sequence).changed, [.state])
        c.measureRate(now: 1_000)
        c.job.files[0].bytesTransferred = 2_000
        c.measureRate(now: 2_000)
        XCTAssertEqual(c.job.transferRate, TransferRate(bytesPerSecond: 2_000, secondsRemaining: 4))

        XCTAssertEqual(c.enter(.connecting, at: moment(3), sequence: &sequence).changed, JobProperty.rate.union([.state]))
        XCTAssertEqual(c.job.transferRate, .idle)
        _ = c.enter(.transferring, at: moment(3), sequence: &sequence)
        c.job.files[0].bytesTransferred = 4_000
        c.measureRate(now: 3_000)
        XCTAssertEqual(c.job.transferRate, TransferRate(bytesPerSecond: 2_000, secondsRemaining: 3), "the samples were kept")

        let suspended = c.enter(.suspended, at: moment(4), sequence: &sequence)
        XCTAssertEqual(suspended.changed, JobProperty.rate.union([.state]))
        XCTAssertEqual(c.job.transferRate, .idle)
        XCTAssertEqual(c.runtime.rateMeter.sampleCount, 0, "the meter starts over")
        XCTAssertEqual(c.enter(.queued, at: moment(5), sequence: &sequence).changed, [.state], "nothing to clear")
    }

    func testBecomingActiveWithAMaximumDownloadTimeAsksForACheck() {
        var c = controller { $0.maximumDownloadTime = 30 }
        var sequence: UInt64 = 0
        XCTAssertEqual(c.enter(.connecting, at: moment(0), sequence: &sequence).checkDownloadTimeAfter, .seconds(30))
        XCTAssertNil(c.enter(.transferring, at: moment(10), sequence: &sequence).checkDownloadTimeAfter, "still active")
        _ = c.enter(.queued, at: moment(20), sequence: &sequence)
        XCTAssertEqual(c.enter(.connecting, at: moment(100), sequence: &sequence).checkDownloadTimeAfter, .seconds(10))
    }

    func testATransientFailureWaitsAndAFatalOneFails() {
        var c = controller { $0.minimumRetryDelay = 60; $0.state = .transferring }
        var sequence: UInt64 = 0
        let transient = c.fail(.connectionReset("reset"), fileIndex: 0, at: moment(0), sequence: &sequence)
        XCTAssertEqual(c.job.state, .transientError)
        XCTAssertEqual(transient.plan, .retry(after: .seconds(60)))
        XCTAssertEqual(transient.error.code, .connectionReset)
        XCTAssertTrue(transient.transition.changed.isSuperset(of: JobProperty.errorProperties.union([.state, .modificationTime])))
        XCTAssertEqual(c.job.errorCount, 1)
        XCTAssertEqual(c.job.modificationTime, 0)

        let fatal = c.fail(.tls("bad certificate"), fileIndex: nil, at: moment(1), sequence: &sequence)
        XCTAssertEqual(c.job.state, .error)
        XCTAssertNil(fatal.plan)
        XCTAssertEqual(c.job.lastError?.code, .tls)
        XCTAssertEqual(c.job.errorCount, 2)
    }

    func testNoProgressTimeoutTurnsATransientFailureFatal() {
        var c = controller { $0.minimumRetryDelay = 10; $0.noProgressTimeout = 30 }
        var sequence: UInt64 = 0
        _ = c.fail(.timeout("t"), fileIndex: 0, at: moment(0), sequence: &sequence)
        let second = c.fail(.timeout("t"), fileIndex: 0, at: moment(25), sequence: &sequence)
        XCTAssertEqual(second.plan, .giveUp(after: .seconds(5)))
        let third = c.fail(.timeout("t"), fileIndex: 0, at: moment(30), sequence: &sequence)
        XCTAssertNil(third.plan)
        XCTAssertEqual(third.attempt.code, .timeout)
        XCTAssertEqual(third.error.code, .noProgress)
        XCTAssertEqual(c.job.state, .error)
    }

    func testGiveUpAndRequeueApplyOnlyToAWaitingJob() {
        var c = controller { $0.state = .suspended }
        var sequence: UInt64 = 0
        XCTAssertNil(c.giveUp(at: moment(0), sequence: &sequence))
        XCTAssertNil(c.requeue(at: moment(0), sequence: &sequence))
        let blocked = c.block(.networkDisconnected, "no network", at: moment(0), sequence: &sequence)
        XCTAssertEqual(c.job.state, .transientError)
        XCTAssertTrue(blocked.changed.contains(.state))
        XCTAssertEqual(c.job.lastError?.code, .networkDisconnected)
        XCTAssertEqual(c.requeue(at: moment(1), sequence: &sequence)?.changed, [.state])
        XCTAssertEqual(c.job.state, .queued)

        var waiting = controller { $0.state = .transientError; $0.lastError = JobError(context: .remoteFile, code: .timeout, description: "slow") }
        let given = waiting.giveUp(at: moment(2), sequence: &sequence)
        XCTAssertEqual(waiting.job.state, .error)
        XCTAssertEqual(waiting.job.lastError?.code, .noProgress)
        XCTAssertTrue(waiting.job.lastError?.description.contains("slow") ?? false)
        XCTAssertTrue(given?.changed.isSuperset(of: JobProperty.errorProperties) ?? false)
    }
}
