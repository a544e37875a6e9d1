import Foundation
import XCTest

/// Resume consistency (validators, servers without ranges, Last-Modified) and the retry
/// policy (custom methods, NoProgressTimeout, re-running the notify command).
final class ConsistencyAndRetryTests: BitsTestCase {

    func suspendMidway(_ job: String) throws {
        try resume(as: alice, job: job)
        try waitForProperty(as: alice, job, "BytesTransferred") { ($0.uint64 ?? 0) > 100_000 && $0.uint64 != UInt64.max }
        try suspend(as: alice, job: job)
        usleep(300_000)
    }

    /// The remote file changes while the job is suspended: If-Range makes the server send
    /// the new file whole, and the result is the new file, not a mix.
    func testChangedRemoteFileRestartsFromZero() throws {
        let name = "changing-\(UUID().uuidString.prefix(6)).bin"
        let path = "\(http.root)/\(name)"
        _ = try TestFiles.create(at: path, size: 1_000_000, seed: 11)
        let dir = try downloadDirectory(alice)
        let tag = "chg-\(UUID().uuidString.prefix(6))"
        let job = try createJob(as: alice, name: "changing")
        _ = try addFile(as: alice, job: job, url: http.url("/\(name)", [("rate", "200000")], tag: tag), local: "\(dir)/c.bin")
        try suspendMidway(job)
        let newSHA = try TestFiles.create(at: path, size: 900_000, seed: 12)
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["transferred"], timeout: 30, failOn: ["error"])
        try complete(as: alice, job: job)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/c.bin"), newSHA, "the result must be the new file")
        let resumed = try http.requests(tag: tag).dropFirst().first
        XCTAssertNotNil(resumed?["if_range"]?.string, "the resumed request must carry If-Range")
    }

    /// A server that ignores Range on the resumed request: the file restarts cleanly.
    func testServerIgnoringRangeOnResume() throws {
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "norange")
        _ = try addFile(as: alice, job: job, url: http.url("/big.bin", [("rate", "300000"), ("fault", "norange")]), local: "\(dir)/n.bin")
        try suspendMidway(job)
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["transferred"], timeout: 30, failOn: ["error"])
        try complete(as: alice, job: job)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/n.bin"), env.files["big.bin"]?.sha256)
    }

    /// The finished file's mtime is the server's Last-Modified; ResponseHeaders holds the
    /// last response's headers.
    func testLastModifiedAndResponseHeaders() throws {
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "mtime")
        let file = try addFile(as: alice, job: job, url: http.url("/small.bin", [("lastmod", "1600000000")]), local: "\(dir)/m.bin")
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["transferred"], timeout: 10)
        XCTAssertEqual(try property(as: alice, file, BitsNames.file, "LastModified").uint64, 1_600_000_000_000_000)
        let headers = try property(as: alice, file, BitsNames.file, "ResponseHeaders").string ?? ""
        XCTAssertTrue(headers.lowercased().contains("content-length: 65536"), "ResponseHeaders: \(headers)")
        try complete(as: alice, job: job)
        var st = stat()
        XCTAssertEqual(stat("\(dir)/m.bin", &st), 0)
        XCTAssertEqual(st.st_mtim.tv_sec, 1_600_000_000)
    }

    /// With a custom HttpMethod every error is fatal (no transient-error, no retry).
    func testCustomMethodMakesEveryErrorFatal() throws {
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "post")
        _ = try addFile(as: alice, job: job, url: http.url("/small.bin", [("fault", "status"), ("code", "503")]), local: "\(dir)/p.bin")
        try mustSetProperty(as: alice, job, "HttpMethod", type: "s", value: "POST")
        XCTAssertEqual(try property(as: alice, job, "Priority").string, "foreground")
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["error"], timeout: 10, failOn: ["transient-error", "transferred"])
        XCTAssertEqual(try property(as: alice, job, "ErrorCode").string, "http-503")
        let ok = try createJob(as: alice, name: "post ok")
        _ = try addFile(as: alice, job: ok, url: http.url("/small.bin"), local: "\(dir)/ok.bin")
        try mustSetProperty(as: alice, ok, "HttpMethod", type: "s", value: "POST")
        try resume(as: alice, job: ok)
        try waitForState(as: alice, job: ok, ["transferred"], timeout: 10)
        assertError(try setProperty(as: alice, ok, "HttpMethod", type: "s", value: "GET"),
                    ["org.example.Bits.Error.InvalidState"], "HttpMethod after Resume")
    }

    /// NoProgressTimeout shorter than MinimumRetryDelay: the job gives up when it runs out.
    func testNoProgressTimeoutEndsRetries() throws {
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "hopeless")
        _ = try addFile(as: alice, job: job, url: "http://127.0.0.1:\(closedLoopbackPort())/x", local: "\(dir)/x.bin")
        try mustSetProperty(as: alice, job, "MinimumRetryDelay", type: "u", value: 30)
        try mustSetProperty(as: alice, job, "NoProgressTimeout", type: "u", value: 2)
        let started = Date()
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["error"], timeout: 10)
        XCTAssertLessThan(Date().timeIntervalSince(started), 6)
        XCTAssertEqual(try property(as: alice, job, "ErrorCode").string, "no-progress")
        XCTAssertTrue((try property(as: alice, job, "ErrorDescription").string ?? "").contains("No progress for 2 seconds"))
    }

    /// A notify command that fails runs again after MinimumRetryDelay.
    func testFailingNotifyCommandIsRunAgain() throws {
        let dir = try downloadDirectory(alice)
        let counter = "\(dir)/runs"
        let job = try createJob(as: alice, name: "notify retry")
        _ = try addFile(as: alice, job: job, url: http.url("/small.bin"), local: "\(dir)/r.bin")
        try mustSetProperty(as: alice, job, "MinimumRetryDelay", type: "u", value: 5)
        try mustSetProperty(as: alice, job, "NotifyCommandLine", type: "as",
                            value: ["/bin/sh", "-c", "echo run >> \(counter); [ $(wc -l < \(counter)) -ge 2 ]"])
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["transferred"], timeout: 10)
        XCTAssertTrue(waitUntil(timeout: 3) { TestFiles.exists(counter) }, "first run missing")
        XCTAssertTrue(waitUntil(timeout: 10) { ((try? String(contentsOfFile: counter, encoding: .utf8)) ?? "").split(separator: "\n").count == 2 },
                      "the failing command was not run again after MinimumRetryDelay")
        sleep(6)
        XCTAssertEqual(((try? String(contentsOfFile: counter, encoding: .utf8)) ?? "").split(separator: "\n").count, 2,
                       "a command that succeeded must not run again")
    }
}
