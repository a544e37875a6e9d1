@testable import BitsService
import BitsCore
import XCTest

/// The job table: a job and its runtime come and go together, and the live-job counts the
/// limits are checked against follow every way a job comes, ends and changes owner.
final class JobTableTests: XCTestCase {
    func job(_ id: JobID, owner: UInt32, state: JobState = .suspended) -> Job {
        var job = Job(id: id, type: .download, owner: owner, displayName: "j", now: 1)
        job.state = state
        return job
    }

    /// A table with one published job of `owner`.
    func tableWithJob(owner: UInt32) -> (JobTable, JobID) {
        var table = JobTable()
        let id = table.reserve(owner: owner)
        table.publish(job(id, owner: owner))
        return (table, id)
    }

    func testAReservedJobCountsAtOnceButIsVisibleOnlyOncePublished() {
        var table = JobTable()
        let id = table.reserve(owner: 1000)
        XCTAssertEqual(table.liveJobs(of: 1000), 1)
        XCTAssertEqual(table.liveCount, 1)
        XCTAssertNil(table[id], "a reserved job is not visible before it is stored")
        XCTAssertEqual(table.count, 0)
        table.publish(job(id, owner: 1000))
        XCTAssertEqual(table[id]?.job.id, id)
        XCTAssertEqual(table[id]?.runtime.retired, false)
        XCTAssertEqual(table.liveJobs(of: 1000), 1, "publishing does not count the job twice")
    }

    func testACancelledReservationGivesItsCountBackOnce() {
        var table = JobTable()
        let kept = table.reserve(owner: 1000)
        let failed = table.reserve(owner: 1000)
        XCTAssertNotEqual(kept, failed)
        table.cancelReservation(failed)
        table.cancelReservation(failed)
        XCTAssertEqual(table.liveJobs(of: 1000), 1)
        XCTAssertEqual(table.liveCount, 1)
        XCTAssertNil(table[failed])
    }

    func testRetiringCountsAFinalJobOnceAndRemovingItChangesNothingMore() {
        var (table, id) = tableWithJob(owner: 1000)
        table.retire(id)
        XCTAssertEqual(table.liveJobs(of: 1000), 1, "a job that is not final is not retired")
        table[id]?.job.state = .cancelled
        table.retire(id)
        table.retire(id)
        XCTAssertEqual(table.liveJobs(of: 1000), 0)
        XCTAssertEqual(table.liveCount, 0)
        XCTAssertNotNil(table[id], "a final job stays readable until it is removed")
        table.remove(id)
        XCTAssertNil(table[id])
        XCTAssertEqual(table.liveCount, 0)
    }

    func testRestoredJobsCountUnlessFinalAndAFinalOneIsNeverRetiredAgain() {
        var table = JobTable()
        let live = JobID.random(), done = JobID.random()
        table.insert(job(live, owner: 7, state: .queued), runtime: JobRuntime())
        table.insert(job(done, owner: 7, state: .acknowledged), runtime: JobRuntime())
        XCTAssertEqual(table.liveJobs(of: 7), 1)
        table.retire(done)
        table.remove(done)
        XCTAssertEqual(table.liveJobs(of: 7), 1)
        XCTAssertEqual(table.liveCount, 1)
        XCTAssertEqual(table.count, 1)
    }

    func testANewOwnerTakesTheCountAlong() {
        var (table, id) = tableWithJob(owner: 1000)
        table.changeOwner(id, from: 1000, to: 0)
        XCTAssertEqual(table.liveJobs(of: 1000), 0)
        XCTAssertEqual(table.liveJobs(of: 0), 1)
        XCTAssertEqual(table.liveCount, 1)
        table[id]?.job.owner = 0
        table[id]?.job.state = .acknowledged
        table.retire(id)
        XCTAssertEqual(table.liveJobs(of: 0), 0)
        XCTAssertEqual(table.liveCount, 0)
    }

    func testRemovingAJobThatNeverRetiredGivesItsCountBack() {
        var (table, id) = tableWithJob(owner: 5)
        table.remove(id)
        XCTAssertEqual(table.liveJobs(of: 5), 0)
        XCTAssertEqual(table.liveCount, 0)
    }

    /// Changing a file through the table changes it in place: the job held keeps one copy
    /// of its file list (no copy per progress event).
    func testFilesChangeInPlace() {
        var table = JobTable()
        let id = table.reserve(owner: 1)
        var j = job(id, owner: 1)
        j.files = (0..<3).map { JobFile(remoteName: "http://h/\($0)", localName: "/tmp/\($0)", temporaryName: "/tmp/.\($0)") }
        table.publish(j)
        table[id]?.job.files[1].bytesTransferred = 42
        table[id]?.runtime.stepGeneration += 1
        XCTAssertEqual(table[id]?.job.files.map(\.bytesTransferred), [0, 42, 0])
        XCTAssertEqual(table[id]?.runtime.stepGeneration, 1)
        XCTAssertEqual(table.jobs.map(\.id), [id])
    }
}
