import BitsCore
import Foundation
import XCTest
@testable import BitsStore

/// Values read back from a damaged or edited queue database never trap: a column of the wrong
/// type or out of range makes its job unreadable (reported, left in place), other jobs load.
final class HostileDatabaseTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "jobstore-hostile-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        chmod(directory, 0o700)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func job(files: Int = 2) -> Job {
        var job = Job(id: .random(), type: .download, owner: 1001, displayName: "hostile", now: 1_700_000_000_000_000)
        for i in 0..<files {
            job.files.append(JobFile(remoteName: "http://example.test/\(i)", localName: "/tmp/o\(i)", temporaryName: "/tmp/t\(i)"))
        }
        return job
    }

    private func open(reported: inout [String]) throws -> JobStore.Opened {
        var lines: [String] = []
        defer { reported = lines }
        return try JobStore.open(stateDirectory: directory) { critical, line in if critical { lines.append(line) } }
    }

    private func execute(_ sql: String) throws {
        var ignored: [String] = []
        let store = try open(reported: &ignored).store
        try store.database.write { try $0.executeScript(sql) }
    }

    func testColumnsOfTheWrongTypeMakeOnlyTheirJobUnreadable() throws {
        var reported: [String] = []
        let store = try open(reported: &reported).store
        let good = job(), badActivity = job(), badIndex = job()
        for j in [good, badActivity, badIndex] { try store.save(j, activity: 5) }
        try execute("UPDATE job SET activity = 'soon' WHERE id = '\(badActivity.id.hex)'")
        try execute("UPDATE file SET idx = 'first' WHERE job_id = '\(badIndex.id.hex)' AND idx = 0")
        let opened = try open(reported: &reported)
        XCTAssertEqual(opened.jobs.map(\.job.id), [good.id])
        XCTAssertEqual(reported.count, 2, "\(reported)")
        XCTAssertEqual(try opened.store.count(), 3, "unreadable rows stay for a later version")
    }

    func testOutOfRangeNumbersAreClampedOrDropped() throws {
        var reported: [String] = []
        let store = try open(reported: &reported).store
        var extreme = job()
        extreme.creationTime = UInt64.max          // Int64(...) of this trapped when saving
        extreme.modificationTime = UInt64.max
        extreme.errorCount = UInt32.max
        extreme.files[0].bytesTotal = UInt64.max
        extreme.files[1].bytesTotal = UInt64.max
        extreme.files[0].bytesTransferred = UInt64.max
        extreme.files[1].bytesTransferred = 7
        extreme.lastError = JobError(context: .remoteFile, code: .http(500), description: "x", fileIndex: 7)
        try store.save(extreme, activity: UInt64.max)
        try execute("UPDATE job SET activity = -42")
        let opened = try open(reported: &reported)
        let loaded = try XCTUnwrap(opened.jobs.first)
        XCTAssertEqual(loaded.activity, 0, "a negative activity time reads as 0")
        XCTAssertEqual(loaded.job.creationTime, UInt64.max, "the document keeps the value")
        XCTAssertNil(loaded.job.lastError?.fileIndex, "an error file index beyond the files is dropped")
        XCTAssertEqual(loaded.job.bytesTotal, UInt64.max - 1, "sizes saturate and stay 'known'")
        XCTAssertEqual(loaded.job.bytesTransferred, UInt64.max, "progress saturates")
        XCTAssertTrue(reported.isEmpty, "\(reported)")
    }

    func testNegativeErrorFileIndexIsDropped() throws {
        var reported: [String] = []
        let store = try open(reported: &reported).store
        var j = job()
        j.lastError = JobError(context: .remoteFile, code: .http(404), description: "x", fileIndex: -3)
        try store.save(j, activity: 1)
        XCTAssertNil(try open(reported: &reported).jobs.first?.job.lastError?.fileIndex)
    }

    func testMalformedJobIDInTheDocumentIsUnreadable() throws {
        var reported: [String] = []
        let store = try open(reported: &reported).store
        let j = job()
        try store.save(j, activity: 1)
        // JobID.guid indexes 32 characters: a short hex must be refused when decoding.
        try execute("UPDATE job SET document = replace(document, '\(j.id.hex)', 'abc')")
        XCTAssertTrue(try open(reported: &reported).jobs.isEmpty)
        XCTAssertEqual(reported.count, 1)
        XCTAssertThrowsError(try JSONDecoder().decode(JobID.self, from: Data(#"{"hex":"abc"}"#.utf8)))
        XCTAssertThrowsError(try JSONDecoder().decode(JobID.self, from: Data(#"{"hex":"\#(String(repeating: "G", count: 32))"}"#.utf8)))
        XCTAssertEqual(try JSONDecoder().decode(JobID.self, from: JSONEncoder().encode(j.id)), j.id)
    }

    func testPendingTemporaryWithAnOwnerThatIsNoUIDIsSkipped() throws {
        var reported: [String] = []
        let store = try open(reported: &reported).store
        try store.recordPendingTemporaries([.init(path: "/tmp/ok", owner: 1000)])
        try execute("INSERT INTO pending_temporary (path, owner) VALUES ('/tmp/negative', -1)")
        try execute("INSERT INTO pending_temporary (path, owner) VALUES ('/tmp/huge', 1099511627776)")
        try execute("INSERT INTO pending_temporary (path, owner) VALUES ('/tmp/text', 'root')")
        XCTAssertEqual(try open(reported: &reported).pendingTemporaries, [.init(path: "/tmp/ok", owner: 1000)])
    }
}
