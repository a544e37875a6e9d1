@testable import BitsService
import BitsCore
import BitsTransfer
import XCTest

/// How the engine's events change a download job (`DownloadEvents`): pure, no queue manager.
final class DownloadEventTests: XCTestCase {
    let t0 = ContinuousClock.now
    var sequence: UInt64 = 1

    func moment(_ seconds: Int64 = 0) -> Moment { Moment(now: t0 + .seconds(seconds), wall: 1_000_000 * UInt64(seconds)) }

    func controller(files: Int = 2, state: JobState = .connecting, _ settings: (inout Job) -> Void = { _ in }) -> JobController {
        var job = Job(id: JobID.random(), type: .download, owner: 1000, displayName: "j", now: 1)
        job.files = (0..<files).map { JobFile(remoteName: "http://h/\($0)", localName: "/tmp/\($0)", temporaryName: "/tmp/.\($0)") }
        job.state = state
        settings(&job)
        return JobController(job: job, runtime: JobRuntime())
    }

    func response(total: UInt64? = 1000, offset: UInt64 = 0, url: String = "") -> ResponseInfo {
        ResponseInfo(status: 200, totalSize: total, writeOffset: offset, entityTag: "\"e\"", lastModifiedText: "Mon",
                     lastModifiedMicroseconds: 5, acceptsRanges: true, effectiveURL: url, headerBlock: "HTTP/1.1 200 OK",
                     retryAfterSeconds: nil)
    }

    func digests(_ byte: UInt8) -> ComputedDigests {
        ComputedDigests(sha256: FileHash(algorithm: .sha256, digest: Array(repeating: byte, count: 32))!, sha512: nil, length: 10)
    }

    func testAResponseRecordsTheFileAndMovesAConnectingJobToTransferring() {
        var c = controller()
        c.job.files[1].durableBytes = 800
        let transition = c.responded(response(offset: 300), file: 1, at: moment(), sequence: &sequence)
        XCTAssertEqual(c.job.state, .transferring)
        XCTAssertTrue(transition.changed.contains(.state))
        let file = c.job.files[1]
        XCTAssertEqual(file.bytesTotal, 1000)
        XCTAssertEqual(file.bytesTransferred, 300)
        XCTAssertEqual(file.durableBytes, 300, "what lies beyond the write offset is being replaced")
        XCTAssertEqual(file.entityTag, "\"e\"")
        XCTAssertEqual(file.lastModified, 5)
        XCTAssertEqual(file.remoteName, "http://h/1", "redirects are reported only with allow-report")
        XCTAssertEqual(c.runtime.progress.take()?.first?.properties, [.lastModified, .responseHeaders, .bytesTotal, .bytesTransferred])
        XCTAssertEqual(c.responded(response(), file: 1, at: moment(), sequence: &sequence), .init(),
                       "a transferring job stays as it is")
    }

    func testAReportedRedirectChangesTheRemoteName() {
        var c = controller { $0.options.redirectPolicy = .allowReport }
        _ = c.responded(response(url: "http://mirror/1"), file: 0, at: moment(), sequence: &sequence)
        XCTAssertEqual(c.job.files[0].remoteName, "http://mirror/1")
        XCTAssertEqual(c.runtime.progress.take()?.first?.properties,
                       [.lastModified, .responseHeaders, .remoteName, .bytesTotal, .bytesTransferred])
    }

    func testProgressIsNewsOnlyWhenTheCountChanges() {
        var c = controller()
        XCTAssertNil(c.progressed(0, file: 0, at: moment(), sequence: &sequence), "no bytes: no news")
        XCTAssertEqual(c.job.state, .connecting)
        let first = c.progressed(100, file: 0, at: moment(), sequence: &sequence)
        XCTAssertEqual(first?.changed.contains(.state), true)
        XCTAssertEqual(c.job.state, .transferring)
        XCTAssertEqual(c.progressed(200, file: 0, at: moment(), sequence: &sequence), .init())
        XCTAssertEqual(c.job.files[0].bytesTransferred, 200)
        XCTAssertNil(c.progressed(5, file: 9, at: moment(), sequence: &sequence), "no such file")
    }

    func testAFinishedFileCompletesAndPublishesWhatWasPendingForIt() {
        var c = controller(state: .transferring)
        _ = c.responded(response(total: nil), file: 0, at: moment(), sequence: &sequence)
        let published = c.finished(file: 0, bytes: 42, sha256: digests(1).sha256)
        XCTAssertEqual(published, [.lastModified, .responseHeaders, .completed, .hash, .bytesTotal, .bytesTransferred])
        let file = c.job.files[0]
        XCTAssertTrue(file.completed)
        XCTAssertEqual(file.bytesTotal, 42, "an unknown size becomes the bytes received")
        XCTAssertEqual(file.hash, digests(1).sha256)
        XCTAssertTrue(c.runtime.progress.take()?.isEmpty ?? true, "the file's changes went out with its completion")
        XCTAssertEqual(c.job.nextFileIndex, 1)
    }

    func testAHashMismatchRefetchesOnceThenFails() {
        var c = controller(state: .transferring) { $0.files[0].expectedHash = self.digests(1).sha256 }
        c.job.files[0].bytesTransferred = 10
        XCTAssertEqual(c.judgeHash(file: 0, digests: digests(1), announced: []), .verified)
        guard case .refetch = c.judgeHash(file: 0, digests: digests(2), announced: []) else { return XCTFail("not refetched") }
        XCTAssertEqual(c.job.files[0].hashMismatches, 1)
        XCTAssertEqual(c.job.files[0].bytesTransferred, 0, "the file starts over")
        guard case .fail(let why) = c.judgeHash(file: 0, digests: digests(2), announced: []) else { return XCTFail("not failed") }
        XCTAssertTrue(why.contains("ExpectedHash"), why)
        XCTAssertNil(c.job.files[0].hashMismatches)
        XCTAssertFalse(c.job.files[0].completed)
    }

    func testAStoppedTransferLeavesACompletedFileAlone() {
        var c = controller(state: .transferring)
        c.stopped(file: 0, bytes: 7)
        XCTAssertEqual(c.job.files[0].bytesTransferred, 7)
        _ = c.finished(file: 1, bytes: 50, sha256: nil)
        c.stopped(file: 1, bytes: 3)
        XCTAssertEqual(c.job.files[1].bytesTransferred, 50)
    }
}
