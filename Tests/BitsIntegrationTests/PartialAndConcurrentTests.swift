import Foundation
import XCTest

/// Complete on a partly transferred job, a Complete that stops at a refused rename, and
/// several foreground jobs transferring at once.
final class PartialAndConcurrentTests: BitsTestCase {

    /// Files of a job go in order; Complete while the second is still running keeps only the
    /// finished first file and deletes the partial one (BITS "partial complete").
    func testCompleteOnPartlyTransferredJobKeepsOnlyFinishedFiles() throws {
        let small = try XCTUnwrap(env.files["small.bin"])
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "partial")
        _ = try mustCall(as: alice, job, BitsNames.job, "AddFiles", "a(ss)",
                         [[[http.url("/small.bin"), "\(dir)/first.bin"],
                           [http.url("/big.bin", [("rate", "100000")]), "\(dir)/second.bin"]]])
        try resume(as: alice, job: job)
        try waitForProperty(as: alice, job, "FilesTransferred") { ($0.uint64 ?? 0) == 1 }
        let second = "\(job)/files/1"
        try waitForProperty(as: alice, second, "BytesTransferred", interface: BitsNames.file) {
            ($0.uint64 ?? 0) > 0 && $0.uint64 != UInt64.max
        }
        let partialTemp = try property(as: alice, second, BitsNames.file, "TemporaryName").string ?? ""
        XCTAssertEqual(try property(as: alice, second, BitsNames.file, "Completed").bool, false)

        try complete(as: alice, job: job)

        XCTAssertEqual(try TestFiles.sha256("\(dir)/first.bin"), small.sha256, "the finished file is kept")
        XCTAssertFalse(TestFiles.exists("\(dir)/second.bin"), "the unfinished file must not appear")
        XCTAssertTrue(waitUntil(timeout: 5) { !TestFiles.exists(partialTemp) }, "partial temporary \(partialTemp) survives")
        XCTAssertEqual(TestFiles.listing(dir), ["first.bin"])
    }

    /// Complete of three files whose second temporary was replaced by a symlink: the first
    /// file is published, Complete fails naming the second, the job stays transferred, and
    /// nothing is renamed through the symlink or after it.
    func testCompleteStopsAtTheFirstRefusedRenameAndKeepsTheJob() throws {
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "partial complete")
        let names = ["a.bin", "b.bin", "c.bin"]
        _ = try mustCall(as: alice, job, BitsNames.job, "AddFiles", "a(ss)",
                         [names.map { [http.url("/small.bin"), "\(dir)/\($0)"] }])
        try mustSetProperty(as: alice, job, "Priority", type: "s", value: "foreground")
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["transferred"], timeout: 15)
        let second = try property(as: alice, "\(job)/files/1", BitsNames.file, "TemporaryName").string ?? ""
        try ProcessRunner.mustRun(["/bin/rm", second], as: alice)
        try ProcessRunner.mustRun(["/bin/ln", "-s", "/etc/hostname", second], as: alice)
        assertError(try call(as: alice, job, BitsNames.job, "Complete"), [BitsNames.accessDenied], mentioning: [second],
                    "Complete with the second temporary a symlink")
        XCTAssertEqual(try jobState(as: alice, job), "transferred")
        XCTAssertEqual(try TestFiles.sha256("\(dir)/a.bin"), env.files["small.bin"]?.sha256, "the first file is published")
        XCTAssertEqual(try property(as: alice, "\(job)/files/0", BitsNames.file, "TemporaryName").string, "\(dir)/a.bin")
        XCTAssertFalse(TestFiles.exists("\(dir)/b.bin"), "the symlink was renamed")
        XCTAssertFalse(TestFiles.exists("\(dir)/c.bin"), "a file after the refused one was renamed")
    }

    /// Foreground jobs run at once and concurrently: three rate-limited jobs are all
    /// transferring at the same moment, and all finish byte-identical.
    func testForegroundJobsTransferConcurrently() throws {
        let big = try XCTUnwrap(env.files["big.bin"])
        let dir = try downloadDirectory(alice)
        var jobs: [String] = []
        for i in 0..<3 {
            let job = try createJob(as: alice, name: "concurrent \(i)")
            _ = try addFile(as: alice, job: job, url: http.url("/big.bin", [("rate", "600000")]), local: "\(dir)/c\(i).bin")
            try mustSetProperty(as: alice, job, "Priority", type: "s", value: "foreground")
            jobs.append(job)
        }
        for job in jobs { try resume(as: alice, job: job) }
        let allRunning = waitUntil(timeout: 10) {
            jobs.allSatisfy { job in
                let bytes = (try? self.property(as: self.alice, job, "BytesTransferred").uint64) ?? 0
                return ((try? self.jobState(as: self.alice, job)) == "transferring") && (bytes ?? 0) > 0
            }
        }
        XCTAssertTrue(allRunning, "all three foreground jobs should be transferring at once: \(jobs.map { (try? self.jobState(as: self.alice, $0)) ?? "?" })")
        for (i, job) in jobs.enumerated() {
            try waitForState(as: alice, job: job, state: "transferred", timeout: 30)
            try complete(as: alice, job: job)
            XCTAssertEqual(try TestFiles.sha256("\(dir)/c\(i).bin"), big.sha256)
        }
    }
}
