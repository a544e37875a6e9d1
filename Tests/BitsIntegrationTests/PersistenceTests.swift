import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The durable queue (issue 4): jobs survive clean restarts, `kill -9` and crashes between
/// any two steps of AddFile, Complete and Cancel; final jobs leave the database; the state
/// directory keeps secrets to root; a corrupt database or a full disk never loses the queue.
/// Every test restarts this class's daemon on its own state directory.
final class PersistenceTests: BitsTestCase {

    /// GetAll of a job and of each of its files.
    func snapshot(_ job: String) throws -> [JSONValue] {
        var all = try mustCall(as: alice, job, BitsNames.properties, "GetAll", "s", [BitsNames.job])
        let files = try property(as: alice, job, "Files").array ?? []
        for file in files.compactMap(\.string) {
            all += try mustCall(as: alice, file, BitsNames.properties, "GetAll", "s", [BitsNames.file])
        }
        return all
    }

    func sql(_ query: String) throws -> String {
        let r = try ProcessRunner.mustRun(["/usr/bin/sqlite3", daemon.databasePath, query])
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func temporaries(in dir: String) -> [String] {
        TestFiles.listing(dir).filter { $0.hasPrefix("BIT") && $0.hasSuffix(".tmp") }
    }

    /// Jobs in several states, with settings, credentials and files, come back after a clean
    /// stop with the same paths, Ids, owners, states, properties and files, and carry on.
    func testEverythingSurvivesACleanRestart() throws {
        let dir = try downloadDirectory(alice)
        let suspended = try createJob(as: alice, name: "suspended one")
        _ = try addFile(as: alice, job: suspended, url: http.url("/small.bin"), local: "\(dir)/s1.bin")
        _ = try addFile(as: alice, job: suspended, url: http.url("/medium.bin"), local: "\(dir)/s2.bin")
        try mustSetProperty(as: alice, suspended, "Description", type: "s", value: "kept across restarts")
        try mustSetProperty(as: alice, suspended, "Priority", type: "s", value: "low")
        try mustSetProperty(as: alice, suspended, "MinimumRetryDelay", type: "u", value: 77)
        try mustSetProperty(as: alice, suspended, "NoProgressTimeout", type: "u", value: 4321)
        try mustSetProperty(as: alice, suspended, "CustomHeaders", type: "as", value: ["X-Persisted: yes"])
        _ = try mustCall(as: alice, suspended, BitsNames.job, "SetCredentials", "ssss", ["server", "basic", "alice", "pers1st-pw"])

        let failed = try createJob(as: alice, name: "failed one")
        _ = try addFile(as: alice, job: failed, url: http.url("/missing-\(UUID().uuidString).bin"), local: "\(dir)/f.bin")
        try mustSetProperty(as: alice, failed, "Priority", type: "s", value: "foreground")
        try resume(as: alice, job: failed)
        try waitForState(as: alice, job: failed, ["error"], timeout: 15, failOn: ["transferred"])

        let transferred = try createJob(as: alice, name: "transferred one")
        _ = try addFile(as: alice, job: transferred, url: http.url("/big.bin"), local: "\(dir)/t.bin")
        try mustSetProperty(as: alice, transferred, "Priority", type: "s", value: "foreground")
        try resume(as: alice, job: transferred)
        try waitForState(as: alice, job: transferred, ["transferred"], timeout: 15)

        let before = try [suspended, failed, transferred].map(snapshot)
        let bobBefore = try listJobs(as: bob).values ?? []
        try daemon.restart()

        let after = try [suspended, failed, transferred].map(snapshot)
        for (b, a) in zip(before, after) { XCTAssertEqual(b, a, "a job's properties changed across the restart") }
        XCTAssertEqual(try listJobs(as: bob).values ?? [], bobBefore, "bob sees alice's jobs after the restart")
        assertError(try client(bob).getAll(suspended, BitsNames.job), [BitsNames.notFound], "bob GetAll after restart")
        XCTAssertFalse(try sql("SELECT COUNT(*) FROM job").isEmpty)

        // The credentials survived too: the suspended job now downloads from a server that
        // demands them.
        try complete(as: alice, job: transferred)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/t.bin"), env.files["big.bin"]?.sha256)
        let authJob = try createJob(as: alice, name: "auth")
        _ = try addFile(as: alice, job: authJob, url: http.url("/small.bin", [("auth", "basic"), ("user", "alice"), ("pass", "pers1st-pw")]),
                        local: "\(dir)/a.bin")
        _ = try mustCall(as: alice, authJob, BitsNames.job, "SetCredentials", "ssss", ["server", "basic", "alice", "pers1st-pw"])
        try daemon.restart(crash: true)
        try mustSetProperty(as: alice, authJob, "Priority", type: "s", value: "foreground")
        try resume(as: alice, job: authJob)
        try waitForState(as: alice, job: authJob, ["transferred"], timeout: 15)
        try complete(as: alice, job: authJob)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/a.bin"), env.files["small.bin"]?.sha256)

        try mustSetProperty(as: alice, suspended, "Priority", type: "s", value: "foreground")
        try resume(as: alice, job: suspended)
        try waitForState(as: alice, job: suspended, ["transferred"], timeout: 15)
        try complete(as: alice, job: suspended)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/s2.bin"), env.files["medium.bin"]?.sha256)
        XCTAssertFalse(daemon.logTail(lines: 5000).contains("pers1st-pw"), "the password appears in the log")
        try cancel(as: alice, job: failed)
        XCTAssertEqual(temporaries(in: dir), [])
    }

    /// `kill -9` in the middle of a download: after the restart the job is queued again and
    /// continues with a Range request from about where it was, and the file is identical.
    func testKillNineMidDownloadResumesFromTheBytesOnDisk() throws {
        let dir = try downloadDirectory(alice)
        let tag = "kill9-\(UUID().uuidString.prefix(6))"
        let size = 16 << 20
        let job = try createJob(as: alice, name: "kill -9")
        _ = try addFile(as: alice, job: job, url: http.url("/_gen/\(size)", [("rate", "2000000")], tag: tag), local: "\(dir)/k.bin")
        try mustSetProperty(as: alice, job, "Priority", type: "s", value: "foreground")
        try resume(as: alice, job: job)
        // Past the first progress checkpoint (5 s).
        _ = try waitForProperty(as: alice, job, "BytesTransferred", timeout: 30) { ($0.uint64 ?? 0) > 12_000_000 && $0.uint64 != UInt64.max }
        daemon.crash()
        try daemon.start()
        let state = try jobState(as: alice, job)
        XCTAssertTrue(["queued", "connecting", "transferring", "transferred"].contains(state), "state after kill -9: \(state)")
        try waitForState(as: alice, job: job, ["transferred"], timeout: 30)
        let starts = try rangeStarts(tag: tag)
        XCTAssertEqual(starts.count, 2, "requests: \(starts)")
        let resumedAt = starts.last.flatMap { $0 } ?? 0
        XCTAssertGreaterThan(resumedAt, 8_000_000, "the job must resume from the bytes on disk, not from 0 (Range start \(resumedAt))")
        try complete(as: alice, job: job)
        var expected = Data(count: size)
        expected.withUnsafeMutableBytes { buffer in
            let bytes = buffer.bindMemory(to: UInt8.self)
            for i in 0..<size { bytes[i] = UInt8(truncatingIfNeeded: i &* 7 &+ (i >> 8)) }
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/k.bin")), expected, "the resumed file differs from the source")
    }

    /// A crash between any two steps of AddFile, Cancel and Complete leaves a consistent
    /// queue after the restart: no stray temporary file, no duplicated file, no acknowledged
    /// job with its output missing, and Complete finishes by itself.
    func testCrashBetweenStepsLeavesAConsistentQueue() throws {
        // AddFile, crash after the destination was checked but before the job is stored.
        try crashCase("add-files:checked") { dir, job in
            _ = try call(as: alice, job, BitsNames.job, "AddFile", "ss", [http.url("/small.bin"), "\(dir)/x.bin"])
        } check: { dir, job in
            XCTAssertEqual(try property(as: alice, job, "FilesTotal").uint64, 0, "the uncommitted file is in the job")
            XCTAssertEqual(temporaries(in: dir), [], "a stray temporary file was left")
            // Adding it again gives exactly one file.
            _ = try addFile(as: alice, job: job, url: http.url("/small.bin"), local: "\(dir)/x.bin")
            XCTAssertEqual(try property(as: alice, job, "FilesTotal").uint64, 1)
        }
        // AddFile, crash after the job was stored but before the reply.
        try crashCase("add-files:stored") { dir, job in
            _ = try call(as: alice, job, BitsNames.job, "AddFile", "ss", [http.url("/small.bin"), "\(dir)/x.bin"])
        } check: { dir, job in
            XCTAssertEqual(try property(as: alice, job, "FilesTotal").uint64, 1)
            XCTAssertEqual(temporaries(in: dir), [], "the temporary file is created when the transfer starts")
            try downloadAndComplete(job, dir: dir, files: ["x.bin"])
        }
        // Cancel of a transferred job (its temporary files exist), crash after the state was
        // stored / after the files were deleted.
        for point in ["cancel:stored", "cancel:deleted"] {
            try crashCase(point, files: 2, transfer: true) { _, job in
                _ = try call(as: alice, job, BitsNames.job, "Cancel")
            } check: { dir, job in
                assertError(try call(as: alice, job, BitsNames.job, "Resume"), [BitsNames.notFound], "cancelled job after restart")
                XCTAssertEqual(temporaries(in: dir), [], "Cancel's temporary files survived the crash")
                XCTAssertEqual(try sql("SELECT COUNT(*) FROM job WHERE id = '\(hex(of: job))'"), "0")
            }
        }
        // Complete, crash before, between and after the renames: the restart finishes it.
        for point in ["complete:stored", "complete:renamed-one", "complete:renamed"] {
            try crashCase(point, files: 2, transfer: true) { _, job in
                _ = try call(as: alice, job, BitsNames.job, "Complete")
            } check: { dir, job in
                assertError(try call(as: alice, job, BitsNames.job, "Resume"), [BitsNames.notFound], "completed job after restart")
                XCTAssertEqual(try TestFiles.sha256("\(dir)/f0.bin"), env.files["small.bin"]?.sha256, "after a crash at \(point)")
                XCTAssertEqual(try TestFiles.sha256("\(dir)/f1.bin"), env.files["medium.bin"]?.sha256, "after a crash at \(point)")
                XCTAssertEqual(temporaries(in: dir), [], "temporary files left after a crash at \(point)")
                XCTAssertEqual(try sql("SELECT COUNT(*) FROM job WHERE id = '\(hex(of: job))'"), "0")
            }
        }
    }

    /// Arms the fsync fault for paths containing "/fsync-fails/" (until the test ends) and
    /// returns a job, transferred, of two files: one fsynced normally, one whose fsync fails.
    private func jobWithAnUndurableFile() throws -> (job: String, dir: String, failing: String, kept: String, lost: String) {
        let dir = try downloadDirectory(alice)
        let failing = try TestFiles.makeUserDirectory(alice, "\(dir.split(separator: "/").last!)/fsync-fails")
        try restartDaemonWithFailingFsync(forPathsContaining: "/fsync-fails/")
        let job = try createJob(as: alice, name: "fsync fails")
        let kept = try addFile(as: alice, job: job, url: http.url("/small.bin"), local: "\(dir)/kept.bin")
        let lost = try addFile(as: alice, job: job, url: http.url("/medium.bin"), local: "\(failing)/lost.bin")
        try mustSetProperty(as: alice, job, "Priority", type: "s", value: "foreground")
        try resume(as: alice, job: job)
        return (job, dir, failing, kept, lost)
    }

    /// The job is in error for the file that could not be made durable, that file is to be
    /// downloaded again from the start, and nothing is published.
    private func assertUndurable(_ t: (job: String, dir: String, failing: String, kept: String, lost: String),
                                 line: UInt = #line) throws {
        XCTAssertEqual(try jobState(as: alice, t.job), "error", line: line)
        XCTAssertEqual(try property(as: alice, t.job, "ErrorCode").string, "local-io", line: line)
        XCTAssertEqual(try property(as: alice, t.job, "ErrorFile").string, t.lost, line: line)
        XCTAssertEqual(try property(as: alice, t.lost, BitsNames.file, "Completed").bool, false, line: line)
        XCTAssertEqual(try property(as: alice, t.lost, BitsNames.file, "BytesTransferred").uint64, 0, line: line)
        XCTAssertEqual(try property(as: alice, t.kept, BitsNames.file, "Completed").bool, true, line: line)
        XCTAssertNil(TestFiles.size("\(t.dir)/kept.bin"), "a file was published", line: line)
        XCTAssertNil(TestFiles.size("\(t.failing)/lost.bin"), "the file whose fsync failed was published", line: line)
    }

    /// Complete right after the transfer fsyncs what is pending; a file whose fsync fails
    /// (EIO, injected with the hidden `--fail-fsync-of` option) makes it refuse and publish nothing.
    func testCompleteRefusesAFileThatCouldNotBeMadeDurable() throws {
        let t = try jobWithAnUndurableFile()
        // Complete comes well within the flusher's idle second: its own wait finds the failure.
        try waitForState(as: alice, job: t.job, ["transferred"], timeout: 15)
        assertError(try call(as: alice, t.job, BitsNames.job, "Complete"), ["org.freedesktop.DBus.Error.Failed"],
                    mentioning: ["\(t.failing)/lost.bin", "could not be made durable", "Input/output error"], "Complete")
        try assertUndurable(t)
    }

    /// Without a Complete, the flusher's background fsync finds the failure within a second
    /// of the last file: the job fails at once and the reset is stored, so a restart does not
    /// publish the file either; after it (without the fault) Resume and Complete deliver both
    /// files intact.
    func testAFailedBackgroundFsyncFailsTheJobAndIsStored() throws {
        let t = try jobWithAnUndurableFile()
        try waitForState(as: alice, job: t.job, ["error"], timeout: 15)
        try assertUndurable(t)
        XCTAssertTrue((try property(as: alice, t.job, "ErrorDescription").string ?? "").contains("could not be made durable"))

        daemon.extraArguments = []
        try daemon.restart()
        try assertUndurable(t)
        try resume(as: alice, job: t.job)
        try waitForState(as: alice, job: t.job, ["transferred"], timeout: 15)
        try complete(as: alice, job: t.job)
        XCTAssertEqual(try TestFiles.sha256("\(t.dir)/kept.bin"), env.files["small.bin"]?.sha256)
        XCTAssertEqual(try TestFiles.sha256("\(t.failing)/lost.bin"), env.files["medium.bin"]?.sha256)
        XCTAssertEqual(temporaries(in: t.dir) + temporaries(in: t.failing), [])
    }

    /// Sets up a job (with `files` files, transferred when `transfer`), arms the crash point,
    /// runs `action` (the daemon dies at the point), restarts without it and runs `check`.
    private func crashCase(_ point: String, files: Int = 0, transfer: Bool = false,
                           action: (String, String) throws -> Void, check: (String, String) throws -> Void) throws {
        let dir = try downloadDirectory(alice)
        daemon.extraArguments = ["--crash-at", point]
        try daemon.restart()
        let job = try createJob(as: alice, name: point)
        let sources = ["/small.bin", "/medium.bin"]
        for i in 0..<files { _ = try addFile(as: alice, job: job, url: http.url(sources[i % 2]), local: "\(dir)/f\(i).bin") }
        if transfer {
            try mustSetProperty(as: alice, job, "Priority", type: "s", value: "foreground")
            try resume(as: alice, job: job)
            try waitForState(as: alice, job: job, ["transferred"], timeout: 15)
        }
        try action(dir, job)
        daemon.waitForExit()
        daemon.extraArguments = []
        try daemon.start()
        XCTAssertTrue(daemon.logTail(lines: 50).contains("restored"), "no restore line after the crash at \(point)")
        try check(dir, job)
    }

    private func downloadAndComplete(_ job: String, dir: String, files: [String]) throws {
        try mustSetProperty(as: alice, job, "Priority", type: "s", value: "foreground")
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["transferred"], timeout: 15)
        try complete(as: alice, job: job)
        for name in files { XCTAssertNotNil(TestFiles.size("\(dir)/\(name)"), "\(name) missing after Complete") }
        XCTAssertEqual(temporaries(in: dir), [])
    }

    /// Acknowledged and cancelled jobs leave the database at once.
    func testFinalJobsLeaveTheDatabase() throws {
        let dir = try downloadDirectory(alice)
        let done = try createJob(as: alice, name: "done")
        _ = try addFile(as: alice, job: done, url: http.url("/small.bin"), local: "\(dir)/d.bin")
        let dropped = try createJob(as: alice, name: "dropped")
        _ = try addFile(as: alice, job: dropped, url: http.url("/small.bin"), local: "\(dir)/x.bin")
        XCTAssertEqual(try sql("SELECT COUNT(*) FROM file WHERE job_id IN ('\(hex(of: done))', '\(hex(of: dropped))')"), "2")
        try cancel(as: alice, job: dropped)
        try downloadAndComplete(done, dir: dir, files: ["d.bin"])
        // Removing a final job is a queued store write (group commit): wait for the writer.
        let jobs = "SELECT COUNT(*) FROM job WHERE id IN ('\(hex(of: done))', '\(hex(of: dropped))')"
        let files = "SELECT COUNT(*) FROM file WHERE job_id IN ('\(hex(of: done))', '\(hex(of: dropped))')"
        XCTAssertTrue(try waitUntil(timeout: 5) { try sql(jobs) == "0" }, "final jobs still in the database")
        XCTAssertEqual(try sql(files), "0")
    }

    /// The database and its directory are root's alone; wider modes are narrowed at start-up.
    func testStateDirectoryIsRootOnly() throws {
        func mode(_ path: String) -> mode_t {
            var st = stat()
            return stat(path, &st) == 0 ? st.st_mode & 0o7777 : 0o7777
        }
        let job = try createJob(as: alice, name: "secret")
        _ = try mustCall(as: alice, job, BitsNames.job, "SetCredentials", "ssss", ["proxy", "basic", "alice", "pr0xy-pw"])
        XCTAssertEqual(mode(daemon.stateDirectory), 0o700)
        XCTAssertEqual(mode(daemon.databasePath), 0o600)
        let other = try ProcessRunner.run(["/bin/cat", daemon.databasePath], as: alice)
        XCTAssertNotEqual(other.status, 0, "alice could read the queue database")
        daemon.stop()
        chmod(daemon.stateDirectory, 0o755)
        chmod(daemon.databasePath, 0o644)
        try daemon.start()
        XCTAssertEqual(mode(daemon.stateDirectory), 0o700)
        XCTAssertEqual(mode(daemon.databasePath), 0o600)
        XCTAssertTrue(daemon.logTail(lines: 80).contains("narrowed to 0700"), daemon.logTail(lines: 20))
        let all = try mustCall(as: alice, job, BitsNames.properties, "GetAll", "s", [BitsNames.job])
        XCTAssertFalse("\(all)".contains("pr0xy-pw"), "the proxy password is readable through D-Bus")
    }

    /// A corrupt database is moved aside with a clear log line; the daemon serves an empty
    /// queue instead of crash-looping.
    func testCorruptDatabaseIsMovedAside() throws {
        let job = try createJob(as: alice, name: "lost to corruption")
        daemon.stop()
        let garbage = Data((0..<65_536).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        try garbage.write(to: URL(fileURLWithPath: daemon.databasePath))
        try? FileManager.default.removeItem(atPath: daemon.databasePath + "-wal")
        try daemon.start()
        XCTAssertTrue(daemon.logTail(lines: 50).contains("moved it aside"), daemon.logTail(lines: 20))
        let aside = TestFiles.listing(daemon.stateDirectory).filter { $0.hasPrefix("queue.sqlite.broken-") }
        XCTAssertFalse(aside.isEmpty, "no moved-aside database in \(TestFiles.listing(daemon.stateDirectory))")
        assertError(try call(as: alice, job, BitsNames.job, "Resume"), [BitsNames.notFound], "job of the corrupt database")
        let fresh = try createJob(as: alice, name: "after corruption")
        try daemon.restart()
        XCTAssertEqual(try property(as: alice, fresh, "DisplayName").string, "after corruption")
    }

    /// A full disk while storing answers the method with an error and loses nothing stored.
    func testFullDiskFailsTheMethodAndLosesNothing() throws {
        let job = try createJob(as: alice, name: "full disk")
        try mustSetProperty(as: alice, job, "Description", type: "s", value: "stored before the disk filled")
        daemon.stop()
        let saved = daemon.stateDirectory + ".saved"
        try? FileManager.default.removeItem(atPath: saved)
        try FileManager.default.moveItem(atPath: daemon.stateDirectory, toPath: saved)
        try FileManager.default.createDirectory(atPath: daemon.stateDirectory, withIntermediateDirectories: false)
        try ProcessRunner.mustRun(["/bin/mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", daemon.stateDirectory])
        addCleanup { [daemon] in _ = try? ProcessRunner.run(["/bin/umount", "-l", daemon.stateDirectory]) }
        for name in TestFiles.listing(saved) {
            try FileManager.default.copyItem(atPath: "\(saved)/\(name)", toPath: "\(daemon.stateDirectory)/\(name)")
        }
        try daemon.start()
        // Fill the file system, then try to change the job.
        let filler = daemon.stateDirectory + "/filler"
        _ = try ProcessRunner.run(["/bin/dd", "if=/dev/zero", "of=\(filler)", "bs=64k"])
        let big = String(repeating: "x", count: 1000)
        var failures = 0
        for _ in 0..<20 {
            let r = try setProperty(as: alice, job, "Description", type: "s", value: big)
            if r.values == nil { failures += 1 }
        }
        XCTAssertGreaterThan(failures, 0, "no Set failed on a full disk")
        assertError(try setProperty(as: alice, job, "Description", type: "s", value: big + "y"),
                    ["org.freedesktop.DBus.Error.Failed"], mentioning: ["disk is full"])
        XCTAssertEqual(try property(as: alice, job, "Description").string, "stored before the disk filled",
                       "the failed Set changed the job in memory")
        try assertDaemonAlive()
        try FileManager.default.removeItem(atPath: filler)
        try daemon.restart()
        XCTAssertEqual(try property(as: alice, job, "Description").string, "stored before the disk filled")
        try mustSetProperty(as: alice, job, "Description", type: "s", value: "disk has room again")
        try daemon.restart()
        XCTAssertEqual(try property(as: alice, job, "Description").string, "disk has room again")
        daemon.stop()
        _ = try ProcessRunner.run(["/bin/umount", daemon.stateDirectory])
        try? FileManager.default.removeItem(atPath: daemon.stateDirectory)
        try FileManager.default.moveItem(atPath: saved, toPath: daemon.stateDirectory)
        try daemon.start()
    }
}

/// JobInactivityTimeout (bitsd.conf) cancels jobs without progress or change for that long.
final class InactivityTimeoutTests: BitsTestCase {
    override class var daemonConfig: String? { "[Limits]\nJobInactivityTimeout=3\n" }

    func testInactiveJobIsCancelledAndItsFilesDeleted() throws {
        let dir = try downloadDirectory(alice)
        let idle = try createJob(as: alice, name: "idle")
        _ = try addFile(as: alice, job: idle, url: http.url("/small.bin"), local: "\(dir)/i.bin")
        // Transferred and never completed: its temporary file exists (created by the transfer).
        try mustSetProperty(as: alice, idle, "Priority", type: "s", value: "foreground")
        try resume(as: alice, job: idle)
        try waitForState(as: alice, job: idle, ["transferred"], timeout: 15)
        XCTAssertEqual(TestFiles.listing(dir).filter { $0.hasPrefix("BIT") }.count, 1)
        // A job that keeps changing stays.
        let busy = try createJob(as: alice, name: "busy")
        for i in 0..<6 {
            usleep(1_000_000)
            try mustSetProperty(as: alice, busy, "Description", type: "s", value: "touch \(i)")
        }
        XCTAssertEqual(try jobState(as: alice, idle), "cancelled")
        assertError(try call(as: alice, BitsNames.managerPath, BitsNames.manager, "GetJob", "s", [guid(of: idle)]),
                    [BitsNames.notFound], "GetJob of the inactive job")
        XCTAssertEqual(TestFiles.listing(dir).filter { $0.hasPrefix("BIT") }, [], "the inactive job's temporary file stayed")
        XCTAssertEqual(try jobState(as: alice, busy), "suspended")
        XCTAssertTrue(daemon.logTail(lines: 50).contains("JobInactivityTimeout"))
    }
}

/// The job limits count the jobs taken over from the database.
final class PersistedLimitTests: BitsTestCase {
    override class var daemonConfig: String? { "[Limits]\nMaxJobsPerUser=2\n" }

    func testRestoredJobsCountAgainstTheLimit() throws {
        _ = try createJob(as: alice, name: "one")
        _ = try createJob(as: alice, name: "two")
        try daemon.restart(crash: true)
        assertError(try call(as: alice, BitsNames.managerPath, BitsNames.manager, "CreateJob", "ss", ["three", "download"]),
                    [BitsNames.tooManyJobsPerUser], "third job after a restart")
        XCTAssertEqual(try listJobs(as: alice).values?.first?.array?.count, 2)
    }
}
