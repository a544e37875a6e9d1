import Foundation
import XCTest

/// MaximumDownloadTime, and what a job looks like once it reached a final state.
final class TimeLimitAndFinalStateTests: BitsTestCase {

    /// A job connecting/transferring longer than MaximumDownloadTime fails for good with
    /// `max-download-time`; the data so far is kept for a later Resume.
    func testMaximumDownloadTimeEndsTheJobInError() throws {
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "slow")
        _ = try addFile(as: alice, job: job, url: http.url("/big.bin", [("rate", "50000")]), local: "\(dir)/slow.bin")
        try mustSetProperty(as: alice, job, "MaximumDownloadTime", type: "u", value: 2)
        XCTAssertEqual(try property(as: alice, job, "MaximumDownloadTime").uint64, 2)
        let started = Date()
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["error"], timeout: 15, failOn: ["transferred"])
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertGreaterThanOrEqual(elapsed, 1.9, "failed before the limit")
        XCTAssertLessThan(elapsed, 6, "the limit was not enforced in time")
        XCTAssertEqual(try property(as: alice, job, "ErrorCode").string, "max-download-time")
        XCTAssertEqual(try property(as: alice, job, "ErrorContext").string, "general-queue-manager")
        XCTAssertGreaterThan(try property(as: alice, job, "BytesTransferred").uint64 ?? 0, 0)
        try cancel(as: alice, job: job)
    }

    /// After Complete the job is gone from GetJob, ListJobs and GetManagedObjects, its
    /// final state can still be read from its path, and every method answers InvalidState.
    func testFinalJobsLeaveTheQueueButStayReadable() throws {
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "final")
        _ = try addFile(as: alice, job: job, url: http.url("/small.bin"), local: "\(dir)/final.bin")
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, state: "transferred")
        try complete(as: alice, job: job)

        XCTAssertEqual(try jobState(as: alice, job), "acknowledged")
        assertError(try call(as: alice, "/org/example/Bits", BitsNames.manager, "GetJob", "s", [guid(of: job)]),
                    ["org.example.Bits.Error.NotFound"], "GetJob of a completed job")
        let managed = try mustCall(as: alice, "/org/example/Bits", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")
        XCTAssertFalse("\(managed)".contains(hex(of: job)), "a completed job is still in GetManagedObjects")
        for method in ["Resume", "Suspend", "Cancel", "Complete"] {
            assertError(try call(as: alice, job, BitsNames.job, method), ["org.example.Bits.Error.InvalidState"], method)
        }
        assertError(try setProperty(as: alice, job, "DisplayName", type: "s", value: "x"),
                    ["org.example.Bits.Error.InvalidState"], "Set on a completed job")
    }
}
