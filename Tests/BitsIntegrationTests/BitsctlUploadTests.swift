import Foundation
import XCTest

/// `bitsctl` with upload and upload-reply jobs, against the project's BITS upload server.
final class BitsctlUploadTests: UploadTestCase {
    func testTransferUploadSendsTheFile() throws {
        let (path, sha) = try source("ctl-up.bin", size: 3_000_000, seed: 41)
        let target = "/in/ctl-\(UUID().uuidString.prefix(6)).bin"
        let r = try bitsctl(["transfer", "--upload", path, url(target)])
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertTrue(r.stderr.contains("Transferred 1 file(s), 2.86 MiB"), r.summary)
        XCTAssertEqual(try storedSHA(target), sha)
        let twoFiles = try bitsctl(["transfer", "--upload", path, url(target), path, url(target)])
        XCTAssertEqual(twoFiles.status, 64, twoFiles.summary)
    }

    func testUploadReplyStepByStepAndReplyData() throws {
        let (path, sha) = try source("ctl-reply.bin", size: 200_000, seed: 42)
        let target = "/in/ctl-reply-\(UUID().uuidString.prefix(6)).bin"
        let created = try json(["create", "--json", "--type", "upload-reply", "ctl reply"])
        let job = try XCTUnwrap(created["Path"]?.string)
        trackJob(job)
        XCTAssertEqual(try bitsctl(["add-file", job, url(target), path]).status, 0)
        XCTAssertEqual(try bitsctl(["set", job, "Priority", "foreground"]).status, 0)
        XCTAssertEqual(try bitsctl(["resume", job]).status, 0)
        let waited = try bitsctl(["wait", job])
        XCTAssertEqual(waited.status, 0, waited.summary)
        let raw = try bitsctl(["reply-data", job])
        XCTAssertEqual(raw.stdout.trimmingCharacters(in: .whitespacesAndNewlines), sha, "the echo reply is the upload's sha256")
        let reply = try json(["reply-data", "--json", job])
        XCTAssertEqual(reply["Text"]?.string?.trimmingCharacters(in: .whitespacesAndNewlines), sha)
        XCTAssertEqual(reply["Size"]?.uint64, UInt64(raw.stdout.utf8.count))
        let replyName = try XCTUnwrap(try json(["get", "--json", job, "ReplyFileName"]).string)
        XCTAssertEqual(try bitsctl(["complete", job]).status, 0)
        XCTAssertEqual(try String(contentsOfFile: replyName, encoding: .utf8), raw.stdout)
    }
}
