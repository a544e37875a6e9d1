import XCTest
@testable import BitsCore

final class JobStateMachineTests: XCTestCase {
    func makeJob(_ state: JobState, type: JobType = .download, files: Int = 1, completed: Int = 0) -> Job {
        var job = Job(id: .random(), type: type, owner: 1000, displayName: "t", now: 1)
        job.state = state
        for i in 0..<files {
            var f = JobFile(remoteName: "http://h/\(i)", localName: "/tmp/\(i)", temporaryName: "/tmp/BIT\(i).tmp")
            f.completed = i < completed
            job.files.append(f)
        }
        return job
    }

    func testResumeFromStartingAndErrorStatesQueues() throws {
        for state in [JobState.suspended, .error, .transientError] {
            XCTAssertEqual(try JobStateMachine.resume(makeJob(state)), .queued, "\(state)")
        }
    }

    func testResumeOfActiveJobKeepsState() throws {
        for state in [JobState.queued, .connecting, .transferring] {
            XCTAssertEqual(try JobStateMachine.resume(makeJob(state)), state)
        }
    }

    func testResumeWithoutFilesIsEmpty() {
        XCTAssertThrowsError(try JobStateMachine.resume(makeJob(.suspended, files: 0))) { error in
            XCTAssertEqual((error as? ServiceError)?.name, .empty)
        }
    }

    func testResumeOfFullyTransferredJobStaysTransferred() throws {
        XCTAssertEqual(try JobStateMachine.resume(makeJob(.suspended, files: 2, completed: 2)), .transferred)
        XCTAssertEqual(try JobStateMachine.resume(makeJob(.transferred, files: 2, completed: 1)), .queued)
    }

    func testFinalStatesRefuseEverything() {
        for state in [JobState.acknowledged, .cancelled] {
            let job = makeJob(state)
            for action in [JobStateMachine.resume, JobStateMachine.suspend, JobStateMachine.cancel, JobStateMachine.complete] {
                XCTAssertThrowsError(try action(job)) { XCTAssertEqual(($0 as? ServiceError)?.name, .invalidState) }
            }
            XCTAssertThrowsError(try JobStateMachine.checkAddFiles(job, adding: 1)) {
                XCTAssertEqual(($0 as? ServiceError)?.name, .invalidState)
            }
            XCTAssertThrowsError(try JobStateMachine.checkSetProperty(job, name: "x")) {
                XCTAssertEqual(($0 as? ServiceError)?.name, .invalidState)
            }
        }
    }

    func testSuspendCancelCompleteFromEveryNonFinalState() throws {
        for state in JobState.allCases where !state.isFinal {
            XCTAssertEqual(try JobStateMachine.suspend(makeJob(state)), .suspended)
            XCTAssertEqual(try JobStateMachine.cancel(makeJob(state)), .cancelled)
            XCTAssertEqual(try JobStateMachine.complete(makeJob(state)), .acknowledged)
        }
    }

    func testUploadCompletesOnlyWhenTransferred() throws {
        XCTAssertThrowsError(try JobStateMachine.complete(makeJob(.transferring, type: .upload)))
        XCTAssertEqual(try JobStateMachine.complete(makeJob(.transferred, type: .upload)), .acknowledged)
    }

    func testUploadTakesOneFile() {
        XCTAssertThrowsError(try JobStateMachine.checkAddFiles(makeJob(.suspended, type: .upload, files: 1), adding: 1)) {
            XCTAssertEqual(($0 as? ServiceError)?.name, .tooManyFiles)
        }
        XCTAssertNoThrow(try JobStateMachine.checkAddFiles(makeJob(.suspended, type: .download, files: 1), adding: 5))
    }

    func testFailureDisposition() {
        XCTAssertEqual(JobStateMachine.stateAfterFailure(.transient, noProgressTimeout: 100), .transientError)
        XCTAssertEqual(JobStateMachine.stateAfterFailure(.fatal, noProgressTimeout: 100), .error)
        XCTAssertEqual(JobStateMachine.stateAfterFailure(.transient, noProgressTimeout: 0), .error)
    }

    func testDerivedProgress() {
        var job = makeJob(.transferring, files: 2, completed: 1)
        XCTAssertNil(job.bytesTotal)
        job.files[0].bytesTotal = 10; job.files[0].bytesTransferred = 10
        job.files[1].bytesTotal = 5; job.files[1].bytesTransferred = 2
        XCTAssertEqual(job.bytesTotal, 15)
        XCTAssertEqual(job.bytesTransferred, 12)
        XCTAssertEqual(job.filesTransferred, 1)
        XCTAssertEqual(job.nextFileIndex, 1)
    }
}
