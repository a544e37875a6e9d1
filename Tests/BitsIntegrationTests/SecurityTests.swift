import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Who may do what (issue 5), attacked as unprivileged users against the real bus policy and
/// the real polkitd: alice and bob are ordinary users, carol is an administrator only through
/// the polkit rule the harness installs (`/etc/polkit-1/rules.d/49-bitsd-itest.rules`).
final class SecurityTests: BitsTestCase {
    override class var daemonConfig: String? { "[Limits]\nMaxJobsPerUser=4\nMaxFilesPerJob=2\nMaxRangesPerFile=2\n" }

    var carol: TestUser { env.carol }

    /// A directory alice and carol may both write (for ownership changes).
    func sharedDirectory() throws -> String {
        let dir = try downloadDirectory(alice, "shared")
        chmod(dir, 0o777)
        return dir
    }

    // MARK: polkit administrators

    func testPolkitAdministratorSeesAndControlsEveryJob() throws {
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "alice's")
        _ = try addFile(as: alice, job: job, url: http.url("/small.bin"), local: "\(dir)/a.bin")

        let listed = try listJobs(as: carol, allUsers: true)
        XCTAssertTrue((listed.first?.stringArray ?? []).contains(job), "carol ListJobs(true): \(listed)")
        XCTAssertEqual(try property(as: carol, job, "DisplayName").string, "alice's")
        try mustSetProperty(as: carol, job, "Description", type: "s", value: "set by an administrator")
        try mustCall(as: carol, job, BitsNames.job, "Suspend")
        XCTAssertEqual(try property(as: alice, job, "Description").string, "set by an administrator")

