import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// What an unprivileged user can plant where the root service reads or writes (issue 16): a
/// FIFO, a device or a terminal instead of a file, a directory swapped for a symbolic link before
/// an administrator takes the job over. None of it may block the service, make it read a
/// device, or turn its rights against a directory the user could not write.
final class HostileLocalFileTests: BitsTestCase {
    override class var daemonConfig: String? { "[Limits]\nMaxJobsPerUser=400\nMaxJobsPerMachine=400\n" }
    var carol: TestUser { env.carol }

    func mkfifo(_ path: String, as user: TestUser) throws {
        try ProcessRunner.mustRun(["/usr/bin/mkfifo", path], as: user)
    }

    /// Another user's call is answered at once: nothing the attack did holds up the service.
    func assertResponsive(_ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let start = Date()
        let listed = try listJobs(as: bob)
        XCTAssertNotNil(listed.first?.stringArray, "bob ListJobs after \(what): \(listed)", file: file, line: line)
        XCTAssertLessThan(Date().timeIntervalSince(start), 2, "bob waited after \(what)", file: file, line: line)
        try assertDaemonAlive(file: file, line: line)
    }

    func errorCode(_ job: String) throws -> String { try property(as: alice, job, "ErrorCode").string ?? "" }

    /// A HighPerformance destination that is a FIFO: refused at AddFile when it exists, a job
    /// error `not-a-regular-file` when it is planted afterwards; the service never waits on it.
    func testFIFOAsHighPerformanceDestination() throws {
        let dir = try downloadDirectory(alice)
        try mkfifo("\(dir)/p", as: alice)
        let job = try createJob(as: alice, name: "fifo destination")
        try mustSetProperty(as: alice, job, "HighPerformance", type: "b", value: true)
        assertError(try call(as: alice, job, BitsNames.job, "AddFile", "ss", [http.url("/small.bin"), "\(dir)/p"]),
                    [BitsNames.invalidArgs], mentioning: ["\(dir)/p", "FIFO"], "AddFile onto a FIFO")

        _ = try addFile(as: alice, job: job, url: http.url("/small.bin"), local: "\(dir)/q")
        try FileManager.default.removeItem(atPath: "\(dir)/q")
        try mkfifo("\(dir)/q", as: alice)
        try mustSetProperty(as: alice, job, "Priority", type: "s", value: "foreground")
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["error"], timeout: 15, failOn: ["transferred"])
        let diagnostics = try jobDiagnostics(job)
        XCTAssertEqual(try errorCode(job), "not-a-regular-file", diagnostics)
        XCTAssertEqual(try property(as: alice, job, "ErrorContext").string, "local-file")
        try assertResponsive("a FIFO planted as a HighPerformance destination")
    }

    /// A FIFO at the file's TemporaryName before Resume: the job fails, the service goes on.
    func testFIFOAtTheTemporaryName() throws {
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "fifo temporary")
        let file = try addFile(as: alice, job: job, url: http.url("/small.bin"), local: "\(dir)/t.bin")
        let temporary = try property(as: alice, file, BitsNames.file, "TemporaryName").string ?? ""
        try mkfifo(temporary, as: alice)
        try mustSetProperty(as: alice, job, "Priority", type: "s", value: "foreground")
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["error"], timeout: 15, failOn: ["transferred"])
        let diagnostics = try jobDiagnostics(job)
        XCTAssertEqual(try errorCode(job), "not-a-regular-file", diagnostics)
        XCTAssertTrue(try property(as: alice, job, "ErrorDescription").string?.contains("FIFO") ?? false)
        try assertResponsive("a FIFO planted at the temporary name")
    }

    /// A device as a file:// source is refused before a byte is read.
    func testDeviceSourceIsRefusedBeforeAnyByteIsRead() throws {
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "device source")
        _ = try addFile(as: alice, job: job, url: "file:///dev/zero", local: "\(dir)/zero.bin")
        try mustSetProperty(as: alice, job, "Priority", type: "s", value: "foreground")
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["error"], timeout: 15, failOn: ["transferred"])
        let diagnostics = try jobDiagnostics(job)
        XCTAssertEqual(try errorCode(job), "not-a-regular-file", diagnostics)
        XCTAssertEqual(try property(as: alice, job, "BytesTransferred").uint64, 0)
        let temporaries = TestFiles.listing(dir).filter { $0.hasPrefix("BIT") }
        XCTAssertEqual(temporaries.compactMap { TestFiles.size("\(dir)/\($0)") }.reduce(0, +), 0, "bytes copied from /dev/zero")
    }

    /// A terminal (a character device) as a destination is refused without being opened, so
    /// it can never become the daemon's controlling terminal.
    func testTerminalDestinationIsNeverOpened() throws {
        let job = try createJob(as: alice, name: "tty destination")
        try mustSetProperty(as: alice, job, "HighPerformance", type: "b", value: true)
        for device in ["/dev/tty", "/dev/null"] {
            assertError(try call(as: alice, job, BitsNames.job, "AddFile", "ss", [http.url("/small.bin"), device]),
                        [BitsNames.invalidArgs, BitsNames.accessDenied], mentioning: [device], "AddFile onto \(device)")
        }
        let stat = try String(contentsOfFile: "/proc/\(daemon.pid)/stat", encoding: .utf8)
        let fields = stat[stat.range(of: ")")!.upperBound...].split(separator: " ")
        XCTAssertEqual(fields[4], "0", "the daemon has a controlling terminal: \(stat)")
    }

    /// Start-up reconciles every stored file without opening a FIFO: with 300 queued jobs
    /// whose destinations (HighPerformance) or temporary files are FIFOs, the name is taken
    /// within 2 s.
    func testStartUpDoesNotWaitForPlantedFIFOs() throws {
        let dir = try downloadDirectory(alice, "fifos")
        try daemon.setNetwork(available: false, metered: false)  // the jobs stay queued
        defer { try? daemon.setNetwork(available: true, metered: false) }
        let count = 300
        var targets: [String] = []
        for i in 0..<count {
            let job = try createJob(as: alice, name: "fifo \(i)")
            if i % 2 == 0 { try mustSetProperty(as: alice, job, "HighPerformance", type: "b", value: true) }
            let file = try addFile(as: alice, job: job, url: http.url("/small.bin"), local: "\(dir)/f\(i).bin")
            targets.append(i % 2 == 0 ? "\(dir)/f\(i).bin" : (try property(as: alice, file, BitsNames.file, "TemporaryName").string ?? ""))
            try resume(as: alice, job: job)
        }
        for target in targets { try? FileManager.default.removeItem(atPath: target) }
        try ProcessRunner.mustRun(["/usr/bin/mkfifo"] + targets, as: alice)
        daemon.crash()
        let start = Date()
        try daemon.start(timeout: 10)
        let elapsed = Date().timeIntervalSince(start)
        print(String(format: "start-up with %d queued jobs whose files are FIFOs: name taken after %.3f s", count, elapsed))
        XCTAssertLessThan(elapsed, 2)
        XCTAssertEqual(try listJobs(as: alice).first?.stringArray?.count, count)
        try assertResponsive("a restart over FIFOs")
    }

    /// After TakeOwnership no path of the job goes through a symbolic link: a directory the
    /// previous owner swapped for a link to one only the new owner may write is refused, for
    /// root and a polkit administrator, HighPerformance and ordinary downloads, and uploads.
    func testTakeOwnershipNeverFollowsALinkThePreviousOwnerPlanted() throws {
        for admin in [nil, carol] as [TestUser?] {
            // Only the new owner may write here (root: a 0700 root directory; carol: her own).
            let target: String
            if let admin {
                target = try downloadDirectory(admin, "ssh-\(UUID().uuidString.prefix(4))")
                chmod(target, 0o700)
            } else {
                target = NSTemporaryDirectory() + "bitsd-root-\(UUID().uuidString.prefix(6))"
                try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            }
            defer { if admin == nil { try? FileManager.default.removeItem(atPath: target) } }
            let who = admin?.name ?? "root"
            for highPerformance in [true, false] {
                // Swapped before TakeOwnership: TakeOwnership itself is refused.
                let (job, dir, parent) = try plantedJob(highPerformance: highPerformance)
                try swapForLink(dir, parent: parent, to: target)
                assertError(try call(as: admin, job, BitsNames.job, "TakeOwnership"), [BitsNames.accessDenied],
                            "\(who) TakeOwnership, HighPerformance \(highPerformance), directory swapped before")
                XCTAssertEqual(TestFiles.listing(target), [], "\(who) wrote into \(target)")

                // Swapped after TakeOwnership: the transfer fails with access-denied. (A
                // HighPerformance destination stays the previous owner's file, which the new
                // owner never writes: that job fails either way.)
                guard !highPerformance else { continue }
                let (job2, dir2, parent2) = try plantedJob(highPerformance: highPerformance)
                try mustCall(as: admin, job2, BitsNames.job, "TakeOwnership")
                try swapForLink(dir2, parent: parent2, to: target)
                try resume(as: admin, job: job2)
                try waitForState(as: admin, job: job2, ["error"], timeout: 15, failOn: ["transferred"])
                let diagnostics = try jobDiagnostics(job2)
                XCTAssertEqual(try property(as: admin, job2, "ErrorCode").string, "access-denied", diagnostics)
                XCTAssertEqual(TestFiles.listing(target), [], "\(who) wrote into \(target) after TakeOwnership")
            }
            // An upload whose source directory became a link to the new owner's secrets.
            let parent = try downloadDirectory(alice, "up-\(UUID().uuidString.prefix(4))")
            chmod(parent, 0o755)
            let dir = "\(parent)/d"
            try ProcessRunner.mustRun(["/bin/mkdir", "-m", "0755", dir], as: alice)
            try ProcessRunner.mustRun(["/bin/sh", "-c", "echo public > \(dir)/key; chmod 644 \(dir)/key"], as: alice)
            try "secret of \(who)\n".write(toFile: "\(target)/key", atomically: true, encoding: .utf8)
            if let admin { chown("\(target)/key", admin.uid, admin.gid) }
            chmod("\(target)/key", 0o600)
            defer { try? FileManager.default.removeItem(atPath: "\(target)/key") }
            let upload = try createJob(as: alice, name: "upload to take", type: "upload")
            _ = try addFile(as: alice, job: upload, url: http.url("/upload"), local: "\(dir)/key")
            try swapForLink(dir, parent: parent, to: target)
            assertError(try call(as: admin, upload, BitsNames.job, "TakeOwnership"), [BitsNames.accessDenied],
                        "\(who) TakeOwnership of an upload whose source directory became a link")
        }
    }

    /// alice's job with one file in a directory carol can write too (a new owner must be able
    /// to write the destination directory).
    private func plantedJob(highPerformance: Bool) throws -> (job: String, dir: String, parent: String) {
        let parent = try downloadDirectory(alice, "planted-\(UUID().uuidString.prefix(6))")
        let dir = "\(parent)/d"
        try ProcessRunner.mustRun(["/bin/mkdir", "-m", "0777", dir], as: alice)
        let job = try createJob(as: alice, name: "planted")
        if highPerformance { try mustSetProperty(as: alice, job, "HighPerformance", type: "b", value: true) }
        try mustSetProperty(as: alice, job, "Priority", type: "s", value: "foreground")
        _ = try addFile(as: alice, job: job, url: http.url("/small.bin"), local: "\(dir)/authorized_keys")
        return (job, dir, parent)
    }

    private func swapForLink(_ dir: String, parent: String, to target: String) throws {
        try ProcessRunner.mustRun(["/bin/mv", dir, "\(parent)/moved-\(UUID().uuidString.prefix(4))"], as: alice)
        try ProcessRunner.mustRun(["/bin/ln", "-s", target, dir], as: alice)
    }
}
