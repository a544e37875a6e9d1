import Foundation
import XCTest

/// Job HTTP options end to end: headers, credentials, redirects, size caps, dynamic content,
/// high performance, ranges, and fixing URLs.
final class HTTPOptionTests: BitsTestCase {

    func download(_ job: String, expect state: String = "transferred", timeout: TimeInterval = 30) throws {
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, [state], timeout: timeout,
                         failOn: Set(["transferred", "error"]).subtracting([state]))
    }

    func testCustomHeadersAreSentAndWriteOnlyHidesThem() throws {
        let tag = "hdr-\(UUID().uuidString.prefix(8))"
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "headers")
        _ = try addFile(as: alice, job: job, url: http.url("/small.bin", tag: tag), local: "\(dir)/h.bin")
        try mustSetProperty(as: alice, job, "CustomHeaders", type: "as", value: ["X-Api-Token: s3cret", "X-Trace: 1"])
        XCTAssertEqual(try property(as: alice, job, "CustomHeaders").stringArray, ["X-Api-Token: s3cret", "X-Trace: 1"])
        try mustSetProperty(as: alice, job, "CustomHeadersWriteOnly", type: "b", value: true)
        XCTAssertEqual(try property(as: alice, job, "CustomHeaders").stringArray, [], "write-only headers are readable")
        XCTAssertEqual(try property(as: nil, job, "CustomHeaders").stringArray, [], "write-only headers readable by root")
        assertError(try setProperty(as: alice, job, "CustomHeadersWriteOnly", type: "b", value: false),
                    ["org.freedesktop.DBus.Error.InvalidArgs"])
        assertError(try setProperty(as: alice, job, "CustomHeaders", type: "as", value: ["Bad\r\nHeader: x"]),
                    ["org.freedesktop.DBus.Error.InvalidArgs"])
        try download(job)
        let sent = try http.requests(tag: tag).compactMap { $0["headers"] }
        XCTAssertFalse(sent.isEmpty)
        for headers in sent {
            XCTAssertEqual(headers["X-Api-Token"]?.string ?? headers["x-api-token"]?.string, "s3cret")
        }
    }

    func testBasicCredentialsAreUsedAndNeverReadable() throws {
        let dir = try downloadDirectory(alice)
        let url = http.url("/small.bin", [("auth", "basic"), ("user", "alice"), ("pass", "pa55word")])
        let denied = try createJob(as: alice, name: "no creds")
        _ = try addFile(as: alice, job: denied, url: url, local: "\(dir)/denied.bin")
        try download(denied, expect: "error")
        XCTAssertEqual(try property(as: alice, denied, "ErrorCode").string, "http-401")

        let job = try createJob(as: alice, name: "creds")
        _ = try addFile(as: alice, job: job, url: url, local: "\(dir)/ok.bin")
        _ = try mustCall(as: alice, job, BitsNames.job, "SetCredentials", "ssss", ["server", "basic", "alice", "pa55word"])
        assertError(try call(as: alice, job, BitsNames.job, "SetCredentials", "ssss", ["server", "kerberos", "a", "b"]),
                    ["org.freedesktop.DBus.Error.InvalidArgs"], mentioning: ["kerberos"])
        let all = try mustCall(as: alice, job, BitsNames.properties, "GetAll", "s", [BitsNames.job])
        XCTAssertFalse("\(all)".contains("pa55word"), "the password appears in GetAll")
        try download(job)
        try complete(as: alice, job: job)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/ok.bin"), env.files["small.bin"]?.sha256)
        XCTAssertFalse(daemon.logTail(lines: 2000).contains("pa55word"), "the password appears in the log")
    }

    func testRedirectPolicies() throws {
        let dir = try downloadDirectory(alice)
        let target = http.url("/small.bin")
        let redirecting = http.url("/anything", [("redirect", target.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? target)])

        let deny = try createJob(as: alice, name: "deny")
        _ = try addFile(as: alice, job: deny, url: redirecting, local: "\(dir)/deny.bin")
        try mustSetProperty(as: alice, deny, "RedirectPolicy", type: "s", value: "deny")
        try download(deny, expect: "error")
        XCTAssertEqual(try property(as: alice, deny, "ErrorCode").string, "redirect-denied")

        let report = try createJob(as: alice, name: "report")
        let file = try addFile(as: alice, job: report, url: redirecting, local: "\(dir)/report.bin")
        try mustSetProperty(as: alice, report, "RedirectPolicy", type: "s", value: "allow-report")
        try download(report)
        XCTAssertEqual(try property(as: alice, file, BitsNames.file, "RemoteName").string, target,
                       "allow-report rewrites RemoteName to the final URL")
    }

    func testMaximumDownloadSizeAndDynamicContent() throws {
        let dir = try downloadDirectory(alice)
        let capped = try createJob(as: alice, name: "capped")
        _ = try addFile(as: alice, job: capped, url: http.url("/big.bin"), local: "\(dir)/capped.bin")
        try mustSetProperty(as: alice, capped, "MaximumDownloadSize", type: "t", value: 100_000)
        try download(capped, expect: "error")
        XCTAssertEqual(try property(as: alice, capped, "ErrorCode").string, "max-download-size")

        let dynamic = try createJob(as: alice, name: "dynamic")
        _ = try addFile(as: alice, job: dynamic, url: http.url("/medium.bin", [("fault", "nolength")]), local: "\(dir)/dyn.bin")
        try mustSetProperty(as: alice, dynamic, "DynamicContent", type: "b", value: true)
        try download(dynamic)
        try complete(as: alice, job: dynamic)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/dyn.bin"), env.files["medium.bin"]?.sha256)
        assertError(try setProperty(as: alice, dynamic, "DynamicContent", type: "b", value: false),
                    ["org.example.Bits.Error.InvalidState"], "DynamicContent after Resume")
    }

    func testHighPerformanceWritesStraightToTheDestination() throws {
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "fast")
        try mustSetProperty(as: alice, job, "HighPerformance", type: "b", value: true)
        let file = try addFile(as: alice, job: job, url: http.url("/medium.bin"), local: "\(dir)/direct.bin")
        XCTAssertEqual(try property(as: alice, file, BitsNames.file, "TemporaryName").string, "\(dir)/direct.bin")
        assertError(try setProperty(as: alice, job, "HighPerformance", type: "b", value: false),
                    ["org.example.Bits.Error.InvalidState"], "HighPerformance after AddFile")
        try download(job)
        XCTAssertEqual(TestFiles.listing(dir), ["direct.bin"], "no temporary file")
        try complete(as: alice, job: job)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/direct.bin"), env.files["medium.bin"]?.sha256)
        XCTAssertEqual(TestFiles.owner("\(dir)/direct.bin")?.uid, alice.uid)
    }

    /// Ranges of a generated file, written back to back.
    func testAddFileWithRanges() throws {
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "ranges")
        let ranges: [[UInt64]] = [[10, 100], [70_000, 5_000], [1_048_000, UInt64.max]]
        let file = try mustCall(as: alice, job, BitsNames.job, "AddFileWithRanges", "ssa(tt)",
                                [http.url("/_gen/1M"), "\(dir)/ranges.bin", ranges]).first?.string ?? ""
        XCTAssertEqual(try property(as: alice, file, BitsNames.file, "Ranges").description.contains("70000"), true)
        try download(job)
        try complete(as: alice, job: job)
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/ranges.bin"))
        var expected = Data()
        for (offset, length) in [(10, 100), (70_000, 5_000), (1_048_000, 1_048_576 - 1_048_000)] {
            expected.append(contentsOf: (offset..<(offset + length)).map { UInt8((($0 * 7) + ($0 >> 8)) & 0xff) })
        }
        XCTAssertEqual(data.count, expected.count)
        XCTAssertTrue(data == expected, "ranged content differs")

        let bad = try createJob(as: alice, name: "bad ranges")
        for (ranges, what) in [([[0, 10], [5, 10]], "overlap"), ([[0, 0]], "empty"), ([] as [[UInt64]], "none")] {
            assertError(try call(as: alice, bad, BitsNames.job, "AddFileWithRanges", "ssa(tt)",
                                 [http.url("/_gen/1M"), "\(dir)/bad.bin", ranges]),
                        ["org.freedesktop.DBus.Error.InvalidArgs"], what)
        }
        let tooMany = (0..<501).map { [UInt64($0 * 10), UInt64(5)] }
        assertError(try call(as: alice, bad, BitsNames.job, "AddFileWithRanges", "ssa(tt)",
                             [http.url("/_gen/1M"), "\(dir)/many.bin", tooMany]),
                    ["org.example.Bits.Error.TooManyRangesInFile"])
        let beyond = try createJob(as: alice, name: "beyond EOF")
        _ = try mustCall(as: alice, beyond, BitsNames.job, "AddFileWithRanges", "ssa(tt)",
                         [http.url("/_gen/1K"), "\(dir)/beyond.bin", [[5000, 10]]])
        try download(beyond, expect: "error")
        XCTAssertEqual(try property(as: alice, beyond, "ErrorCode").string, "range-unsupported")
    }

    /// A 404 fixed with ReplaceRemotePrefix, another with File.RemoteName, then Resume.
    func testFixingURLsAfterAnError() throws {
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "fix me")
        _ = try mustCall(as: alice, job, BitsNames.job, "AddFiles", "a(ss)",
                         [[[http.baseURL + "/wrong/small.bin", "\(dir)/a.bin"], [http.baseURL + "/nope.bin", "\(dir)/b.bin"]]])
        try download(job, expect: "error")
        let changed = try mustCall(as: alice, job, BitsNames.job, "ReplaceRemotePrefix", "ss",
                                   [http.baseURL + "/wrong/", http.baseURL + "/"])
        XCTAssertEqual(changed.first?.uint64, 1)
        _ = try setProperty(as: alice, "\(job)/files/1", BitsNames.file, "RemoteName", type: "s", value: http.baseURL + "/medium.bin")
        XCTAssertEqual(try property(as: alice, "\(job)/files/1", BitsNames.file, "RemoteName").string, http.baseURL + "/medium.bin")
        try download(job)
        try complete(as: alice, job: job)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/a.bin"), env.files["small.bin"]?.sha256)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/b.bin"), env.files["medium.bin"]?.sha256)
    }
}
