import Foundation
import XCTest

/// The files of a job handed to the engine ahead of the one in flight (so they follow each
/// other without a round trip through the queue manager): one connection, settings changed
/// mid-job apply to every later file, and a suspend in the middle loses nothing.
final class QueuedFileTests: BitsTestCase {
    /// A running foreground job of `count` files of `size` bytes, new in the server's root,
    /// each served with `query`; returns the files (name, hash), the job, its directory and
    /// the server-log tag of its requests.
    private func startJob(_ prefix: String, count: Int, size: Int, query: [(String, String)])
        throws -> (files: [(name: String, sha: String)], job: String, dir: String, tag: String) {
        let tag = "\(prefix)-\(UUID().uuidString.prefix(8))"
        let files = try (0..<count).map { i -> (name: String, sha: String) in
            let name = "\(tag)-\(i).bin"
            return (name, try TestFiles.create(at: "\(http.root)/\(name)", size: size, seed: UInt64(1000 + i)))
        }
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: prefix)
        for file in files {
            _ = try addFile(as: alice, job: job, url: http.url("/\(file.name)", query, tag: tag), local: "\(dir)/\(file.name)")
        }
        try mustSetProperty(as: alice, job, "Priority", type: "s", value: "foreground")
        try resume(as: alice, job: job)
        return (files, job, dir, tag)
    }

    func testSettingsChangedMidJobApplyToEveryLaterFileOverOneConnection() throws {
        // About 0.3 s per file, so the change lands while files are still waiting.
        let (files, job, dir, tag) = try startJob("queue", count: 8, size: 150_000, query: [("rate", "500000")])
        try waitForProperty(as: alice, job, "BytesTransferred") { ($0.uint64 ?? 0) > 0 && $0.uint64 != UInt64.max }
        try mustSetProperty(as: alice, job, "CustomHeaders", type: "as", value: ["X-Phase: 2"])
        // Requests the server saw by now were sent before the change (at most one is in flight).
        let before = try http.requests(tag: tag).count
        XCTAssertLessThan(before, files.count - 2, "the change came too late to test anything")
        try waitForState(as: alice, job: job, state: "transferred")
        try complete(as: alice, job: job)
        for file in files {
            XCTAssertEqual(try TestFiles.sha256("\(dir)/\(file.name)"), file.sha, file.name)
        }
        let log = try http.requests(tag: tag)
        XCTAssertEqual(log.count, files.count, "one request per file: \(log)")
        XCTAssertEqual(log.compactMap { $0["path"]?.string }, files.map { "/\($0.name)" }, "files in order")
        for (index, entry) in log.enumerated() where index >= before {
            let headers = entry["headers"]?.object ?? [:]
            XCTAssertEqual(headers["X-Phase"]?.string ?? headers["x-phase"]?.string, "2",
                           "request \(index) (after the change) lacks the new header")
        }
        XCTAssertEqual(Set(log.compactMap { $0["connection_id"]?.int }).count, 1, "connections must be reused")
    }

    func testSuspendWhileFilesAreQueuedLosesNothing() throws {
        // Only the first request of each file is slow.
        let (files, job, dir, _) = try startJob("qsusp", count: 6, size: 200_000, query: [("rate", "400000"), ("times", "1")])
        try waitForProperty(as: alice, job, "FilesTransferred") { ($0.uint64 ?? 0) >= 1 }
        try suspend(as: alice, job: job)
        usleep(300_000)
        let transferred = try property(as: alice, job, "FilesTransferred").uint64 ?? 0
        let bytes = try property(as: alice, job, "BytesTransferred").uint64 ?? 0
        usleep(800_000)
        XCTAssertEqual(try property(as: alice, job, "BytesTransferred").uint64, bytes, "grew while suspended")
        XCTAssertLessThan(transferred, UInt64(files.count), "the suspend came too late to test anything")
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, state: "transferred")
        XCTAssertEqual(try property(as: alice, job, "FilesTransferred").uint64, UInt64(files.count))
        try complete(as: alice, job: job)
        for file in files {
            XCTAssertEqual(try TestFiles.sha256("\(dir)/\(file.name)"), file.sha, file.name)
        }
    }
}
