import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `bitsctl` end to end: the real binary, run as alice (or bob) against the test daemon on the
/// private system bus, with `transfer`'s progress seen through a pseudo-terminal.
final class BitsctlTests: BitsTestCase {

    // MARK: transfer

    func testTransferDrawsAProgressBarInATerminalAndCompletes() throws {
        let dir = try downloadDirectory(alice, "ctl-transfer")
        let dest = "\(dir)/medium.bin"
        let before = try jobsOf(alice)
        let r = try inTerminal(["transfer", http.url("/medium.bin", [("rate", "700000")]), dest])
        XCTAssertEqual(r.status, 0, r.summary)
        let screen = r.stdout
        // The bar redraws one line in place (\r) with percentage, bytes, rate and ETA.
        XCTAssertTrue(screen.contains("\r["), "no in-place progress line: \(screen)")
        XCTAssertNotNil(screen.range(of: #"\] +[0-9]{1,3}%  [0-9.]+ (B|KiB|MiB) / 1\.00 MiB  [0-9.]+ (B|KiB|MiB)/s  ETA 0:0[0-9]"#,
                                     options: .regularExpression), "no bar with bytes, rate and ETA: \(screen)")
        XCTAssertTrue(screen.contains("100%  1.00 MiB / 1.00 MiB"), "the bar never reached 100%: \(screen)")
        XCTAssertTrue(screen.contains("Transferred 1 file(s), 1.00 MiB"), screen)
        XCTAssertEqual(try TestFiles.sha256(dest), env.files["medium.bin"]?.sha256)
        XCTAssertEqual(TestFiles.owner(dest)?.uid, alice.uid)
        XCTAssertEqual(TestFiles.listing(dir), ["medium.bin"], "temporary files left")
        XCTAssertEqual(try jobsOf(alice), before, "transfer left its job behind")
    }