        // Ordinary users: no interaction allowed → InteractiveAuthorizationRequired; allowed
        // but no agent to authenticate → AccessDenied. Either way nothing listed.
        assertError(try listJobs(as: bob, allUsers: true), ["org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"],
                    "bob ListJobs(true) without interaction")
        let interactive = try client(bob).call(path: BitsNames.managerPath, interface: BitsNames.manager, method: "ListJobs",
                                               signature: "b", args: [true], interactive: true)
        assertError(interactive, [BitsNames.accessDenied], "bob ListJobs(true) allowing interaction")
        assertError(try call(as: bob, job, BitsNames.job, "Suspend"), [BitsNames.notFound], "bob Suspend of alice's job")
        assertError(try getProperty(as: bob, job, BitsNames.job, "DisplayName"), [BitsNames.notFound], "bob reads alice's job")
    }

    func testTakeOwnershipStripsSecretsAndUsesTheNewOwnersRights() throws {
        let dir = try sharedDirectory()
        let job = try createJob(as: alice, name: "to be taken")
        _ = try addFile(as: alice, job: job, url: http.url("/big.bin", [("rate", "400000")]), local: "\(dir)/t.bin")
        try mustSetProperty(as: alice, job, "CustomHeaders", type: "as", value: ["X-Secret: alice-token"])
        try mustSetProperty(as: alice, job, "NotifyCommandLine", type: "as", value: ["/bin/true"])
        _ = try mustCall(as: alice, job, BitsNames.job, "SetCredentials", "ssss", ["server", "basic", "alice", "alice-pw"])
        try mustSetProperty(as: alice, job, "Priority", type: "s", value: "foreground")
        try resume(as: alice, job: job)
        _ = try waitForProperty(as: alice, job, "BytesTransferred") { ($0.uint64 ?? 0) > 0 && $0.uint64 != UInt64.max }

        assertError(try call(as: bob, job, BitsNames.job, "TakeOwnership"), [BitsNames.notFound], "bob TakeOwnership")
        try mustCall(as: carol, job, BitsNames.job, "TakeOwnership")
        XCTAssertEqual(try property(as: carol, job, "Owner").uint64, UInt64(carol.uid))
        XCTAssertEqual(try property(as: carol, job, "CustomHeaders").array?.count ?? -1, 0)
        XCTAssertEqual(try property(as: carol, job, "NotifyCommandLine").array?.count ?? -1, 0)
        assertError(try getProperty(as: alice, job, BitsNames.job, "State"), [BitsNames.notFound], "alice after TakeOwnership")
        try waitForState(as: carol, job: job, ["transferred"], timeout: 30)
        let files = try property(as: carol, job, "Files").array?.compactMap(\.string) ?? []
        let temporary = try property(as: carol, files[0], BitsNames.file, "TemporaryName").string ?? ""
        XCTAssertEqual(TestFiles.owner(temporary)?.uid, carol.uid, "the data after TakeOwnership is written as carol")
        try complete(as: carol, job: job)
        XCTAssertEqual(TestFiles.owner("\(dir)/t.bin")?.uid, carol.uid)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/t.bin"), env.files["big.bin"]?.sha256)
        XCTAssertEqual(TestFiles.listing(dir).filter { $0.hasPrefix("BIT") }, [], "alice's temporary file was left")
    }

    func testTakeOwnershipFailsWhereTheNewOwnerCannotWrite() throws {
        let dir = try downloadDirectory(alice)  // 0755, alice's
        let job = try createJob(as: alice, name: "private dir")
        _ = try addFile(as: alice, job: job, url: http.url("/small.bin"), local: "\(dir)/p.bin")
        assertError(try call(as: carol, job, BitsNames.job, "TakeOwnership"), [BitsNames.accessDenied], mentioning: [dir],
                    "TakeOwnership into a directory carol cannot write")
        XCTAssertEqual(try property(as: alice, job, "Owner").uint64, UInt64(alice.uid), "the failed TakeOwnership changed the owner")
        XCTAssertEqual(TestFiles.listing(dir), [], "nothing is created before the transfer starts")
    }

    /// AddFile checks the destination as the owner and creates nothing; the temporary file
    /// appears beside the destination when the transfer starts: the owner's, mode 0600.
    func testAddFileChecksTheDirectoryAndTheTemporaryFileAppearsWhenTheTransferStarts() throws {
        let dir = try downloadDirectory(alice)
        let bobs = try downloadDirectory(bob)  // 0755: alice may look, not write
        let job = try createJob(as: alice, name: "checked destination")
        assertError(try call(as: alice, job, BitsNames.job, "AddFile", "ss", [http.url("/small.bin"), "\(bobs)/x.bin"]),
                    [BitsNames.accessDenied], mentioning: [bobs], "AddFile into bob's directory")
        try ProcessRunner.mustRun(["/bin/mkdir", "\(dir)/sub"], as: alice)
        assertError(try call(as: alice, job, BitsNames.job, "AddFile", "ss", [http.url("/small.bin"), "\(dir)/sub"]),
                    [BitsNames.invalidArgs], mentioning: ["\(dir)/sub"], "AddFile onto an existing directory")
        try ProcessRunner.mustRun(["/bin/rmdir", "\(dir)/sub"], as: alice)
        assertError(try call(as: alice, job, BitsNames.job, "AddFile", "ss", [http.url("/small.bin"), "\(dir)/missing/x.bin"]),
                    [BitsNames.invalidArgs], mentioning: ["\(dir)/missing"], "AddFile into a missing directory")
        // All or none: one bad destination adds nothing.
        assertError(try call(as: alice, job, BitsNames.job, "AddFiles", "a(ss)",
                             [[[http.url("/small.bin"), "\(dir)/a.bin"], [http.url("/small.bin"), "\(bobs)/b.bin"]]]),
                    [BitsNames.accessDenied], mentioning: [bobs], "AddFiles with one file into bob's directory")
        XCTAssertEqual(try property(as: alice, job, "FilesTotal").uint64, 0)

        let file = try addFile(as: alice, job: job, url: http.url("/small.bin"), local: "\(dir)/s.bin")
        let temporary = try property(as: alice, file, BitsNames.file, "TemporaryName").string ?? ""
        XCTAssertTrue(temporary.hasPrefix(dir + "/") && temporary.range(of: #"/BIT[0-9A-F]{16}\.tmp$"#, options: .regularExpression) != nil,
                      "TemporaryName \(temporary)")
        XCTAssertEqual(TestFiles.listing(dir), [], "AddFile created something")
        XCTAssertEqual(TestFiles.listing(bobs), [], "a refused AddFile created something")

        try mustSetProperty(as: alice, job, "Priority", type: "s", value: "foreground")
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["transferred"], timeout: 15)
        var st = stat()
        XCTAssertEqual(lstat(temporary, &st), 0, "\(temporary) does not exist after the transfer")
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFREG)
        // The mode the final file will have: 0666 less the umask of the process that added it
        // (the test's clients inherit this process's), as with `curl -o`.
        let mask = umask(0o022)
        umask(mask)
        XCTAssertEqual(st.st_mode & 0o7777, 0o666 & ~mask, "mode of the temporary file")
        XCTAssertEqual(st.st_uid, alice.uid, "owner of the temporary file")
        XCTAssertEqual(Int(st.st_size), env.files["small.bin"]?.size)
        try complete(as: alice, job: job)
        XCTAssertEqual(TestFiles.listing(dir), ["s.bin"])
    }

    func testLimitExemptionComesFromPolkit() throws {
        let dir = try downloadDirectory(bob)
        var bobJobs: [String] = []
        for i in 0..<4 { bobJobs.append(try createJob(as: bob, name: "bob \(i)")) }
        assertError(try call(as: bob, BitsNames.managerPath, BitsNames.manager, "CreateJob", "ss", ["bob 5", "download"]),
                    [BitsNames.tooManyJobsPerUser], "bob's fifth job")
        for i in 0..<5 { _ = try createJob(as: carol, name: "carol \(i)") }
        // Files per job and ranges per file.
        _ = try addFile(as: bob, job: bobJobs[0], url: http.url("/small.bin"), local: "\(dir)/1.bin")
        _ = try addFile(as: bob, job: bobJobs[0], url: http.url("/small.bin"), local: "\(dir)/2.bin")
        assertError(try call(as: bob, bobJobs[0], BitsNames.job, "AddFile", "ss", [http.url("/small.bin"), "\(dir)/3.bin"]),
                    ["org.example.Bits.Error.TooManyFilesInJob"], "bob's third file")
        assertError(try call(as: bob, bobJobs[1], BitsNames.job, "AddFileWithRanges", "ssa(tt)",
                             [http.url("/small.bin"), "\(dir)/r.bin", [[0, 10], [20, 10], [40, 10]]]),
                    ["org.example.Bits.Error.TooManyRangesInFile"], "bob's three ranges")
        let carolDir = try downloadDirectory(carol)
        let carolJob = try createJob(as: carol, name: "carol files")
        for i in 0..<3 { _ = try addFile(as: carol, job: carolJob, url: http.url("/small.bin"), local: "\(carolDir)/\(i).bin") }
        _ = try mustCall(as: carol, carolJob, BitsNames.job, "AddFileWithRanges", "ssa(tt)",
                         [http.url("/small.bin"), "\(carolDir)/r.bin", [[0, 10], [20, 10], [40, 10]]])
    }

    /// A caller that disconnects while its authorization is checked gets nothing done (polkit
    /// takes a second for carol here, so each caller is surely gone before the answer).
    func testCallerThatDisconnectsDuringAuthorizationGetsNothing() throws {
        let removeRules = try TestPolkit.installExtraRules(name: "10-bitsd-itest-slow-carol", """
            polkit.addRule(function(action, subject) {
                if (action.id == "org.example.bits.manage-all-jobs" && subject.user == "bitstest-carol") {
                    polkit.spawn(["/bin/sleep", "1"]);
                }
            });
            """)
        defer { removeRules() }
        let dir = try sharedDirectory()
        let job = try createJob(as: alice, name: "not to be taken")
        _ = try addFile(as: alice, job: job, url: http.url("/small.bin"), local: "\(dir)/d.bin")
        let script = """
            import dbus, dbus.lowlevel, sys
            conn = dbus.bus.BusConnection(sys.argv[1])
            msg = dbus.lowlevel.MethodCallMessage("org.example.Bits", sys.argv[2], "org.example.Bits.Job", "TakeOwnership")
            msg.set_no_reply(True)
            conn.send_message(msg)
            conn.flush()
            conn.close()
            """
        for _ in 0..<5 {
            let r = try ProcessRunner.run(["/usr/bin/python3", "-c", script, env.address, job], as: carol)
            XCTAssertTrue(r.succeeded, r.summary)
        }
        usleep(2_500_000)
        XCTAssertEqual(try property(as: alice, job, "Owner").uint64, UInt64(alice.uid), "a vanished caller took the job")
    }

    // MARK: files as the owner

    /// The temporary file is replaced by a symlink to a root-owned file before Complete:
    /// Complete refuses, and the root file is neither changed nor moved.
    func testSymlinkedTemporaryFileIsNotRenamed() throws {
        let dir = try downloadDirectory(alice)
        let victim = "/var/tmp/bitstest-victim-\(UUID().uuidString.prefix(6))"
        try "root's data\n".write(toFile: victim, atomically: true, encoding: .utf8)
        addCleanup { try? FileManager.default.removeItem(atPath: victim) }
        let job = try createJob(as: alice, name: "symlink temp")
        let file = try addFile(as: alice, job: job, url: http.url("/small.bin"), local: "\(dir)/s.bin")
        try mustSetProperty(as: alice, job, "Priority", type: "s", value: "foreground")
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["transferred"], timeout: 15)
        let temporary = try property(as: alice, file, BitsNames.file, "TemporaryName").string ?? ""
        try ProcessRunner.mustRun(["/bin/rm", temporary], as: alice)
        try ProcessRunner.mustRun(["/bin/ln", "-s", victim, temporary], as: alice)
        assertError(try call(as: alice, job, BitsNames.job, "Complete"), [BitsNames.accessDenied], "Complete through a symlink")
        XCTAssertEqual(try String(contentsOfFile: victim, encoding: .utf8), "root's data\n")
        XCTAssertEqual(TestFiles.owner(victim)?.uid, 0)
        var st = stat()
        XCTAssertNotEqual(lstat("\(dir)/s.bin", &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK, true, "the symlink was published")
    }

    /// The destination directory is swapped for a symlink (to /etc, or to another directory of
    /// the owner) between AddFile and Complete: Complete renames only into the directory the
    /// file was added to. Also when the name starts with a combining mark (the '/' before it
    /// is one Character with it, but the kernel's separator).
    func testSwappedDestinationDirectoryIsRefused() throws {
        for target in ["/etc", try downloadDirectory(alice, "elsewhere")] { for lead in ["", "\u{301}"] {
            let parent = try downloadDirectory(alice, "parent")
            let dir = "\(parent)/dl"
            try ProcessRunner.mustRun(["/bin/mkdir", dir], as: alice)
            let name = "\(lead)bitstest-swap-\(UUID().uuidString.prefix(6)).bin"
            let job = try createJob(as: alice, name: "swap")
            _ = try addFile(as: alice, job: job, url: http.url("/small.bin"), local: "\(dir)/\(name)")
            try mustSetProperty(as: alice, job, "Priority", type: "s", value: "foreground")
            try resume(as: alice, job: job)
            try waitForState(as: alice, job: job, ["transferred"], timeout: 15)
            try ProcessRunner.mustRun(["/bin/mv", dir, "\(parent)/moved"], as: alice)
            try ProcessRunner.mustRun(["/bin/ln", "-s", target, dir], as: alice)
            assertError(try call(as: alice, job, BitsNames.job, "Complete"), [BitsNames.accessDenied],
                        "Complete after the directory became a symlink to \(target)")
            XCTAssertFalse(TestFiles.exists("\(target)/\(name)"), "a file appeared in \(target)")
        } }
    }

    /// `..` and symlinked components cannot lead the daemon where the owner may not write.
    func testDotDotAndSymlinkedComponentsCannotEscape() throws {
        let dir = try downloadDirectory(alice)
        try ProcessRunner.mustRun(["/bin/ln", "-s", "/etc", "\(dir)/etc-link"], as: alice)
        let job = try createJob(as: alice, name: "escape")
        let name = "bitstest-escape-\(UUID().uuidString.prefix(6))"
        // '/' followed by a combining mark is one Character with it, but a separator to the kernel.
        for local in ["\(dir)/../../../../../../etc/\(name)", "\(dir)/etc-link/\(name)", "/root/\(name)", "/etc/\(name)",
                      "\(dir)/../\u{301}\(name)", "\(dir)/etc-link/\u{301}\(name)"] {
            assertError(try call(as: alice, job, BitsNames.job, "AddFile", "ss", [http.url("/small.bin"), local]),
                        [BitsNames.accessDenied, BitsNames.invalidArgs], "AddFile \(local)")
        }
        XCTAssertFalse(TestFiles.exists("/etc/\(name)"))
        XCTAssertFalse(TestFiles.exists("/root/\(name)"))
        XCTAssertEqual(TestFiles.listing("/etc").filter { $0.hasPrefix("BIT") && $0.hasSuffix(".tmp") }, [])
    }
}

