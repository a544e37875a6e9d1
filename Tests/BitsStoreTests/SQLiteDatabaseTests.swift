import Foundation
import XCTest
@testable import BitsStore

/// The SQLite wrapper under the store: transactions, typed values, errors instead of traps,
/// and the migrations table shared with GRDB's migrator.
final class SQLiteDatabaseTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "sqlite-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func database() throws -> SQLiteDatabase {
        try SQLiteDatabase(path: directory + "/test.sqlite", busyTimeoutMs: 100)
    }

    func testValuesComeBackAsTheirStorageClass() throws {
        let db = try database()
        let values: [SQLiteValue] = [.null, .integer(Int64.min), .real(1.5), .text("ä\u{0}b"), .blob([0, 255])]
        let rows = try db.write { c in
            try c.executeScript("CREATE TABLE t (v)")
            for value in values { try c.execute("INSERT INTO t (v) VALUES (?)", [value]) }
            return try c.column("SELECT v FROM t ORDER BY rowid")
        }
        XCTAssertEqual(rows, values)
        XCTAssertNil(SQLiteValue.text("7").integer, "no conversion between storage classes")
        XCTAssertEqual(try db.read { try $0.rows("SELECT 1 AS one")[0]["one"] }, .integer(1))
        XCTAssertEqual(try db.read { try $0.rows("SELECT 1 AS one")[0]["two"] }, .null, "an unknown column is NULL")
    }

    func testAThrowingWriteRollsBack() throws {
        let db = try database()
        try db.write { try $0.executeScript("CREATE TABLE t (v INTEGER)") }
        struct Stop: Error {}
        XCTAssertThrowsError(try db.write { c in
            try c.execute("INSERT INTO t (v) VALUES (?)", [.integer(1)])
            throw Stop()
        })
        XCTAssertEqual(try db.read { try $0.column("SELECT COUNT(*) FROM t") }, [.integer(0)])
        // The connection is usable again afterwards.
        try db.write { try $0.execute("INSERT INTO t (v) VALUES (?)", [.integer(2)]) }
        XCTAssertEqual(try db.read { try $0.column("SELECT v FROM t") }, [.integer(2)])
    }

    func testMisuseIsAnErrorNotATrap() throws {
        let db = try database()
        try db.write { try $0.executeScript("CREATE TABLE t (v INTEGER PRIMARY KEY)") }
        XCTAssertThrowsError(try db.write { try $0.execute("INSERT INTO t (v) VALUES (?)", []) }) { error in
            XCTAssertTrue("\(error)".contains("0 arguments for 1 parameters"), "\(error)")
        }
        XCTAssertThrowsError(try db.write { try $0.execute("SELECT 1; SELECT 2") })
        XCTAssertThrowsError(try db.write { try $0.execute("SELEKT 1") }) { error in
            XCTAssertTrue("\(error)".contains("SELEKT"), "the SQL is in the message: \(error)")
        }
        try db.write { try $0.execute("INSERT INTO t (v) VALUES (?)", [.integer(1)]) }
        XCTAssertThrowsError(try db.write { try $0.execute("INSERT INTO t (v) VALUES (?)", [.integer(1)]) }) { error in
            XCTAssertEqual((error as? SQLiteError)?.code, 1555, "SQLITE_CONSTRAINT_PRIMARYKEY (extended codes)")
        }
    }

    func testAFileThatIsNoDatabaseIsRefusedAtOpen() throws {
        let path = directory + "/test.sqlite"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(repeating: 0x41, count: 4096)))
        XCTAssertThrowsError(try database()) { error in
            XCTAssertEqual((error as? SQLiteError)?.code, 26, "SQLITE_NOTADB: \(error)")
        }
    }

    func testMigrationsOfANewerVersionAreLeftAlone() throws {
        let path = directory + "/" + JobStore.fileName
        do {
            let db = try SQLiteDatabase(path: path, busyTimeoutMs: 100)
            try JobStore.migrate(db)
            try db.write { try $0.execute("INSERT INTO grdb_migrations (identifier) VALUES (?)", [.text("v99-future")]) }
        }
        let store = try JobStore(path: path)
        let applied = try store.database.read { try $0.column("SELECT identifier FROM grdb_migrations ORDER BY 1") }
        XCTAssertEqual(applied.compactMap(\.text), (JobStore.migrations.map(\.identifier) + ["v99-future"]).sorted())
        XCTAssertEqual(try store.database.read { try $0.column("PRAGMA foreign_keys") }, [.integer(1)])
    }

    func testParentDirectory() {
        XCTAssertEqual(StateDirectory.parentDirectory(of: "/var/lib/bits"), "/var/lib")
        XCTAssertEqual(StateDirectory.parentDirectory(of: "/var/lib/bits/"), "/var/lib")
        XCTAssertEqual(StateDirectory.parentDirectory(of: "/bits"), "/")
        XCTAssertEqual(StateDirectory.parentDirectory(of: "bits"), "")
        XCTAssertEqual(StateDirectory.parentDirectory(of: "a/b"), "a")
    }
}
