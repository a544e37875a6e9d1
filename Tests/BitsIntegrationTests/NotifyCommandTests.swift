import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// What a NotifyCommandLine program gets from the root daemon (nothing but /dev/null on fds
/// 0–2, its own process group, the owner's uid), and its time limit: a program still running
/// after `NotifyTimeLimit` is killed with its whole process group.
final class NotifyCommandTests: BitsTestCase {
    override class var daemonConfig: String? { "[Notify]\nNotifyTimeLimit=2\n" }

    /// The program inherits no descriptor of the daemon, leads its own process group, runs as
    /// the owner in `/` with an empty signal mask, default signal dispositions and a clean
    /// environment. The test looks at the running program from outside (/proc, as root): a
    /// shell listing its own descriptors would show its own redirections and saved copies.
    func testNotifyProgramInheritsNothingOfTheDaemon() throws {
        let dir = try downloadDirectory(alice)
        let pidFile = "\(dir)/pid"
        let job = try createJob(as: alice, name: "notify isolation")
        _ = try addFile(as: alice, job: job, url: http.url("/small.bin"), local: "\(dir)/x.bin")
        // The shell records its pid and becomes sleep(1) (same pid): its close-on-exec
        // descriptors go, what it inherited stays. 1.5 s: within this class's 2 s time limit.
        try mustSetProperty(as: alice, job, "NotifyCommandLine", type: "as",
                            value: ["/bin/sh", "-c", "echo $$ > \(pidFile); exec /bin/sleep 1.5"])
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["transferred"], timeout: 10)
        var pid: Int32 = 0
        XCTAssertTrue(waitUntil(timeout: 5, interval: 0.01) {
            pid = (try? String(contentsOfFile: pidFile, encoding: .utf8))
                .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
            return pid > 0 && (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) == "sleep\n"
        }, "the notify command did not run (or did not reach sleep)")
        guard pid > 0 else { return }
        XCTAssertEqual(TestFiles.owner(pidFile)?.uid, alice.uid, "the command must run as alice")