/// Limits come from the configuration file; a bad file stops the daemon with the line named.
final class ConfigurationTests: BitsTestCase {
    override class var daemonConfig: String? { "[Limits]\nMaxJobsPerUser=7\nMaxJobsPerMachine=70\nMaxFilesPerJob=17\nMaxRangesPerFile=27\n" }

    func testLimitsFromTheConfigurationAreThePropertiesAndABadFileNamesItsLine() throws {
        for (name, value) in [("MaxJobsPerUser", 7), ("MaxJobsPerMachine", 70), ("MaxFilesPerJob", 17), ("MaxRangesPerFile", 27)] {
            XCTAssertEqual(try property(as: alice, BitsNames.managerPath, BitsNames.manager, name).uint64, UInt64(value), name)
        }
        let dir = NSTemporaryDirectory() + "bitsd-badconf-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "[Limits]\nMaxJobsPerUser=sixty\n".write(toFile: "\(dir)/bitsd.conf", atomically: true, encoding: .utf8)
        let r = try ProcessRunner.run([daemon.binary, "--address", env.address, "--state-directory", "\(dir)/state",
                                       "--config", "\(dir)/bitsd.conf"], timeout: 20)
        XCTAssertEqual(r.status, 78, r.summary)
        XCTAssertTrue(r.stderr.contains("line 2") && r.stderr.contains("sixty"), r.stderr)
    }
}
