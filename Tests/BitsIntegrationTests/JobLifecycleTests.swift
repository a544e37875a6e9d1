import Foundation
import XCTest

/// Create → add → resume → transferred → complete, and cancel/suspend/resume in the middle.
final class JobLifecycleTests: BitsTestCase {

    func testDownloadLifecycle() throws {
        let big = try XCTUnwrap(env.files["big.bin"])
        let tag = "life-\(UUID().uuidString.prefix(8))"
        let url = http.url("/big.bin", tag: tag)
        let dir = try downloadDirectory(alice)
        let local = "\(dir)/big.bin"

        let job = try createJob(as: alice, name: "lifecycle")
        XCTAssertEqual(try jobState(as: alice, job), "suspended", "a new job is suspended")
        XCTAssertEqual(try property(as: alice, job, "Owner").uint64, UInt64(alice.uid))
        XCTAssertEqual(try property(as: alice, job, "Type").string, "download")
        XCTAssertEqual(try property(as: alice, job, "DisplayName").string, "lifecycle")
        XCTAssertEqual(try property(as: alice, job, "Id").string?.lowercased(), guid(of: job))
        XCTAssertEqual(try property(as: alice, job, "Priority").string, "normal")
        XCTAssertEqual(try property(as: alice, job, "FilesTotal").uint64, 0)
        XCTAssertGreaterThan(try property(as: alice, job, "CreationTime").uint64 ?? 0, 0)

        let file = try addFile(as: alice, job: job, url: url, local: local)
        XCTAssertEqual(file, "\(job)/files/0")
        XCTAssertEqual(try property(as: alice, job, "FilesTotal").uint64, 1)
        XCTAssertEqual(try property(as: alice, job, "Files").stringArray, [file])

        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, state: "transferred")

        XCTAssertEqual(try property(as: alice, job, "BytesTotal").uint64, UInt64(big.size))
        XCTAssertEqual(try property(as: alice, job, "BytesTransferred").uint64, UInt64(big.size))
        XCTAssertEqual(try property(as: alice, job, "FilesTotal").uint64, 1)
        XCTAssertEqual(try property(as: alice, job, "FilesTransferred").uint64, 1)
        XCTAssertEqual(try property(as: alice, job, "Files").stringArray, [file])
        XCTAssertGreaterThan(try property(as: alice, job, "TransferCompletionTime").uint64 ?? 0, 0)
        XCTAssertEqual(try property(as: alice, job, "ErrorCount").uint64, 0)

        XCTAssertEqual(try property(as: alice, file, BitsNames.file, "RemoteName").string, url)
        XCTAssertEqual(try property(as: alice, file, BitsNames.file, "LocalName").string, local)
        XCTAssertEqual(try property(as: alice, file, BitsNames.file, "BytesTotal").uint64, UInt64(big.size))
        XCTAssertEqual(try property(as: alice, file, BitsNames.file, "BytesTransferred").uint64, UInt64(big.size))
        XCTAssertEqual(try property(as: alice, file, BitsNames.file, "Completed").bool, true)
        let temp = try property(as: alice, file, BitsNames.file, "TemporaryName").string ?? ""
        XCTAssertFalse(temp.isEmpty, "TemporaryName is empty")
        XCTAssertNotEqual(temp, local)
        XCTAssertTrue(TestFiles.exists(temp), "temporary file \(temp) does not exist before Complete")
        XCTAssertEqual(TestFiles.size(temp), big.size, "temporary file size")
        XCTAssertFalse(TestFiles.exists(local), "\(local) exists before Complete")

        try complete(as: alice, job: job)

