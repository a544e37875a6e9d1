import Foundation
import XCTest

/// Remote failures: fatal (404), transient with resume (mid-body drop), transient without a
/// connection (refused).
final class TransferErrorTests: BitsTestCase {

    func testHTTP404IsAFatalRemoteFileError() throws {
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "404")
        let file = try addFile(as: alice, job: job, url: http.url("/no-such-file-\(UUID().uuidString).bin"),
                               local: "\(dir)/missing.bin")
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["error"], timeout: 20, failOn: ["transferred", "cancelled", "acknowledged"])

        XCTAssertEqual(try property(as: alice, job, "ErrorCode").string, "http-404")
        XCTAssertEqual(try property(as: alice, job, "ErrorContext").string, "remote-file")
        XCTAssertGreaterThanOrEqual(try property(as: alice, job, "ErrorCount").uint64 ?? 0, 1)
        XCTAssertFalse((try property(as: alice, job, "ErrorDescription").string ?? "").isEmpty, "ErrorDescription")
        XCTAssertEqual(try property(as: alice, job, "ErrorFile").string, file)
        XCTAssertEqual(try property(as: alice, job, "FilesTransferred").uint64, 0)

        try complete(as: alice, job: job)
        usleep(300_000)
        XCTAssertEqual(TestFiles.listing(dir), [], "Complete of a failed job keeps nothing")
        XCTAssertFalse((try listJobs(as: alice).first?.stringArray ?? []).contains(job))
    }

    func testMidBodyDisconnectIsRetriedWithARange() throws {
        let medium = try XCTUnwrap(env.files["medium.bin"])
        let tag = "drop-\(UUID().uuidString.prefix(8))"
        let url = http.url("/medium.bin", [("fault", "drop"), ("after", "300000"), ("times", "1")], tag: tag)
        let dir = try downloadDirectory(alice)
        let local = "\(dir)/medium.bin"
        let job = try createJob(as: alice, name: "dropped")
        try mustSetProperty(as: alice, job, "MinimumRetryDelay", type: "u", value: 5)
        XCTAssertEqual(try property(as: alice, job, "MinimumRetryDelay").uint64, 5)
        _ = try addFile(as: alice, job: job, url: url, local: local)

        try resume(as: alice, job: job)
        let seen = try waitForState(as: alice, job: job, ["transferred"], timeout: 40,
                                    failOn: ["error", "cancelled", "acknowledged"])
        XCTAssertTrue(seen.contains("transient-error"), "the drop must show as transient-error; states seen \(seen)")
        XCTAssertGreaterThanOrEqual(try property(as: alice, job, "ErrorCount").uint64 ?? 0, 1)
        XCTAssertEqual(try property(as: alice, job, "BytesTransferred").uint64, UInt64(medium.size))

        try complete(as: alice, job: job)
        XCTAssertEqual(try TestFiles.sha256(local), medium.sha256, "byte-identical after the retry")
        XCTAssertEqual(FileManager.default.contents(atPath: local),
                       FileManager.default.contents(atPath: "\(http.root)/medium.bin"))

        let starts = try rangeStarts(tag: tag)
        XCTAssertGreaterThanOrEqual(starts.count, 2, "expected a retry request; log starts \(starts)")
        let resumed = starts.dropFirst().compactMap { $0 }.filter { $0 > 0 }
        XCTAssertFalse(resumed.isEmpty, "the retry must ask for Range: bytes=N- with N > 0; got \(starts)")
        if let n = resumed.first {
            XCTAssertLessThanOrEqual(n, 300_000, "resumed past the bytes actually received")
            if n != 300_000 { print("note: retry resumed at \(n), not at 300000") }
        }
    }

    func testRefusedConnectionIsATransientError() throws {
        let port = closedLoopbackPort()
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "refused")
        try mustSetProperty(as: alice, job, "MinimumRetryDelay", type: "u", value: 5)
        _ = try addFile(as: alice, job: job, url: "http://127.0.0.1:\(port)/refused.bin", local: "\(dir)/refused.bin")
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["transient-error"], timeout: 20,
                         failOn: ["error", "transferred", "cancelled", "acknowledged"])
        XCTAssertEqual(try property(as: alice, job, "ErrorCode").string, "connection-refused")
        XCTAssertGreaterThanOrEqual(try property(as: alice, job, "ErrorCount").uint64 ?? 0, 1)
        try cancel(as: alice, job: job)
        usleep(300_000)
        XCTAssertEqual(TestFiles.listing(dir), [])
    }
}
