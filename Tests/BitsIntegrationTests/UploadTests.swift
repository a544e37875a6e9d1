import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Shared set-up of the upload tests: upload jobs over the BITS Upload Protocol against the project's upload server
/// (`Tests/Support/bitsuploadserver.py`, written from [MC-BUP]); the server's own view
/// (`/_state`: packets, sessions, sha256 of what it stored) is what the tests check.
class UploadTestCase: BitsTestCase {
    /// Background jobs are capped (the kill -9 test needs an upload that takes a while);
    /// foreground jobs are not.
    override class var daemonConfig: String? { "[Bandwidth]\nBackgroundLimit=2M\n" }
    class var serverOptions: [String] { ["--reply-echo"] }
    private static var servers: [String: (process: ManagedProcess, port: Int)] = [:]
    private static var key: String { String(reflecting: self) }
    static var port: Int { servers[key]?.port ?? 0 }

    /// One upload server per test class, with the class's options.
    override class func setUp() {
        super.setUp()
        startServer(port: 0)
    }

    /// Starts the class's server (on `port`, 0 = any free one) and waits for its port file.
    class func startServer(port wanted: Int) {
        guard TestEnvironment.isRoot, let env = try? TestEnvironment.shared() else { return }
        let name = String(describing: self)
        let root = "\(env.directory)/uploads-\(name)"
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let portFile = "\(env.directory)/upload-\(name).port"
        try? FileManager.default.removeItem(atPath: portFile)
        guard let process = try? ManagedProcess(
            name: "bitsuploadserver",
            command: ["/usr/bin/python3", "\(env.supportDirectory)/bitsuploadserver.py", "--root", root, "--port", "\(wanted)",
                      "--port-file", portFile] + serverOptions,
            logPath: "\(env.directory)/bitsuploadserver-\(name).log") else { return }
        var port = 0
        _ = waitUntil(timeout: 15) {
            port = Int((try? String(contentsOfFile: portFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
            return port > 0
        }
        servers[key] = (process, port)
    }

    /// Stops the server (SIGTERM, or SIGKILL when `kill`) and starts it again on the same port.
    func restartServer(kill: Bool = false) {
        guard let (process, port) = Self.servers[Self.key] else { return }
        if kill { Glibc.kill(process.pid, SIGKILL) }
        process.stop(grace: 3)
        Self.startServer(port: port)
    }

    override class func tearDown() {
        servers.removeValue(forKey: key)?.process.stop()
        super.tearDown()
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(Self.port)\(path)" }

    func control(_ body: String) throws {
        let r = try ProcessRunner.mustRun(["/usr/bin/curl", "-s", "--noproxy", "*", "-X", "POST", "-d", body, url("/_control")])
        _ = r
    }

    func state() throws -> JSONValue {
        let r = try ProcessRunner.mustRun(["/usr/bin/curl", "-s", "--noproxy", "*", url("/_state")])
        return try JSONValue.parse(r.stdout)
    }

    /// Packets the server received for `path`, in order.
    func packets(_ path: String) throws -> [JSONValue] {
        let log = try state()["packets"]?.array ?? []
        return log.filter { ($0["path"]?.string ?? "") == path }
    }

    func source(_ name: String, size: Int, seed: UInt64) throws -> (path: String, sha: String) {
        let dir = try downloadDirectory(alice, "up")
        let path = "\(dir)/\(name)"
        let sha = try TestFiles.create(at: path, size: size, seed: seed)
        chown(path, alice.uid, alice.gid)
        return (path, sha)
    }

    func upload(_ source: String, to path: String, type: String = "upload", foreground: Bool = true) throws -> String {
        let job = try createJob(as: alice, name: "upload", type: type)
        _ = try addFile(as: alice, job: job, url: url(path), local: source)
        if foreground { try mustSetProperty(as: alice, job, "Priority", type: "s", value: "foreground") }
        try resume(as: alice, job: job)
        return job
    }

    func storedSHA(_ path: String) throws -> String? { try state()["files"]?[path]?["sha256"]?.string }
}

/// Upload and upload-reply jobs end to end.
final class UploadTests: UploadTestCase {
    func testSmallAndEmptyUploads() throws {
        for (size, name) in [(200_000, "small.bin"), (0, "empty.bin"), (3 << 20, "three.bin")] {
            let (path, sha) = try source(name, size: size, seed: UInt64(size + 1))
            let target = "/in/\(UUID().uuidString.prefix(6))-\(name)"
            let job = try upload(path, to: target)
            try waitForState(as: alice, job: job, ["transferred"], timeout: 30)
            XCTAssertEqual(try property(as: alice, job, "BytesTransferred").uint64, UInt64(size))
            try complete(as: alice, job: job)
            XCTAssertEqual(try storedSHA(target), sha, "\(name): the server's file differs")
            let types = try packets(target).compactMap { $0["type"]?.string }
            XCTAssertEqual(types.first, "Ping", "\(types)")
            XCTAssertEqual(types.dropFirst().first, "Create-Session", "\(types)")
            XCTAssertEqual(types.last, "Close-Session", "\(types)")
            XCTAssertTrue(TestFiles.exists(path), "the upload's source must stay")
        }
    }

    func testSecondFileIsTooManyFilesAndUnreadableSourceIsRefused() throws {
        let (path, _) = try source("one.bin", size: 1000, seed: 5)
        let job = try createJob(as: alice, name: "one file", type: "upload")
        _ = try addFile(as: alice, job: job, url: url("/in/one.bin"), local: path)
        assertError(try call(as: alice, job, BitsNames.job, "AddFile", "ss", [url("/in/two.bin"), path]),
                    ["org.example.Bits.Error.TooManyFiles"], "second file of an upload job")
        let other = try createJob(as: alice, name: "shadow", type: "upload")
        assertError(try call(as: alice, other, BitsNames.job, "AddFile", "ss", [url("/in/shadow"), "/etc/shadow"]),
                    [BitsNames.accessDenied], mentioning: ["/etc/shadow"], "upload of /etc/shadow")
    }

    func testResumeAfterDroppedConnectionContinuesFromTheServersRange() throws {
        let (path, sha) = try source("drop.bin", size: 6 << 20, seed: 9)
        let target = "/in/drop-\(UUID().uuidString.prefix(6)).bin"
        try control(#"{"fault": "drop", "count": 1, "after_bytes": 300000}"#)
        let job = try upload(path, to: target)
        try waitForState(as: alice, job: job, ["transient-error", "transferred"], timeout: 30)
        if try jobState(as: alice, job) == "transient-error" { try resume(as: alice, job: job) }
        try waitForState(as: alice, job: job, ["transferred"], timeout: 30)
        try complete(as: alice, job: job)
        XCTAssertEqual(try storedSHA(target), sha)
        // A dropped fragment may be sent again whole (curl retries it on a fresh connection);
        // after the first answered fragment none may start at 0 again.
        let fragments = try packets(target).filter { $0["type"]?.string == "Fragment" && $0["dropped"]?.bool != true }
        let starts = fragments.compactMap { $0["content_range"]?.string }
        XCTAssertFalse(starts.dropFirst().contains { $0.hasPrefix("bytes 0-") }, "the upload restarted from 0: \(starts)")
        XCTAssertEqual(try packets(target).filter { $0["type"]?.string == "Create-Session" }.count, 1, "one session only")
    }

    func testKillNineMidUploadResumesTheSession() throws {
        let (path, sha) = try source("kill.bin", size: 24 << 20, seed: 13)
        let target = "/in/kill-\(UUID().uuidString.prefix(6)).bin"
        let job = try createJob(as: alice, name: "kill upload", type: "upload")
        _ = try addFile(as: alice, job: job, url: url(target), local: path)
        try resume(as: alice, job: job)  // normal priority: 2 MiB/s under the background cap
        _ = try waitForProperty(as: alice, job, "BytesTransferred", timeout: 30) { ($0.uint64 ?? 0) >= 2 << 20 && $0.uint64 != UInt64.max }
        usleep(5_500_000)  // past a progress checkpoint
        daemon.crash()
        try daemon.start()
        try waitForState(as: alice, job: job, ["transferred"], timeout: 60)
        try complete(as: alice, job: job)
        XCTAssertEqual(try TestFiles.sha256(path), sha, "the upload's source changed")
        XCTAssertEqual(try storedSHA(target), sha)
        let starts = try packets(target).filter { $0["type"]?.string == "Fragment" }.compactMap { $0["content_range"]?.string }
        XCTAssertFalse(starts.dropFirst().contains { $0.hasPrefix("bytes 0-") }, "the upload restarted from 0: \(starts)")
        XCTAssertEqual(try packets(target).filter { $0["type"]?.string == "Create-Session" }.count, 1,
                       "the restarted daemon must continue the same session")
    }

    func testCancelSendsCancelSession() throws {
        let (path, _) = try source("cancel.bin", size: 8 << 20, seed: 17)
        let target = "/in/cancel-\(UUID().uuidString.prefix(6)).bin"
        let job = try upload(path, to: target, foreground: false)  // 2 MiB/s: still running when cancelled
        _ = try waitForProperty(as: alice, job, "BytesTransferred", timeout: 30) { ($0.uint64 ?? 0) > 0 && $0.uint64 != UInt64.max }
        try cancel(as: alice, job: job)
        XCTAssertTrue(waitUntil(timeout: 10) { ((try? self.packets(target)) ?? []).contains { $0["type"]?.string == "Cancel-Session" } },
                      "no Cancel-Session reached the server")
        XCTAssertNil(try storedSHA(target))
    }

    func testServerErrorsMapLikeBITS() throws {
        let (path, _) = try source("err.bin", size: 100_000, seed: 21)
        // 403 from the server: fatal, remote-file.
        try control(#"{"fault": "403", "count": 1}"#)
        let forbidden = try upload(path, to: "/in/forbidden-\(UUID().uuidString.prefix(6)).bin")
        try waitForState(as: alice, job: forbidden, ["error"], timeout: 30, failOn: ["transferred"])
        XCTAssertEqual(try property(as: alice, forbidden, "ErrorCode").string, "http-403")
        XCTAssertEqual(try property(as: alice, forbidden, "ErrorContext").string, "remote-file")
        // 503: transient, then it goes through on Resume.
        try control(#"{"fault": "5xx", "count": 1}"#)
        let busy = try upload(path, to: "/in/busy-\(UUID().uuidString.prefix(6)).bin")
        try waitForState(as: alice, job: busy, ["transient-error"], timeout: 30, failOn: ["transferred"])
        XCTAssertTrue((try property(as: alice, busy, "ErrorDescription").string ?? "").contains("503"))
        try resume(as: alice, job: busy)
        try waitForState(as: alice, job: busy, ["transferred"], timeout: 30)
        // Session lost mid-way: a new session, the file still arrives whole.
        let (big, sha) = try source("lost.bin", size: 4 << 20, seed: 23)
        let lostTarget = "/in/lost-\(UUID().uuidString.prefix(6)).bin"
        try control(#"{"fault": "session-loss", "count": 1}"#)
        let lost = try upload(big, to: lostTarget)
        try waitForState(as: alice, job: lost, ["transferred"], timeout: 30)
        try complete(as: alice, job: lost)
        XCTAssertEqual(try storedSHA(lostTarget), sha)
    }

    func testChangedSourceIsLocalFileChanged() throws {
        let (path, _) = try source("changing.bin", size: 100_000, seed: 25)
        let job = try createJob(as: alice, name: "changing", type: "upload")
        _ = try addFile(as: alice, job: job, url: url("/in/changing.bin"), local: path)
        try TestFiles.create(at: path, size: 100_001, seed: 26)
        try mustSetProperty(as: alice, job, "Priority", type: "s", value: "foreground")
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["error"], timeout: 30, failOn: ["transferred"])
        XCTAssertEqual(try property(as: alice, job, "ErrorCode").string, "local-file-changed")
    }

    func testUploadReplyEndToEnd() throws {
        let (path, sha) = try source("reply.bin", size: 300_000, seed: 31)
        let target = "/in/reply-\(UUID().uuidString.prefix(6)).bin"
        // ReplyFileName left empty: generated beside the upload file.
        let job = try upload(path, to: target, type: "upload-reply")
        try waitForState(as: alice, job: job, ["transferred"], timeout: 30)
        let replyName = try property(as: alice, job, "ReplyFileName").string ?? ""
        XCTAssertTrue(replyName.hasPrefix(path), "generated reply name: \(replyName)")
        XCTAssertFalse(TestFiles.exists(replyName), "the reply is visible before Complete")
        let total = try property(as: alice, job, "ReplyBytesTotal").uint64 ?? 0
        XCTAssertEqual(try property(as: alice, job, "ReplyBytesTransferred").uint64, total)
        let data = try mustCall(as: alice, job, BitsNames.job, "GetReplyData")
        let bytes = data.first?.array?.compactMap { $0.int.map { UInt8($0) } } ?? []
        XCTAssertEqual(UInt64(bytes.count), total)
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines), sha,
                       "the echo reply is the sha256 of the upload")
        let types = try packets(target).compactMap { $0["type"]?.string }
        XCTAssertEqual(types.last, "Close-Session", "the session is closed after the reply: \(types)")
        try complete(as: alice, job: job)
        XCTAssertEqual(TestFiles.owner(replyName)?.uid, alice.uid)
        XCTAssertEqual(try String(contentsOfFile: replyName, encoding: .utf8), String(decoding: bytes, as: UTF8.self))

        // An explicit ReplyFileName; and an upload-half error leaves the reply size unknown.
        let dir = try downloadDirectory(alice, "replies")
        let named = try createJob(as: alice, name: "named reply", type: "upload-reply")
        _ = try addFile(as: alice, job: named, url: url("/in/named-\(UUID().uuidString.prefix(6)).bin"), local: path)
        try mustSetProperty(as: alice, named, "ReplyFileName", type: "s", value: "\(dir)/answer.txt")
        try mustSetProperty(as: alice, named, "Priority", type: "s", value: "foreground")
        try control(#"{"fault": "403", "count": 1}"#)
        try resume(as: alice, job: named)
        try waitForState(as: alice, job: named, ["error"], timeout: 30, failOn: ["transferred"])
        XCTAssertEqual(try property(as: alice, named, "ReplyBytesTotal").uint64, UInt64.max, "the upload half failed")
        assertError(try call(as: alice, named, BitsNames.job, "GetReplyData"), [BitsNames.invalidState], "reply data before the reply")
        assertError(try setProperty(as: alice, job, "ReplyFileName", type: "s", value: "x"), [BitsNames.notFound, BitsNames.invalidState],
                    "ReplyFileName of a completed job")
    }

    /// A reply whose fsync fails (injected with the hidden `--fail-fsync-of` option) fails the reply half before
    /// Close-Session (`local-io`); after a restart without the fault, Resume fetches the reply
    /// again from the still open session and Complete delivers it.
    func testAReplyThatCouldNotBeMadeDurableIsFetchedAgain() throws {
        let (path, sha) = try source("durable-reply.bin", size: 100_000, seed: 47)
        let dir = try TestFiles.makeUserDirectory(alice, "fsync-fails-\(UUID().uuidString.prefix(6))")
        try restartDaemonWithFailingFsync(forPathsContaining: "/fsync-fails-")
        let job = try createJob(as: alice, name: "durable reply", type: "upload-reply")
        _ = try addFile(as: alice, job: job, url: url("/in/durable-\(UUID().uuidString.prefix(6)).bin"), local: path)
        try mustSetProperty(as: alice, job, "ReplyFileName", type: "s", value: "\(dir)/answer.txt")
        try mustSetProperty(as: alice, job, "Priority", type: "s", value: "foreground")
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["error"], timeout: 30)
        XCTAssertEqual(try property(as: alice, job, "ErrorCode").string, "local-io")
        XCTAssertTrue((try property(as: alice, job, "ErrorDescription").string ?? "").contains("\(dir)/answer.txt"))
        assertError(try call(as: alice, job, BitsNames.job, "GetReplyData"), [BitsNames.invalidState], "reply data of an undurable reply")
        XCTAssertFalse(TestFiles.exists("\(dir)/answer.txt"))

        daemon.extraArguments = []
        try daemon.restart()
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["transferred"], timeout: 30)
        try complete(as: alice, job: job)
        XCTAssertEqual(try String(contentsOfFile: "\(dir)/answer.txt", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), sha)
    }
}

/// A web-farm server: Create-Session answers `BITS-Host-Id`; later packets go to that host.
final class UploadHostAffinityTests: UploadTestCase {
    override class var serverOptions: [String] { ["--host-id", "localhost", "--host-id-fallback-timeout", "1"] }

    func testPacketsFollowTheHostId() throws {
        let (path, sha) = try source("farm.bin", size: 2 << 20, seed: 41)
        let target = "/in/farm-\(UUID().uuidString.prefix(6)).bin"
        let job = try upload(path, to: target)
        try waitForState(as: alice, job: job, ["transferred"], timeout: 30)
        try complete(as: alice, job: job)
        XCTAssertEqual(try storedSHA(target), sha)
        for packet in try packets(target) where packet["type"]?.string == "Fragment" || packet["type"]?.string == "Close-Session" {
            let host = packet["headers"]?["Host"]?.string ?? packet["headers"]?["host"]?.string ?? ""
            XCTAssertTrue(host.hasPrefix("localhost:"), "\(packet["type"]?.string ?? "") went to \(host), not to the Host-Id")
        }
    }
}

/// Multi-gigabyte sparse sources (read fast, mostly zeros) arrive whole.
final class LargeUploadTests: UploadTestCase {
    func testTwoGigabyteSparseUpload() throws {
        let dir = try downloadDirectory(alice, "sparse")
        let path = "\(dir)/sparse.bin"
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: 2 << 30)
        try handle.seek(toOffset: 1 << 30)
        try handle.write(contentsOf: Data("a marker in the middle".utf8))
        try handle.close()
        chown(path, alice.uid, alice.gid)
        let sha = try ProcessRunner.mustRun(["/usr/bin/sha256sum", path], timeout: 120).stdout.split(separator: " ").first.map(String.init)
        let target = "/in/sparse-\(UUID().uuidString.prefix(6)).bin"
        let job = try upload(path, to: target)
        try waitForState(as: alice, job: job, ["transferred"], timeout: 180)
        try complete(as: alice, job: job)
        XCTAssertEqual(try storedSHA(target), sha)
        XCTAssertEqual(try state()["files"]?[target]?["size"]?.uint64, UInt64(2 << 30))
    }
}

/// A server that keeps its sessions across restarts (as IIS does): an upload interrupted by
/// the server's restart continues from the server's received range.
final class UploadServerRestartTests: UploadTestCase {
    override class var serverOptions: [String] { ["--persist-sessions"] }

    func testUploadContinuesAfterTheServerRestarts() throws {
        for kill in [false, true] {
            let (path, sha) = try source("restart-\(kill).bin", size: 12 << 20, seed: kill ? 51 : 52)
            let target = "/in/restart-\(UUID().uuidString.prefix(6)).bin"
            let job = try upload(path, to: target, foreground: false)  // 2 MiB/s
            _ = try waitForProperty(as: alice, job, "BytesTransferred", timeout: 30) { ($0.uint64 ?? 0) >= 3 << 20 && $0.uint64 != UInt64.max }
            restartServer(kill: kill)
            try waitForState(as: alice, job: job, ["transient-error", "transferred"], timeout: 30)
            if try jobState(as: alice, job) == "transient-error" { try resume(as: alice, job: job) }
            try waitForState(as: alice, job: job, ["transferred"], timeout: 60)
            try complete(as: alice, job: job)
            XCTAssertEqual(try storedSHA(target), sha, "after a server restart (kill: \(kill))")
            let sessions = (try state()["sessions"]?.array ?? []).filter { $0["path"]?.string == target }
            XCTAssertLessThanOrEqual(sessions.count, 1, "a new session was created after the restart (kill: \(kill))")
            let ranges = try packets(target).filter { $0["type"]?.string == "Fragment" }.compactMap { $0["content_range"]?.string }
            // The restarted server's log holds only the packets after the restart.
            XCTAssertFalse(ranges.contains { $0.hasPrefix("bytes 0-") }, "restarted from 0: \(ranges)")
        }
    }
}

/// A Host-Id that cannot be reached: after its fallback timeout the packets go to the job's
/// URL again, in the same session.
final class UploadHostFallbackTests: UploadTestCase {
    override class var serverOptions: [String] { ["--host-id", "127.0.0.2", "--host-id-fallback-timeout", "1"] }

    func testUnreachableHostIdFallsBackAfterItsTimeout() throws {
        let (path, sha) = try source("fallback.bin", size: 1 << 20, seed: 61)
        let target = "/in/fallback-\(UUID().uuidString.prefix(6)).bin"
        let job = try upload(path, to: target)
        try waitForState(as: alice, job: job, ["transient-error"], timeout: 30, failOn: ["transferred"])
        XCTAssertTrue((try property(as: alice, job, "ErrorDescription").string ?? "").contains("127.0.0.2"),
                      "the failure names the Host-Id host")
        usleep(1_500_000)
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["transferred"], timeout: 30)
        try complete(as: alice, job: job)
        XCTAssertEqual(try storedSHA(target), sha)
        XCTAssertEqual(try packets(target).filter { $0["type"]?.string == "Create-Session" }.count, 1, "one session")
    }
}
