import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Runs the D-Bus fuzzer (`Tests/Support/dbusfuzz.py`) as alice against this class's bitsd for
/// `BITS_FUZZ_SECONDS` seconds (default 60; `make fuzz` gives 600), with bob's jobs and files as
/// the other user's objects and root-owned files as targets, and then checks what the issue
/// asks for: the daemon never died or stalled (same pid, every call answered within its
/// timeout), every refusal was a named error, bob's jobs and every root-owned file are
/// untouched, and a normal download works afterwards. `BITS_FUZZ_SEED` repeats a run.
///
/// The fuzzer's JSON summary and report are printed (and kept beside the call log in the test's
/// temp directory, see BITSD_ITEST_KEEP_TEMP). The fuzzer runs with `--fifos`: FIFOs as
/// destinations, sources and in place of temporary files (`BITS_FUZZ_FIFOS=0` leaves them out,
/// to look past a FIFO hang while it is being fixed; `BITS_FUZZ_ARGS` adds fuzzer options, such
/// as `--exclude TEXT` to look past another known bug).
final class FuzzTests: BitsTestCase {
    private struct RootFile {
        let path: String
        let sha256: String
        let mode: mode_t
        let uid: uid_t
    }

    func testFuzzAsUnprivilegedUser() throws {
        let environment = ProcessInfo.processInfo.environment
        let seconds = environment["BITS_FUZZ_SECONDS"].flatMap { Double($0) } ?? 60
        let seed = environment["BITS_FUZZ_SEED"].flatMap { UInt32($0) }
        let fifos = environment["BITS_FUZZ_FIFOS"] != "0"
        let tag = UUID().uuidString.prefix(8).lowercased()

        // The fuzzer and the interface XML, where alice can read them wherever the repo lives.
        let tools = "\(env.directory)/fuzz-\(tag)"
        try FileManager.default.createDirectory(atPath: "\(tools)/dbus", withIntermediateDirectories: true)
        chmod(tools, 0o755)
        chmod("\(tools)/dbus", 0o755)
        let script = "\(tools)/dbusfuzz.py"
        try copy("\(TestEnvironment.repoRoot)/Tests/Support/dbusfuzz.py", to: script)
        for name in ["org.example.Bits.Manager.xml", "org.example.Bits.Job.xml", "org.example.Bits.File.xml"] {
            try copy("\(TestEnvironment.repoRoot)/dbus/\(name)", to: "\(tools)/dbus/\(name)")
        }

        // Bob's objects: a download job with a file into his directory, an upload job of a file
        // of his that only he can read.
        let bobDir = try downloadDirectory(bob, "fuzz-bob")
        let bobSource = "\(bobDir)/upload-source.bin"
        let bobSourceHash = try TestFiles.create(at: bobSource, size: 10_000, seed: 77)
        chown(bobSource, bob.uid, bob.gid)
        chmod(bobSource, 0o600)
        let bobDownload = try createJob(as: bob, name: "bob's download", type: "download")
        let bobDownloadFile = try addFile(as: bob, job: bobDownload, url: http.url("/small.bin"), local: "\(bobDir)/bob.bin")
        try mustSetProperty(as: bob, bobDownload, "Description", type: "s", value: "bob's job, not alice's")
        try mustSetProperty(as: bob, bobDownload, "Priority", type: "s", value: "low")
        let bobUpload = try createJob(as: bob, name: "bob's upload", type: "upload")
        let bobUploadFile = try addFile(as: bob, job: bobUpload, url: "\(http.baseURL)/bob-upload.bin", local: bobSource)
        let bobObjects = [(bobDownload, BitsNames.job), (bobDownloadFile, BitsNames.file),
                          (bobUpload, BitsNames.job), (bobUploadFile, BitsNames.file)]
        let bobBefore = try bobObjects.map { try snapshot($0.0, $0.1) }
        let bobListingBefore = TestFiles.listing(bobDir)

        // Root-owned files and directories the fuzzer aims at.
        let rootDir = "\(env.directory)/fuzz-root-\(tag)"
        let rootSub = "\(rootDir)/sub"
        try FileManager.default.createDirectory(atPath: rootSub, withIntermediateDirectories: true)
        chmod(rootDir, 0o755)
        chmod(rootSub, 0o755)
        var rootFiles: [RootFile] = []
        for (name, mode, seed) in [("secret.bin", mode_t(0o600), UInt64(91)), ("public.bin", mode_t(0o644), UInt64(92)),
                                   ("sub/inner.bin", mode_t(0o644), UInt64(93))] {
            let path = "\(rootDir)/\(name)"
            let sha = try TestFiles.create(at: path, size: 4096, seed: seed)
            chmod(path, mode)
            rootFiles.append(RootFile(path: path, sha256: sha, mode: mode, uid: 0))
        }
        let shadowHash = try TestFiles.sha256("/etc/shadow")
        let rootListings = [rootDir: TestFiles.listing(rootDir), rootSub: TestFiles.listing(rootSub)]

        // Alice's playground (the fuzzer's --home) and a directory of hers for its call log and
        // summary, outside her home (userdel -r removes that; BITSD_ITEST_KEEP_TEMP keeps this).
        let home = try downloadDirectory(alice, "fuzz-home")
        let out = "\(tools)/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        chown(out, alice.uid, alice.gid)
        chmod(out, 0o755)
        let summaryPath = "\(out)/summary.json"

        let pidBefore = daemon.pid
        var command = ["/usr/bin/python3", script, "--address", env.address, "--home", home,
                       "--seconds", String(Int(seconds)), "--interface-dir", "\(tools)/dbus",
                       "--http-url", http.baseURL,
                       "--log", "\(out)/calls.jsonl", "--summary-file", summaryPath]
        for job in [bobDownload, bobUpload] { command += ["--foreign-job", job] }
        for file in [bobDownloadFile, bobUploadFile] { command += ["--foreign-file", file] }
        for target in [rootDir, rootSub] + rootFiles.map(\.path) + [bobDir, bobSource] {
            command += ["--target", target]
        }
        if let seed { command += ["--seed", String(seed)] }
        if fifos { command.append("--fifos") }
        command += (environment["BITS_FUZZ_ARGS"] ?? "").split(separator: " ").map(String.init)
        print("FuzzTests: running \(command.joined(separator: " ")) as \(alice)")
        let result = try ProcessRunner.run(command, as: alice, timeout: seconds + 300)
        print("FuzzTests: dbusfuzz exit \(result.status)\(result.timedOut ? " (timed out)" : "")\n\(result.stderr.suffixLines(120))")
        let summaryLine = result.stdout.split(separator: "\n").last.map(String.init)
            ?? ((try? String(contentsOfFile: summaryPath, encoding: .utf8)) ?? "")
        print("FuzzTests: summary \(summaryLine)")
        guard let summary = try? JSONValue.parse(summaryLine), summary.object != nil else {
            XCTFail("dbusfuzz printed no JSON summary: \(result.summary)")
            return
        }

        // The fuzzer's own verdict, item by item (each with its examples).
        func count(_ key: String) -> Int { summary[key]?.int ?? -1 }
        func examples(_ key: String) -> String { summary[key]?.description ?? "-" }
        XCTAssertFalse(result.timedOut, "dbusfuzz did not finish in \(Int(seconds) + 300) s")
        XCTAssertEqual(result.status, 0, "dbusfuzz failed: \(examples("failures")); stopped early: \(examples("stopped_early"))")
        XCTAssertGreaterThan(count("calls"), 0, "the fuzzer made no calls")
        XCTAssertEqual(count("stalls"), 0, "calls unanswered within their timeout: \(examples("stall_examples")) "
                       + "probes: \(examples("probe_failures")) pings: \(examples("ping_failures"))")
        XCTAssertEqual(count("crashes"), 0, "the service left the bus: \(examples("crash_examples"))")
        XCTAssertEqual(summary["pid_changed"]?.bool, false, "the service's pid changed: \(examples("pid")) -> \(examples("final_pid"))")
        XCTAssertEqual(count("unnamed_errors"), 0, "refusals without a proper error name: \(examples("unnamed_examples"))")
        XCTAssertEqual(summary["foreign_access"]?.array?.count, 0, "alice got at bob's objects: \(examples("foreign_access"))")
        XCTAssertEqual(summary["foreign_leaks"]?.array?.count, 0, "bob's objects were listed to alice: \(examples("foreign_leaks"))")
        XCTAssertEqual(summary["canary_leaks"]?.array?.count, 0, "a password came back in a reply: \(examples("canary_leaks"))")
        XCTAssertEqual(summary["foreign_owned_files"]?.array?.count, 0,
                       "files not owned by alice in her directory: \(examples("foreign_owned_files"))")
        XCTAssertEqual(summary["home_growth"]?.array?.count, 0, "downloads grew without bound: \(examples("home_growth"))")
        XCTAssertEqual(summary["non_regular_sources_transferred"]?.array?.count, 0,
                       "a char device or FIFO was downloaded as a file: \(examples("non_regular_sources_transferred"))")
        XCTAssertEqual(summary["fuzzer_errors"]?.array?.count, 0, "the fuzzer itself failed: \(examples("fuzzer_errors"))")
        XCTAssertEqual(summary["members_not_covered"]?.array?.count, 0, "members never called: \(examples("members_not_covered"))")

        // Files first (they need no daemon). Bob's file and directory: untouched.
        XCTAssertEqual(try TestFiles.sha256(bobSource), bobSourceHash, "bob's file changed")
        XCTAssertEqual(TestFiles.owner(bobSource)?.uid, bob.uid, "bob's file changed owner")
        XCTAssertEqual(TestFiles.listing(bobDir), bobListingBefore, "something appeared in or vanished from bob's directory")

        // Root-owned files: same bytes, mode and owner; nothing new beside them.
        for f in rootFiles {
            XCTAssertEqual(try TestFiles.sha256(f.path), f.sha256, "\(f.path) changed")
            var st = stat()
            XCTAssertEqual(lstat(f.path, &st), 0, "\(f.path) is gone")
            XCTAssertEqual(st.st_mode & 0o7777, f.mode, "\(f.path) changed mode")
            XCTAssertEqual(st.st_uid, f.uid, "\(f.path) changed owner")
            XCTAssertEqual(st.st_mode & S_IFMT, S_IFREG, "\(f.path) is no longer a regular file")
        }
        for (dir, listing) in rootListings {
            XCTAssertEqual(TestFiles.listing(dir), listing, "the contents of root's \(dir) changed")
        }
        XCTAssertEqual(try TestFiles.sha256("/etc/shadow"), shadowHash, "/etc/shadow changed")

        // Everything in alice's playground belongs to alice (the daemon works with her uid).
        let strangers = filesNotOwned(by: alice, under: home)
        XCTAssertTrue(strangers.isEmpty, "files in \(home) not owned by alice: \(strangers.prefix(10))")

        // The credentials' passwords never reach the log.
        if let canary = summary["canary"]?.string, let log = try? String(contentsOfFile: daemon.logPath, encoding: .utf8) {
            XCTAssertFalse(log.contains(canary), "a password given to SetCredentials is in the bitsd log")
        }

        // The daemon: still the same process, still answering.
        XCTAssertTrue(daemon.isRunning, "bitsd died: \(daemon.exitDescription)")
        XCTAssertEqual(daemon.pid, pidBefore, "bitsd was restarted")
        let root = try client(nil)
        let owner = root.call(dest: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
                              method: "GetConnectionUnixProcessID", signature: "s", args: [BitsNames.service], timeout: 10)
        XCTAssertEqual(owner.first?.int, Int(pidBefore), "org.example.Bits is not owned by the bitsd we started: \(owner)")
        guard daemon.isRunning else { return }
        let probe = root.getProperty(BitsNames.managerPath, BitsNames.manager, "Version")
        guard !probe.isError else {
            XCTFail("bitsd no longer answers (Properties.Get Version as root: \(probe)); bob's jobs and a normal "
                    + "download cannot be checked")
            return
        }

        // Bob's jobs and files: exactly as before.
        for ((path, interface), before) in zip(bobObjects, bobBefore) {
            let after = try snapshot(path, interface)
            for key in Set(before.keys).union(after.keys).sorted() where before[key] != after[key] {
                XCTFail("\(interface) \(path) of bob changed: \(key) was \(before[key]?.description ?? "-"), "
                        + "is \(after[key]?.description ?? "-")")
            }
        }

        // A normal download still works (after alice's leftovers are cancelled, so that the
        // per-user limit cannot refuse it).
        try cancelJobs(of: alice)
        let dir = try downloadDirectory(alice, "after-fuzz")
        let job = try createJob(as: alice, name: "after the fuzzer")
        let local = "\(dir)/medium.bin"
        _ = try addFile(as: alice, job: job, url: http.url("/medium.bin"), local: local)
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, state: "transferred", timeout: 60)
        try complete(as: alice, job: job)
        XCTAssertEqual(try TestFiles.sha256(local), env.files["medium.bin"]?.sha256, "the download after the fuzzer has other bytes")
    }

    // MARK: helpers

    private func copy(_ source: String, to destination: String) throws {
        guard let data = FileManager.default.contents(atPath: source) else { throw HarnessError("cannot read \(source)") }
        try data.write(to: URL(fileURLWithPath: destination))
        chmod(destination, 0o755)
    }

    /// Every property of `path` read as root.
    private func snapshot(_ path: String, _ interface: String) throws -> [String: JSONValue] {
        let r = try client(nil).getAll(path, interface)
        guard let o = r.first?.object else { throw HarnessError("GetAll(\(interface)) of \(path) as root failed: \(r)") }
        return o
    }

    /// Cancels, as root, every non-final job owned by `user`.
    private func cancelJobs(of user: TestUser) throws {
        let root = try client(nil)
        let r = root.call(path: BitsNames.managerPath, interface: BitsNames.manager, method: "ListJobs",
                          signature: "b", args: [true])
        for path in r.first?.stringArray ?? [] {
            if root.getProperty(path, BitsNames.job, "Owner").first?.uint64 == UInt64(user.uid) {
                root.call(path: path, interface: BitsNames.job, method: "Cancel", timeout: 10)
            }
        }
    }

    /// Entries under `dir` (never following symlinks: the fuzzer plants links to / and /etc)
    /// whose owner is not `user`.
    private func filesNotOwned(by user: TestUser, under dir: String) -> [String] {
        var out: [String] = []
        var pending = [dir]
        while let current = pending.popLast() {
            for name in TestFiles.listing(current) {
                let path = "\(current)/\(name)"
                var st = stat()
                guard lstat(path, &st) == 0 else { continue }
                if st.st_uid != user.uid { out.append("\(path) (uid \(st.st_uid))") }
                if st.st_mode & S_IFMT == S_IFDIR { pending.append(path) }
            }
        }
        return out
    }
}
