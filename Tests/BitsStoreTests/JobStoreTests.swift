import BitsCore
import Foundation
import XCTest
@testable import BitsStore

/// The queue database on its own: round trips, write-only-what-changed, durability settings,
/// migrations from an older schema, corruption handling and the state directory's modes.
final class JobStoreTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "jobstore-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        chmod(directory, 0o700)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func sampleJob(files: Int = 2) -> Job {
        var job = Job(id: .random(), type: .download, owner: 1001, displayName: "sample", now: 1_700_000_000_000_000)
        job.description = "a job with everything"
        job.priority = .low
        job.options.customHeaders = ["X-Token: t"]
        job.secrets.credentials = [JobCredential(target: .server, scheme: .digest, userName: "u", password: "p@ss")]
        job.lastError = JobError(context: .remoteFile, code: .http(404), description: "not there", fileIndex: 1)
        for i in 0..<files {
            var file = JobFile(remoteName: "http://example.test/\(i)", localName: "/tmp/out\(i)", temporaryName: "/tmp/BIT\(i).tmp")
            file.bytesTotal = 1000
            file.bytesTransferred = UInt64(i * 100)
            file.entityTag = "\"e\(i)\""
            file.ranges = i == 1 ? [FileRange(offset: 0, length: 10)] : []
            job.files.append(file)
        }
        return job
    }

    func opened(log: @escaping (Bool, String) -> Void = { _, _ in }) throws -> JobStore.Opened {
        try JobStore.open(stateDirectory: directory, log: log)
    }

    func testRoundTripKeepsEveryFieldIncludingSecrets() throws {
        let job = sampleJob()
        try opened().store.save(job, activity: 42)
        let reopened = try opened()
        XCTAssertEqual(reopened.jobs.count, 1)
        XCTAssertEqual(reopened.jobs.first?.job, job)
        XCTAssertEqual(reopened.jobs.first?.activity, 42)
    }

    /// ExpectedHash and Hash live in columns of the file row (not in its JSON document) and
    /// come back as they were.
    func testHashesAreColumnsAndRoundTrip() throws {
        var job = sampleJob()
        job.files[0].expectedHash = try FileHash.parseExpected("sha512:" + String(repeating: "AB", count: 64))
        job.files[1].hash = try FileHash.parseExpected("sha256:" + String(repeating: "0f", count: 32))
        job.files[1].hashMismatches = 1
        let store = try opened().store
        try store.save(job, activity: 1)
        func column(_ name: String) throws -> [String] {
            try store.database.read { try $0.column("SELECT \(name) FROM file ORDER BY idx").map { $0.text ?? "" } }
        }
        XCTAssertEqual(try column("expected_hash"), ["sha512:" + String(repeating: "ab", count: 64), ""])
        XCTAssertEqual(try column("hash"), ["", "sha256:" + String(repeating: "0f", count: 32)])
        XCTAssertFalse(try column("document").joined().contains("sha"))
        XCTAssertEqual(try opened().jobs.first?.job, job)
        // A value that is not a hash makes its job unreadable, not the daemon.
        try store.database.write { try $0.executeScript("UPDATE file SET hash = 'md5:00' WHERE idx = 1") }
        var unreadable: [String] = []
        let reopened = try JobStore.open(stateDirectory: directory, log: { _, text in unreadable.append(text) })
        XCTAssertEqual(reopened.jobs.count, 0)
        XCTAssertTrue(unreadable.contains { $0.contains("not a hash") }, "\(unreadable)")
    }

    func testDurabilitySettings() throws {
        let store = try opened().store
        XCTAssertEqual(try store.synchronousMode(), 2, "synchronous must be FULL")
        let mode = try store.database.read { try $0.column("PRAGMA journal_mode").first?.text }
        XCTAssertEqual(mode, "wal")
    }

    func testOnlyChangedFileRowsAreWritten() throws {
        let store = try opened().store
        var job = sampleJob(files: 50)
        try store.save(job, activity: 1)
        XCTAssertFalse(store.hasChanges(job))
        let before = try store.database.read { try $0.column("SELECT total_changes()").first?.integer ?? 0 }
        job.files[7].bytesTransferred = 999
        XCTAssertTrue(store.hasChanges(job))
        try store.save(job, activity: 2)
        let after = try store.database.read { try $0.column("SELECT total_changes()").first?.integer ?? 0 }
        XCTAssertEqual(after - before, 2, "one job row and one file row")
        XCTAssertEqual(try opened().jobs.first?.job.files[7].bytesTransferred, 999)
    }

    func testRemovedFilesAndDeletedJobsLeaveNoRows() throws {
        let store = try opened().store
        var job = sampleJob(files: 3)
        try store.save(job, activity: 1)
        job.files.removeLast()
        try store.save(job, activity: 1)
        XCTAssertEqual(try opened().jobs.first?.job.files.count, 2)
        try store.delete(job.id)
        XCTAssertEqual(try store.count(), 0)
        XCTAssertEqual(try store.database.read { try $0.column("SELECT COUNT(*) FROM file").first?.integer }, 0)
    }

    func testPendingTemporariesAreSettledWithTheJob() throws {
        let store = try opened().store
        let job = sampleJob(files: 1)
        try store.recordPendingTemporaries([.init(path: "/tmp/BIT0.tmp", owner: 1001), .init(path: "/tmp/BITX.tmp", owner: 1001)])
        try store.save(job, activity: 1, settling: ["/tmp/BIT0.tmp"])
        XCTAssertEqual(try opened().pendingTemporaries, [.init(path: "/tmp/BITX.tmp", owner: 1001)])
    }

    /// A database written by schema version 1 is upgraded in place and every job, file and
    /// secret reads back; the new activity column starts at the job's modification time.
    func testMigratesVersion1Database() throws {
        let fixture = try XCTUnwrap(Bundle.module.path(forResource: "queue-v1", ofType: "sql", inDirectory: "Fixtures"))
        let path = directory + "/" + JobStore.fileName
        let result = Process()
        result.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        result.arguments = [path, ".read \(fixture)"]
        try result.run()
        result.waitUntilExit()
        XCTAssertEqual(result.terminationStatus, 0)
        let queue = try opened()
        let stored = try XCTUnwrap(queue.jobs.first)
        XCTAssertEqual(stored.job.displayName, "old job")
        XCTAssertEqual(stored.job.priority, .low)
        XCTAssertEqual(stored.job.files.count, 2)
        XCTAssertEqual(stored.job.files[0].bytesTransferred, 524_288)
        XCTAssertEqual(stored.job.files[0].entityTag, "\"abc\"")
        XCTAssertEqual(stored.job.secrets.credentials.first?.password, "v1-secret")
        XCTAssertEqual(stored.activity, 1_795_567_453_074_755)
        let migrations = try queue.store.database.read { try $0.column("SELECT identifier FROM grdb_migrations ORDER BY 1").map { $0.text ?? "" } }
        XCTAssertEqual(migrations, ["v1-jobs-and-files", "v2-activity-and-pending-temporaries", "v3-service-facts",
                                    "v4-file-hashes"])
        XCTAssertNil(stored.job.files[0].expectedHash)
        XCTAssertNil(stored.job.files[0].hash)
        XCTAssertEqual(try queue.store.pendingTemporaries(), [])
    }

    func testCorruptDatabaseIsMovedAsideAndAnEmptyQueueStarts() throws {
        try opened().store.save(sampleJob(), activity: 1)
        let path = directory + "/" + JobStore.fileName
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: path))
        try? FileManager.default.removeItem(atPath: path + "-wal")
        var lines: [(Bool, String)] = []
        let queue = try opened { lines.append(($0, $1)) }
        XCTAssertEqual(queue.jobs.count, 0)
        XCTAssertTrue(lines.contains { $0.0 && $0.1.contains("moved it aside") }, "\(lines)")
        let aside = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("queue.sqlite.broken-") }
        XCTAssertFalse(aside.isEmpty)
        try queue.store.save(sampleJob(), activity: 1)
        XCTAssertEqual(try opened().jobs.count, 1)
    }

    func testUndecodableJobIsReportedAndSkipped() throws {
        let store = try opened().store
        try store.save(sampleJob(), activity: 1)
        try store.database.write { try $0.executeScript("UPDATE job SET document = '{\"broken\": true}'") }
        var reported: [String] = []
        let queue = try opened { critical, line in if critical { reported.append(line) } }
        XCTAssertEqual(queue.jobs.count, 0)
        XCTAssertEqual(reported.count, 1)
        XCTAssertEqual(try queue.store.count(), 1, "the unreadable row is kept for a later version")
    }

    func testStateDirectoryModesAreNarrowedAndSymlinksRefused() throws {
        _ = try opened()
        chmod(directory, 0o755)
        chmod(directory + "/" + JobStore.fileName, 0o644)
        var lines: [String] = []
        _ = try opened { lines.append($1) }
        var st = stat()
        XCTAssertEqual(stat(directory, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o700)
        XCTAssertEqual(stat(directory + "/" + JobStore.fileName, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        XCTAssertEqual(lines.count, 2, "\(lines)")

        let link = directory + "-link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: directory)
        defer { try? FileManager.default.removeItem(atPath: link) }
        XCTAssertThrowsError(try JobStore.open(stateDirectory: link) { _, _ in })
    }

    func testMissingStateDirectoryIsCreatedRootOnly() throws {
        let fresh = directory + "/nested/state"
        _ = try JobStore.open(stateDirectory: fresh) { _, _ in }
        var st = stat()
        XCTAssertEqual(stat(fresh, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o700)
    }
}
