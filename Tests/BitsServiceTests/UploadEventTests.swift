@testable import BitsService
import BitsCore
import XCTest

/// How answered packets and the reply change an upload job (`UploadEvents`): pure.
final class UploadEventTests: XCTestCase {
    var sequence: UInt64 = 1
    let moment = Moment(now: .now, wall: 1_000_000)

    func controller(type: JobType = .upload, state: JobState = .connecting) -> JobController {
        var job = Job(id: JobID.random(), type: type, owner: 1000, displayName: "u", now: 1)
        var file = JobFile(remoteName: "http://h/up", localName: "/tmp/src", temporaryName: "/tmp/src")
        file.upload = UploadState(sourceSize: 3000, sourceModified: 7)
        job.files = [file]
        job.state = state
        if type == .uploadReply { job.reply = ReplyState() }
        return JobController(job: job, runtime: JobRuntime())
    }

    func sessionFile(_ c: JobController, acknowledged: UInt64, session: String? = "{s}") -> UploadSession.File {
        var state = c.job.files[0].upload!
        state.sessionID = session
        return UploadSession.File(state: state, acknowledged: acknowledged, remoteName: "http://h/up", expectsReply: false)
    }

    func testAcknowledgedBytesMoveAConnectingJobToTransferringWithASignal() {
        var c = controller()
        let created = c.uploadAdvanced(file: 0, to: sessionFile(c, acknowledged: 0), progressed: false, at: moment, sequence: &sequence)
        XCTAssertEqual(created, .init(), "a new session alone is no progress")
        XCTAssertEqual(c.job.files[0].upload?.sessionID, "{s}")
        XCTAssertEqual(c.job.state, .connecting)
        let acked = c.uploadAdvanced(file: 0, to: sessionFile(c, acknowledged: 1000), progressed: true, at: moment, sequence: &sequence)
        XCTAssertTrue(acked.changed.contains(.state), "the state change is published")
        XCTAssertEqual(c.job.state, .transferring)
        XCTAssertEqual(c.job.files[0].bytesTransferred, 1000)
        XCTAssertEqual(c.runtime.progress.take()?.map(\.index), [0])
        XCTAssertEqual(c.uploadAdvanced(file: 0, to: sessionFile(c, acknowledged: 2000), progressed: true, at: moment, sequence: &sequence), .init())
    }

    func testAnUploadedFileIsCompleteWithItsWholeSize() {
        var c = controller(state: .transferring)
        c.uploaded(file: 0)
        XCTAssertTrue(c.job.files[0].completed)
        XCTAssertEqual(c.job.files[0].bytesTransferred, 3000)
        XCTAssertEqual(c.job.nextFileIndex, nil)
    }

    func testTheReplysCountersAndItsEnd() {
        var plain = controller()
        XCTAssertEqual(plain.replyProgressed(bytes: 5), [], "an upload job has no reply")
        var c = controller(type: .uploadReply, state: .transferring)
        XCTAssertEqual(c.replyProgressed(bytes: 0, total: .some(nil)), [.replyBytesTransferred, .replyBytesTotal])
        XCTAssertEqual(c.replyProgressed(bytes: 40), [.replyBytesTransferred])
        XCTAssertNil(c.job.reply?.bytesTotal)
        XCTAssertEqual(c.replyDone(bytes: 60), [.replyBytesTotal, .replyBytesTransferred])
        XCTAssertEqual(c.job.reply?.done, true)
        XCTAssertEqual(c.job.reply?.bytesTotal, 60, "an unknown size becomes the bytes received")
    }
}