    func testTransferOfSeveralURLsIntoADirectoryWithoutATerminalPrintsNoBar() throws {
        let dir = try downloadDirectory(alice, "ctl-multi")
        let r = try bitsctl(["transfer", http.url("/big.bin"), http.url("/medium.bin"), dir])
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertFalse(r.stderr.contains("["), "a bar was drawn on a pipe: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("Transferred 2 file(s)"), r.summary)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/big.bin"), env.files["big.bin"]?.sha256)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/medium.bin"), env.files["medium.bin"]?.sha256)
    }

    func testTransferFatalErrorExits1WithTheErrorAndCancelsTheJob() throws {
        let dir = try downloadDirectory(alice, "ctl-404")
        let before = try jobsOf(alice)
        let r = try bitsctl(["transfer", http.url("/absent.bin"), "\(dir)/absent.bin"])
        XCTAssertEqual(r.status, 1, r.summary)
        XCTAssertTrue(r.stderr.contains("Transfer failed: http-404 (remote-file)"), r.summary)
        XCTAssertTrue(r.stderr.contains("The job was cancelled."), r.summary)
        XCTAssertEqual(TestFiles.listing(dir), [])
        XCTAssertEqual(try jobsOf(alice), before)
    }

    func testTransferKeepOnErrorLeavesTheJobInError() throws {
        let dir = try downloadDirectory(alice, "ctl-keep-error")
        let r = try bitsctl(["transfer", "--keep-on-error", http.url("/absent.bin"), "\(dir)/absent.bin"])
        XCTAssertEqual(r.status, 1, r.summary)
        let id = try XCTUnwrap(r.stderr.range(of: #"[0-9a-f]{8}-[0-9a-f-]{27}"#, options: .regularExpression)
            .map { String(r.stderr[$0]) }, r.summary)
        let state = try bitsctl(["get", id, "State"])
        XCTAssertEqual(state.stdout, "error\n", state.summary)
        XCTAssertEqual(try bitsctl(["cancel", id]).status, 0)
    }

    func testTransferWaitsThroughATransientErrorWithAMessage() throws {
        let dir = try downloadDirectory(alice, "ctl-transient")
        let url = http.url("/medium.bin", [("fault", "status"), ("code", "503"), ("times", "1")])
        let r = try bitsctl(["transfer", "--retry-interval", "5", url, "\(dir)/medium.bin"], timeout: 60)
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertTrue(r.stderr.contains("Waiting: http-503 (remote-file)"), r.summary)
        XCTAssertTrue(r.stderr.contains("The service retries by itself (after 5 s at most)"), r.summary)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/medium.bin"), env.files["medium.bin"]?.sha256)
    }

    func testCtrlCCancelsTheTransferByDefault() throws {
        let dir = try downloadDirectory(alice, "ctl-interrupt")
        let before = try jobsOf(alice)
        let r = try inTerminal(["transfer", http.url("/big.bin", [("rate", "200000")]), "\(dir)/big.bin"],
                               interruptAfter: "ETA [0-9]")
        XCTAssertEqual(r.status, 130, r.summary)
        XCTAssertTrue(r.stdout.contains("Interrupted: the job was cancelled."), r.summary)
        XCTAssertEqual(try jobsOf(alice), before, "the interrupted job is still there")
        XCTAssertEqual(TestFiles.listing(dir), [], "files left after cancel")
    }

    func testCtrlCWithOnInterruptKeepLeavesTheJobRunning() throws {
        let dir = try downloadDirectory(alice, "ctl-interrupt-keep")
        let r = try inTerminal(["transfer", "--on-interrupt", "keep", http.url("/big.bin", [("rate", "300000")]),
                                "\(dir)/big.bin"], interruptAfter: "ETA [0-9]")
        XCTAssertEqual(r.status, 130, r.summary)
        XCTAssertTrue(r.stdout.contains("goes on in the background"), r.summary)
        let list = try json(["list", "--json"])
        let job = try XCTUnwrap(list.array?.first { $0["DisplayName"]?.string == "bitsctl transfer" }, "\(list)")
        let path = try XCTUnwrap(job["Path"]?.string)
        trackJob(path)
        try waitForState(as: alice, job: path, state: "transferred", timeout: 30)
        XCTAssertEqual(try bitsctl(["complete", path]).status, 0)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/big.bin"), env.files["big.bin"]?.sha256)
    }

    // MARK: jobs, files, properties

    func testJobLifecycleWithEveryAddCommandAndJSONOutput() throws {
        let dir = try downloadDirectory(alice, "ctl-lifecycle")
        let name = "ctl lifecycle \(UUID().uuidString.prefix(6))"
        let created = try json(["create", "--json", name])
        let id = try XCTUnwrap(created["Id"]?.string, "\(created)")
        trackJob(try XCTUnwrap(created["Path"]?.string))

        XCTAssertEqual(try bitsctl(["add-file", name, http.url("/medium.bin"), "\(dir)/one.bin"]).status, 0)
        let list = "\(alice.home)/ctl-list.txt"
        try ProcessRunner.mustRun(["/bin/sh", "-c", "printf '%s\\n' '# two more' '\(http.url("/big.bin")) \(dir)/two.bin' '' "
                                   + "'\(http.url("/small.bin")) \"\(dir)/three three.bin\"  # quoted'  > \(list)"], as: alice)
        let added = try bitsctl(["add-files", id, list])
        XCTAssertEqual(added.stdout.split(separator: "\n").count, 2, added.summary)
        let ranged = try bitsctl(["add-file-with-ranges", id, http.url("/medium.bin"), "\(dir)/ranges.bin", "0:100,2000:eof"])
        XCTAssertEqual(ranged.status, 0, ranged.summary)

        XCTAssertEqual(try bitsctl(["set", id, "Priority", "high"]).status, 0)
        XCTAssertEqual(try bitsctl(["get", id, "Priority"]).stdout, "high\n")
        XCTAssertEqual(try bitsctl(["set", id, "NotifyFlags", "0x2"]).status, 0)
        XCTAssertEqual(try json(["get", "--json", id, "NotifyFlags"]).uint64, 2)
        XCTAssertEqual(try bitsctl(["set", id, "CustomHeaders", "X-One: 1", "X-Two: 2"]).status, 0)
        XCTAssertEqual(try json(["get", "--json", id, "CustomHeaders"]).stringArray, ["X-One: 1", "X-Two: 2"])
        XCTAssertEqual(try json(["get", "--json", "--file", "3", id, "Ranges"]).array?.map { $0.array?.compactMap(\.uint64) },
                       [[0, 100], [2000, UInt64.max]])
        XCTAssertEqual(try bitsctl(["get", "--file", "3", id, "Ranges"]).stdout, "0:100,2000:eof\n")

        let info = try json(["info", "--json", id])
        XCTAssertEqual(info["Id"]?.string, id)
        XCTAssertEqual(info["FilesTotal"]?.uint64, 4)
        XCTAssertEqual(info["FileDetails"]?.array?.compactMap { $0["LocalName"]?.string },
                       ["\(dir)/one.bin", "\(dir)/two.bin", "\(dir)/three three.bin", "\(dir)/ranges.bin"])
        let listed = try json(["list", "--json"])
        XCTAssertEqual(listed.array?.filter { $0["Id"]?.string == id }.first?["State"]?.string, "suspended")
        XCTAssertTrue(try bitsctl(["list"]).stdout.contains("{\(id)} \"\(name)\" SUSPENDED 0 / 4"))

        XCTAssertEqual(try bitsctl(["resume", name]).status, 0)
        try waitForState(as: alice, job: "/org/example/Bits/jobs/\(id.replacingOccurrences(of: "-", with: ""))",
                         state: "transferred", timeout: 30)
        let files = try json(["files", "--json", id])
        XCTAssertEqual(files.array?.compactMap { $0["Completed"]?.bool }, [true, true, true, true])
        XCTAssertEqual(try bitsctl(["complete", id]).status, 0)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/two.bin"), env.files["big.bin"]?.sha256)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/three three.bin"), env.files["small.bin"]?.sha256)
        XCTAssertEqual(TestFiles.size("\(dir)/ranges.bin"), 100 + 1_048_576 - 2000)
        let gone = try bitsctl(["info", id])
        XCTAssertEqual(gone.status, 2, "a completed job is not found: \(gone.summary)")
    }

    func testJobsAreNamedByGUIDPathOrUniqueDisplayName() throws {
        let shared = "ctl twin \(UUID().uuidString.prefix(6))"
        let first = try createJob(as: alice, name: shared)
        let second = try createJob(as: alice, name: shared)
        let ambiguous = try bitsctl(["info", shared])
        XCTAssertEqual(ambiguous.status, 2, ambiguous.summary)
        XCTAssertTrue(ambiguous.stderr.contains("2 jobs are named \"\(shared)\""), ambiguous.summary)
        XCTAssertTrue(ambiguous.stderr.contains(guid(of: first)) && ambiguous.stderr.contains(guid(of: second)))

        XCTAssertEqual(try bitsctl(["set", first, "DisplayName", "ctl single"]).status, 0)
        XCTAssertEqual(try json(["info", "--json", "ctl single"])["Path"]?.string, first)
        XCTAssertEqual(try json(["info", "--json", "{\(guid(of: second).uppercased())}"])["Path"]?.string, second)
        XCTAssertEqual(try bitsctl(["info", "no such job name"]).status, 2)
        let unknownID = try bitsctl(["info", UUID().uuidString])
        XCTAssertEqual(unknownID.status, 2, unknownID.summary)
    }

    func testAnotherUsersJobIsNotFoundAndAllUsersIsDenied() throws {
        let job = try createJob(as: alice, name: "alice private")
        let r = try bitsctl(["info", guid(of: job)], as: bob)
        XCTAssertEqual(r.status, 2, r.summary)
        XCTAssertFalse(r.stdout.contains("alice private"))
        let all = try bitsctl(["list", "--all-users"], as: bob)
        XCTAssertEqual(all.status, 3, "bob is no administrator: \(all.summary)")
        let mine = try json(["list", "--json"], as: bob)
        XCTAssertFalse(mine.array?.contains { $0["Path"]?.string == job } ?? true)
    }

    func testAdministratorListsEveryUsersJobsAndTakesOwnership() throws {
        let carol = env.carol
        let dir = try downloadDirectory(alice, "ctl-shared")
        chmod(dir, 0o777)
        let job = try createJob(as: alice, name: "ctl alice for carol")
        _ = try addFile(as: alice, job: job, url: http.url("/small.bin"), local: "\(dir)/small.bin")
        let all = try json(["list", "--all-users", "--json"], as: carol)
        XCTAssertTrue(all.array?.contains { $0["Path"]?.string == job } ?? false, "carol --all-users: \(all)")
        let own = try json(["list", "--json"], as: carol)
        XCTAssertFalse(own.array?.contains { $0["Path"]?.string == job } ?? true, "without --all-users only carol's own jobs")
        let taken = try bitsctl(["take-ownership", guid(of: job)], as: carol)
        XCTAssertEqual(taken.status, 0, taken.summary)
        XCTAssertEqual(try json(["get", "--json", guid(of: job), "Owner"], as: carol).uint64, UInt64(carol.uid))
        XCTAssertEqual(try bitsctl(["info", guid(of: job)]).status, 2, "alice no longer sees the job")
        XCTAssertEqual(try bitsctl(["cancel", guid(of: job)], as: carol).status, 0)
    }

    func testBadInputsAreUsageErrorsOrServiceErrorsWithTheValue() throws {
        let job = try createJob(as: alice, name: "ctl bad inputs")
        let badRange = try bitsctl(["add-file-with-ranges", job, http.url("/medium.bin"), "/tmp/x.bin", "0:abc"])
        XCTAssertEqual(badRange.status, 64, badRange.summary)
        XCTAssertTrue(badRange.stderr.contains("\"0:abc\""), badRange.summary)
        let badValue = try bitsctl(["set", job, "MinimumRetryDelay", "soon"])
        XCTAssertEqual(badValue.status, 64, badValue.summary)
        XCTAssertTrue(badValue.stderr.contains("\"soon\""), badValue.summary)
        let refused = try bitsctl(["set", job, "Priority", "urgent"])
        XCTAssertEqual(refused.status, 1, refused.summary)
        XCTAssertTrue(refused.stderr.contains("urgent"), refused.summary)
        let empty = try bitsctl(["resume", job])
        XCTAssertEqual(empty.status, 1, empty.summary)
        let noBus = try bitsctl(["list", "--address", "unix:path=\(env.directory)/no-such-socket"])
        XCTAssertEqual(noBus.status, 4, noBus.summary)
    }

    /// `wait` (BitsClient's `updates()`) follows the job across a daemon crash: it reads the
    /// job again from the restarted service and still sees it finish.
    func testWaitFollowsTheJobAcrossADaemonRestart() throws {
        let dir = try downloadDirectory(alice, "ctl-wait-restart")
        let job = try createJob(as: alice, name: "ctl wait restart")
        _ = try addFile(as: alice, job: job, url: http.url("/big.bin", [("rate", "400000")]), local: "\(dir)/big.bin")
        try mustSetProperty(as: alice, job, "Priority", type: "s", value: "foreground")
        try resume(as: alice, job: job)
        final class Outcome: @unchecked Sendable { var result: CommandResult? } // written before `done` is signalled
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            outcome.result = try? self.bitsctl(["wait", job], timeout: 60)
            done.signal()
        }
        try waitForState(as: alice, job: job, state: "transferring", timeout: 10)
        Thread.sleep(forTimeInterval: 1)
        try daemon.restart(crash: true)
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success, "bitsctl wait did not return")
        XCTAssertEqual(outcome.result?.status, 0, outcome.result?.summary ?? "no result")
        XCTAssertEqual(try jobState(as: alice, job), "transferred")
        try complete(as: alice, job: job)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/big.bin"), env.files["big.bin"]?.sha256)
    }

    func testCredentialsComeFromStdinAndAreUsed() throws {
        let dir = try downloadDirectory(alice, "ctl-credentials")
        let url = http.url("/medium.bin", [("auth", "basic"), ("user", "ann"), ("pass", "s3cret-pass")])
        let job = try createJob(as: alice, name: "ctl credentials")
        let add = try bitsctl(["add-file", job, url, "\(dir)/medium.bin"])
        XCTAssertEqual(add.status, 0, add.summary)
        let set = try bitsctl(["set-credentials", "--password-stdin", job, "server", "basic", "ann"], stdin: "s3cret-pass\n")
        XCTAssertEqual(set.status, 0, set.summary)
        XCTAssertEqual(try bitsctl(["resume", job]).status, 0)
        try waitForState(as: alice, job: job, state: "transferred", timeout: 30)
        XCTAssertEqual(try bitsctl(["complete", job]).status, 0)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/medium.bin"), env.files["medium.bin"]?.sha256)
        // Without a terminal and without --password-stdin there is nobody to ask.
        let noTTY = try bitsctl(["set-credentials", try createJob(as: alice, name: "ctl no tty"), "server", "basic", "ann"])
        XCTAssertEqual(noTTY.status, 64, noTTY.summary)
    }

    func testMonitorRedrawsTheListInPlaceOnATerminal() throws {
        final class Outcome: @unchecked Sendable { var result: CommandResult? } // written before `done` is signalled
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            outcome.result = try? self.inTerminal(["monitor", "--max-events", "2"])
            done.signal()
        }
        Thread.sleep(forTimeInterval: 1.5) // let it subscribe and draw the first screen
        let job = try createJob(as: alice, name: "ctl live view")
        // Two changes after the creation, so two events come even if the monitor started late
        // and listed the new job in its first screen.
        try mustSetProperty(as: alice, job, "Description", type: "s", value: "changed")
        try mustSetProperty(as: alice, job, "Description", type: "s", value: "changed again")
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success, "monitor did not end after 2 changes")
        let screen = outcome.result?.stdout ?? ""
        XCTAssertEqual(outcome.result?.status, 0, outcome.result?.summary ?? "no result")
        XCTAssertTrue(screen.contains("\u{1B}[H\u{1B}[2J"), "no in-place redraw: \(screen)")
        XCTAssertTrue(screen.contains("{\(guid(of: job))} \"ctl live view\" SUSPENDED 0 / 0"), screen)
        XCTAssertGreaterThanOrEqual(screen.components(separatedBy: "bitsctl monitor:").count - 1, 3,
                                    "first screen plus one redraw per change: \(screen)")
    }

    func testMonitorPrintsChangesFromSignals() throws {
        let dir = try downloadDirectory(alice, "ctl-monitor")
        let output = Pipe()
        let monitor = try ManagedProcess(name: "bitsctl-monitor", command: [try bitsctlBinary(), "monitor", "--json"], as: alice,
                                         environment: ["DBUS_SYSTEM_BUS_ADDRESS": env.address],
                                         logPath: "\(env.directory)/monitor.log", stdout: output)
        defer { monitor.stop() }
        let lines = LineReader(pipe: output)
        let first = try XCTUnwrap(lines.nextLine(timeout: 20), "monitor printed nothing")
        XCTAssertEqual(try JSONValue.parse(first)["Event"]?.string, "snapshot")

        let job = try createJob(as: alice, name: "ctl monitored")
        _ = try addFile(as: alice, job: job, url: http.url("/medium.bin"), local: "\(dir)/medium.bin")
        try resume(as: alice, job: job)
        var states: [String] = []
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, !states.contains("transferred"), let line = lines.nextLine(timeout: 30) {
            let event = try JSONValue.parse(line)
            if event["Event"]?.string == "changed", event["Job"]?["Path"]?.string == job,
               let state = event["Job"]?["State"]?.string, states.last != state {
                states.append(state)
            }
        }
        XCTAssertEqual(states.first, "suspended", "\(states)")
        XCTAssertEqual(states.last, "transferred", "\(states)")
        try complete(as: alice, job: job)
        var removed = false
        while !removed, let line = lines.nextLine(timeout: 10) {
            let event = try JSONValue.parse(line)
            removed = event["Event"]?.string == "removed" && event["Path"]?.string == job
        }
        XCTAssertTrue(removed, "no removed event after Complete")
    }

    func jobsOf(_ user: TestUser) throws -> Set<String> {
        Set(try listJobs(as: user).first?.stringArray ?? [])
    }
}