        XCTAssertTrue(TestFiles.exists(local), "\(local) missing after Complete")
        XCTAssertEqual(try TestFiles.sha256(local), big.sha256, "content of \(local)")
        XCTAssertEqual(TestFiles.owner(local)?.uid, alice.uid, "\(local) must belong to alice")
        XCTAssertFalse(TestFiles.exists(temp), "temporary file \(temp) still there after Complete")
        XCTAssertEqual(TestFiles.listing(dir), ["big.bin"], "only the finished file remains")
        let listed = try listJobs(as: alice).first?.stringArray ?? []
        XCTAssertFalse(listed.contains(job), "a completed job is not listed any more: \(listed)")
        let after = try getProperty(as: alice, job, BitsNames.job, "State")
        if let s = after.first?.string {
            XCTAssertEqual(s, "acknowledged")
        } else {
            XCTAssertTrue(Self.goneErrors.contains(after.errorName ?? ""), "State after Complete: \(after)")
        }
    }

    func testAddFilesIsAllOrNone() throws {
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "all or none")
        let url = http.url("/small.bin")
        let bad = try call(as: alice, job, BitsNames.job, "AddFiles", "a(ss)",
                           [[[url, "\(dir)/a.bin"], [url, "relative/b.bin"]]])
        assertError(bad, [BitsNames.invalidArgs], mentioning: ["relative/b.bin"], "AddFiles with a relative path")
        XCTAssertEqual(try property(as: alice, job, "FilesTotal").uint64, 0, "no file may be added")
        XCTAssertEqual(try property(as: alice, job, "Files").stringArray, [])

        let good = try mustCall(as: alice, job, BitsNames.job, "AddFiles", "a(ss)",
                                [[[url, "\(dir)/a.bin"], [http.url("/big.bin"), "\(dir)/b.bin"]]])
        XCTAssertEqual(good.first?.stringArray, ["\(job)/files/0", "\(job)/files/1"])
        XCTAssertEqual(try property(as: alice, job, "FilesTotal").uint64, 2)
        XCTAssertEqual(try property(as: alice, "\(job)/files/1", BitsNames.file, "LocalName").string, "\(dir)/b.bin")
    }

    func testCancelMidTransferRemovesEverything() throws {
        let dir = try downloadDirectory(alice)
        let local = "\(dir)/cancelled.bin"
        let job = try createJob(as: alice, name: "cancel me")
        let file = try addFile(as: alice, job: job, url: http.url("/big.bin", [("rate", "150000")]), local: local)
        try resume(as: alice, job: job)
        try waitForProperty(as: alice, job, "BytesTransferred") { ($0.uint64 ?? 0) > 0 && $0.uint64 != UInt64.max }
        let temp = try property(as: alice, file, BitsNames.file, "TemporaryName").string ?? ""
        XCTAssertFalse(temp.isEmpty)
        XCTAssertTrue(waitUntil(timeout: 5) { TestFiles.exists(temp) }, "temporary file \(temp) never appeared")
        XCTAssertLessThan(try property(as: alice, job, "BytesTransferred").uint64 ?? 0, UInt64(1_572_864),
                          "the transfer should still be running")

        try cancel(as: alice, job: job)

        let state = try getProperty(as: alice, job, BitsNames.job, "State")
        if let s = state.first?.string {
            XCTAssertEqual(s, "cancelled")
        } else {
            XCTAssertTrue(Self.goneErrors.contains(state.errorName ?? ""), "State after Cancel: \(state)")
        }
        XCTAssertTrue(waitUntil(timeout: 5) { !TestFiles.exists(temp) }, "temporary file \(temp) survives Cancel")
        XCTAssertFalse(TestFiles.exists(local), "\(local) must not exist after Cancel")
        usleep(500_000)
        XCTAssertEqual(TestFiles.listing(dir), [], "nothing may remain in \(dir)")
        XCTAssertFalse((try listJobs(as: alice).first?.stringArray ?? []).contains(job))
    }

    func testSuspendStopsTheTransferAndResumeContinuesWithARange() throws {
        let big = try XCTUnwrap(env.files["big.bin"])
        let tag = "susp-\(UUID().uuidString.prefix(8))"
        // Only the first request is throttled; the resumed one runs at full speed.
        let url = http.url("/big.bin", [("rate", "200000"), ("times", "1")], tag: tag)
        let dir = try downloadDirectory(alice)
        let local = "\(dir)/suspended.bin"
        let job = try createJob(as: alice, name: "suspend me")
        _ = try addFile(as: alice, job: job, url: url, local: local)
        try resume(as: alice, job: job)
        try waitForProperty(as: alice, job, "BytesTransferred") {
            ($0.uint64 ?? 0) >= 262_144 && $0.uint64 != UInt64.max
        }
        try suspend(as: alice, job: job)
        XCTAssertEqual(try jobState(as: alice, job), "suspended")
        usleep(300_000)
        let b1 = try property(as: alice, job, "BytesTransferred").uint64 ?? 0
        usleep(1_500_000)
        let b2 = try property(as: alice, job, "BytesTransferred").uint64 ?? 0
        XCTAssertEqual(b1, b2, "BytesTransferred kept growing while suspended")
        XCTAssertEqual(try jobState(as: alice, job), "suspended")
        XCTAssertGreaterThan(b1, 0)
        XCTAssertLessThan(b1, UInt64(big.size), "the suspend came too late to test anything")

        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, state: "transferred")
        try complete(as: alice, job: job)
        XCTAssertEqual(try TestFiles.sha256(local), big.sha256, "content after suspend/resume")

        let starts = try rangeStarts(tag: tag)
        XCTAssertGreaterThanOrEqual(starts.count, 2, "expected a second request after Resume; log starts \(starts)")
        XCTAssertTrue(starts.dropFirst().contains { ($0 ?? 0) > 0 },
                      "the resumed request must ask for Range: bytes=N- with N > 0; got \(starts)")
        if let n = starts.dropFirst().compactMap({ $0 }).first {
            XCTAssertLessThanOrEqual(n, Int(b1), "resumed beyond what was transferred")
        }
    }

    func testFileURLOfReadableFile() throws {
        let srcDir = "\(env.directory)/pub-\(UUID().uuidString.prefix(8))"
        let src = "\(srcDir)/public.bin"
        let sha = try TestFiles.create(at: src, size: 200_000, seed: 42)
        chmod(srcDir, 0o755)
        let dir = try downloadDirectory(alice)
        let local = "\(dir)/copy.bin"
        let job = try createJob(as: alice, name: "file url")
        _ = try addFile(as: alice, job: job, url: "file://\(src)", local: local)
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, state: "transferred")
        XCTAssertEqual(try property(as: alice, job, "BytesTransferred").uint64, 200_000)
        try complete(as: alice, job: job)
        XCTAssertEqual(try TestFiles.sha256(local), sha)
        XCTAssertEqual(TestFiles.owner(local)?.uid, alice.uid)
    }

    func testFileURLOfRootOnlyFileNeverProducesACopy() throws {
        let probe = try ProcessRunner.run(["/usr/bin/head", "-c", "1", "/etc/shadow"], as: alice)
        XCTAssertFalse(probe.succeeded, "precondition: alice must not be able to read /etc/shadow")
        let dir = try downloadDirectory(alice)
        let local = "\(dir)/shadow.copy"
        let job = try createJob(as: alice, name: "steal shadow")
        let r = try call(as: alice, job, BitsNames.job, "AddFile", "ss", ["file:///etc/shadow", local])
        if r.isError {
            print("note: AddFile(file:///etc/shadow) refused up front: \(r)")
            // Refused up front: fine, with a proper error.
            assertError(r, [BitsNames.accessDenied, BitsNames.invalidArgs], mentioning: ["/etc/shadow"], "AddFile(/etc/shadow)")
        } else {
            try resume(as: alice, job: job)
            try waitForState(as: alice, job: job, ["error"], timeout: 20,
                             failOn: ["transferred", "cancelled", "acknowledged"])
            print("note: AddFile(file:///etc/shadow) accepted; the job failed at transfer time")
            XCTAssertEqual(try property(as: alice, job, "ErrorCode").string, "access-denied")
            let completed = try call(as: alice, job, BitsNames.job, "Complete")
            _ = completed // Complete of an errored job keeps nothing; an error reply is fine too.
        }
        usleep(300_000)
        XCTAssertFalse(TestFiles.exists(local), "a copy of /etc/shadow was produced at \(local)")
        XCTAssertEqual(TestFiles.listing(dir), [], "nothing may be written for an unreadable source")
    }
}