        // Descriptors: 0 reads /dev/null, 1 and 2 write to it, nothing else is open.
        let fds = TestFiles.listing("/proc/\(pid)/fd").compactMap { Int($0) }.sorted()
        var description: [String] = []
        for fd in fds {
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)")) ?? "?"
            let info = (try? String(contentsOfFile: "/proc/\(pid)/fdinfo/\(fd)", encoding: .utf8)) ?? ""
            let flags = info.split(separator: "\n").first { $0.hasPrefix("flags:") }
                .flatMap { Int($0.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8) } ?? -1
            description.append("\(fd) -> \(target) (flags 0\(String(flags, radix: 8)))")
        }
        XCTAssertEqual(fds, [0, 1, 2], "the notify program must inherit fds 0–2 only: \(description)")
        for fd in 0...2 {
            XCTAssertEqual(try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)"), "/dev/null",
                           "fd \(fd): \(description)")
            let info = (try? String(contentsOfFile: "/proc/\(pid)/fdinfo/\(fd)", encoding: .utf8)) ?? ""
            let flags = info.split(separator: "\n").first { $0.hasPrefix("flags:") }
                .flatMap { Int($0.dropFirst(6).trimmingCharacters(in: .whitespaces), radix: 8) } ?? -1
            XCTAssertEqual(flags & Int(O_ACCMODE), Int(fd == 0 ? O_RDONLY : O_WRONLY), "fd \(fd): \(description)")
        }

        // Its own process group (not the daemon's), in `/`, as alice.
        let stat = Self.stat(pid)
        XCTAssertEqual(stat?.pgid, pid, "the notify program must lead its own process group")
        XCTAssertNotEqual(stat?.pgid, getpgid(daemon.pid), "the notify program must not be in the daemon's process group")
        XCTAssertEqual(try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd"), "/")
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        func field(_ name: String) -> [String] {
            status.split(separator: "\n").first { $0.hasPrefix("\(name):") }
                .map { $0.dropFirst(name.count + 1).split(whereSeparator: { $0 == "\t" || $0 == " " }).map(String.init) } ?? []
        }
        XCTAssertEqual(field("Uid"), Array(repeating: "\(alice.uid)", count: 4), "real, effective, saved and fs uid")
        XCTAssertEqual(field("Gid"), Array(repeating: "\(alice.gid)", count: 4), "real, effective, saved and fs gid")
        // Signals: none blocked (the daemon blocks SIGTERM and SIGINT), none ignored (the daemon
        // ignores SIGPIPE) but glibc's internal 32 and 33, which its posix_spawn always leaves
        // ignored in the child (a glibc program installs its own handlers for them).
        XCTAssertEqual(field("SigBlk"), ["0000000000000000"], "blocked signals")
        let ignored = field("SigIgn").first.flatMap { UInt64($0, radix: 16) }
        XCTAssertEqual(ignored.map { $0 & ~UInt64(0x1_8000_0000) }, 0,
                       "ignored signals: \(field("SigIgn"))")

        // Environment: setpriv's clean one plus the job's identity (and PWD, which sh sets).
        let environ = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))) ?? Data()
        let names = Set(environ.split(separator: 0).compactMap { String(decoding: $0, as: UTF8.self).split(separator: "=").first.map(String.init) })
        XCTAssertTrue(names.isSubset(of: ["PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "BITS_JOB_ID", "BITS_JOB_STATE"]),
                      "environment: \(names.sorted())")
        XCTAssertTrue(names.contains("BITS_JOB_ID"), "environment: \(names.sorted())")

        // It ends by itself within the limit: a successful run.
        XCTAssertTrue(waitUntil(timeout: 5) { daemon.logTail(lines: 200).contains("\(guid(of: job)): notify command succeeded") },
                      "the daemon did not log the successful run")
    }

    /// A program still running after the time limit (2 s here) is killed with everything in
    /// its process group (a child that ignores SIGTERM too: SIGKILL follows 2 s later); the run
    /// counts as failed and the job stays transferred.
    func testNotifyProgramOverItsTimeLimitIsKilledWithItsProcessGroup() throws {
        let dir = try downloadDirectory(alice)
        let script = "\(dir)/notify.sh"
        try """
            #!/bin/sh
            echo $$ > \(dir)/leader
            ( trap '' TERM; exec sleep 1000 ) &
            echo $! > \(dir)/child
            wait
            echo not-killed > \(dir)/survived
            """.write(toFile: script, atomically: true, encoding: .utf8)
        chown(script, alice.uid, alice.gid)
        chmod(script, 0o755)
        let job = try createJob(as: alice, name: "notify time limit")
        _ = try addFile(as: alice, job: job, url: http.url("/small.bin"), local: "\(dir)/y.bin")
        try mustSetProperty(as: alice, job, "NotifyCommandLine", type: "as", value: [script])
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["transferred"], timeout: 10)

        func pid(_ name: String) -> Int32? {
            (try? String(contentsOfFile: "\(dir)/\(name)", encoding: .utf8))
                .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        XCTAssertTrue(waitUntil(timeout: 5) { pid("leader") != nil && pid("child") != nil }, "the notify command did not start")
        guard let leader = pid("leader"), let child = pid("child") else { return }
        addCleanup { kill(-leader, SIGKILL) }
        let started = Date()
        XCTAssertTrue(Self.isRunning(leader, group: leader), "the program must be running")
        XCTAssertTrue(Self.isRunning(child, group: leader), "its child must be running in its process group")

        XCTAssertTrue(waitUntil(timeout: 10) { !Self.isRunning(leader, group: leader) && !Self.isRunning(child, group: leader) },
                      "the program or its child outlived the time limit")
        let elapsed = Date().timeIntervalSince(started)
        // SIGTERM at 2 s ends the shell; the child ignores it and goes with SIGKILL 2 s later.
        XCTAssertGreaterThan(elapsed, 2.5, "killed before the time limit and the SIGKILL grace")
        XCTAssertFalse(TestFiles.exists("\(dir)/survived"))
        XCTAssertTrue(waitUntil(timeout: 3) { daemon.logTail(lines: 200).contains("notify command still running after its time limit of 2 s") },
                      "the daemon did not log the killed run")
        XCTAssertEqual(try jobState(as: alice, job), "transferred")
    }

    /// The state letter and process group of `pid` (nil: no such process).
    static func stat(_ pid: Int32) -> (state: String, pgid: Int32)? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // After "pid (comm) ": state ppid pgrp …
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 2, let pgid = Int32(fields[2]) else { return nil }
        return (String(fields[0]), pgid)
    }

    /// `pid` exists, has not ended (not a zombie) and is in process group `group`.
    static func isRunning(_ pid: Int32, group: Int32) -> Bool {
        guard let stat = stat(pid) else { return false }
        return stat.state != "Z" && stat.state != "X" && stat.pgid == group
    }
}
