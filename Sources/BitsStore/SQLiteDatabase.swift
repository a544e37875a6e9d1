import BitsSystem
import CSQLite

/// A value as SQLite holds it in a column (its storage class), never converted: reading a
/// column of another type than expected gives nil from the typed accessors, never a trap.
enum SQLiteValue: Equatable, Sendable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    /// The integer, if the value is one.
    var integer: Int64? { if case .integer(let value) = self { value } else { nil } }
    /// The text, if the value is text.
    var text: String? { if case .text(let value) = self { value } else { nil } }
}

/// A failure SQLite reported: its (extended) result code, its message and the SQL it ran.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public let sql: String?

    public var description: String {
        "SQLite error \(code): \(message)" + (sql.map { " - while executing `\($0)`" } ?? "")
    }

    /// The database is damaged (SQLITE_CORRUPT), as found by a check of our own.
    static func corrupt(_ message: String) -> SQLiteError { SQLiteError(code: SQLITE_CORRUPT, message: message, sql: nil) }
    /// A foreign key does not hold (SQLITE_CONSTRAINT_FOREIGNKEY), as found by a check of our own.
    static func foreignKeyViolation(_ message: String) -> SQLiteError {
        SQLiteError(code: SQLITE_CONSTRAINT | (3 << 8), // SQLITE_CONSTRAINT_FOREIGNKEY
                    message: message, sql: nil)
    }
}

/// One row of a result: the values of its columns, looked up by name.
struct SQLiteRow {
    let names: [String]
    let values: [SQLiteValue]

    /// The column's value; `.null` when there is no such column.
    subscript(_ name: String) -> SQLiteValue {
        guard let index = names.firstIndex(of: name) else { return .null }
        return values[index]
    }
}

/// One SQLite connection (the only file that calls SQLite's C API; see docs/architecture.md,
/// "C interop"). Every use holds a lock, so the connection is used by one thread at a time;
/// `read` and `write` run their body in one transaction. Statements with arguments are
/// prepared once and kept (`Connection.execute`, `Connection.rows`).
final class SQLiteDatabase: @unchecked Sendable {
    private let handle: OpaquePointer
    private let lock = ConditionLock()
    /// Prepared statements by their SQL, reset after each use.
    private var statements: [String: OpaquePointer] = [:]

    /// Opens (creating) the database at `path` in WAL mode; a busy database is waited for up
    /// to `busyTimeoutMs`. Throws when the file is not a database.
    init(path: String, busyTimeoutMs: Int32) throws {
        var opened: OpaquePointer?
        let code = sqlite3_open_v2(path, &opened, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        guard code == SQLITE_OK, let opened else {
            let message = opened.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(code))
            sqlite3_close_v2(opened)
            throw SQLiteError(code: code, message: message, sql: nil)
        }
        handle = opened
        sqlite3_extended_result_codes(handle, 1)
        sqlite3_busy_timeout(handle, busyTimeoutMs)
        // On a throw from here on, deinit closes the handle.
        let connection = Connection(database: self)
        // Reads the header: a file that is not a database fails here, not at first use.
        try connection.executeScript("SELECT * FROM sqlite_master LIMIT 1")
        let mode = try connection.column("PRAGMA journal_mode = WAL").first?.text
        guard mode?.lowercased() == "wal" else {
            throw SQLiteError(code: SQLITE_ERROR, message: "could not switch to WAL mode (journal mode \(mode ?? "unknown"))", sql: nil)
        }
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
    }

    /// Runs `body` in a read transaction (one consistent view of the database).
    func read<T>(_ body: (Connection) throws -> T) throws -> T {
        try lock.withLock { try inTransaction("BEGIN DEFERRED", body) }
    }

    /// Runs `body` in a write transaction: committed when it returns, rolled back when it throws.
    func write<T>(_ body: (Connection) throws -> T) throws -> T {
        try lock.withLock { try inTransaction("BEGIN IMMEDIATE", body) }
    }

    /// Runs `body` outside any transaction (PRAGMAs that cannot run in one; migrations).
    func writeWithoutTransaction<T>(_ body: (Connection) throws -> T) throws -> T {
        try lock.withLock { try body(Connection(database: self)) }
    }

    private func inTransaction<T>(_ begin: String, _ body: (Connection) throws -> T) throws -> T {
        let connection = Connection(database: self)
        try connection.executeScript(begin)
        do {
            let result = try body(connection)
            try connection.executeScript("COMMIT")
            return result
        } catch {
            // A failed COMMIT may have rolled back already; the original error is what counts.
            if sqlite3_get_autocommit(handle) == 0 { try? connection.executeScript("ROLLBACK") }
            throw error
        }
    }

    /// The connection while its lock is held (only inside `read`, `write` and
    /// `writeWithoutTransaction`).
    struct Connection {
        fileprivate let database: SQLiteDatabase

        /// Runs one statement with `arguments` bound to its `?` in order.
        func execute(_ sql: String, _ arguments: [SQLiteValue] = []) throws {
            try run(sql, arguments) { _ in }
        }

        /// Runs one statement and returns every row.
        func rows(_ sql: String, _ arguments: [SQLiteValue] = []) throws -> [SQLiteRow] {
            var rows: [SQLiteRow] = []
            try run(sql, arguments) { rows.append($0) }
            return rows
        }

        /// Runs one statement and hands each row to `body` as it is read.
        func forEachRow(_ sql: String, _ arguments: [SQLiteValue] = [], _ body: (SQLiteRow) throws -> Void) throws {
            try run(sql, arguments, body)
        }

        /// The first column of every row of one statement.
        func column(_ sql: String, _ arguments: [SQLiteValue] = []) throws -> [SQLiteValue] {
            try rows(sql, arguments).map { $0.values.first ?? .null }
        }

        /// Runs every statement of `script` (no arguments), e.g. a migration.
        func executeScript(_ script: String) throws {
            let handle = database.handle
            try script.withCString { start in
                var next: UnsafePointer<CChar>? = start
                while let current = next, current.pointee != 0 {
                    var statement: OpaquePointer?
                    var tail: UnsafePointer<CChar>?
                    let code = sqlite3_prepare_v2(handle, current, -1, &statement, &tail)
                    guard code == SQLITE_OK else { throw database.error(code, sql: script) }
                    next = tail
                    guard let statement else { continue }  // only whitespace or a comment was left
                    defer { sqlite3_finalize(statement) }
                    var step = sqlite3_step(statement)
                    while step == SQLITE_ROW { step = sqlite3_step(statement) }
                    guard step == SQLITE_DONE else { throw database.error(step, sql: script) }
                }
            }
        }

        private func run(_ sql: String, _ arguments: [SQLiteValue], _ body: (SQLiteRow) throws -> Void) throws {
            let statement = try database.prepared(sql)
            defer {
                sqlite3_reset(statement)
                sqlite3_clear_bindings(statement)
            }
            try database.bind(arguments, to: statement, sql: sql)
            let count = sqlite3_column_count(statement)
            var names: [String]?
            while true {
                let code = sqlite3_step(statement)
                if code == SQLITE_DONE { return }
                guard code == SQLITE_ROW else { throw database.error(code, sql: sql) }
                if names == nil {
                    names = (0..<count).map { sqlite3_column_name(statement, $0).map { String(cString: $0) } ?? "" }
                }
                try body(SQLiteRow(names: names ?? [], values: (0..<count).map { SQLiteDatabase.value(statement, $0) }))
            }
        }
    }

    /// The prepared statement for `sql` (one statement), preparing and keeping it on first use.
    private func prepared(_ sql: String) throws -> OpaquePointer {
        if let statement = statements[sql] { return statement }
        var statement: OpaquePointer?
        var tail: UnsafePointer<CChar>?
        let code = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, &tail)
        guard code == SQLITE_OK else { throw error(code, sql: sql) }
        guard let statement else { throw SQLiteError(code: SQLITE_MISUSE, message: "no statement", sql: sql) }
        if let tail, tail.pointee != 0, !String(cString: tail).allSatisfy(\.isWhitespace) {
            sqlite3_finalize(statement)
            throw SQLiteError(code: SQLITE_MISUSE, message: "more than one statement", sql: sql)
        }
        statements[sql] = statement
        return statement
    }

    private func bind(_ arguments: [SQLiteValue], to statement: OpaquePointer, sql: String) throws {
        guard Int(sqlite3_bind_parameter_count(statement)) == arguments.count else {
            throw SQLiteError(code: SQLITE_RANGE, message: "\(arguments.count) arguments for \(sqlite3_bind_parameter_count(statement)) parameters", sql: sql)
        }
        for (offset, argument) in arguments.enumerated() {
            let index = Int32(offset + 1)  // at most the parameter count, an Int32
            let code: Int32
            switch argument {
            case .null: code = sqlite3_bind_null(statement, index)
            case .integer(let value): code = sqlite3_bind_int64(statement, index, value)
            case .real(let value): code = sqlite3_bind_double(statement, index, value)
            case .text(let value):
                guard let length = Int32(exactly: value.utf8.count) else { throw SQLiteError(code: SQLITE_TOOBIG, message: "text too long", sql: sql) }
                code = sqlite3_bind_text(statement, index, value, length, bits_sqlite_transient())
            case .blob(let value):
                guard let length = Int32(exactly: value.count) else { throw SQLiteError(code: SQLITE_TOOBIG, message: "blob too long", sql: sql) }
                code = value.withUnsafeBytes { sqlite3_bind_blob(statement, index, $0.baseAddress, length, bits_sqlite_transient()) }
            }
            guard code == SQLITE_OK else { throw error(code, sql: sql) }
        }
    }

    /// Column `index` of the current row, as the storage class SQLite holds.
    private static func value(_ statement: OpaquePointer, _ index: Int32) -> SQLiteValue {
        switch sqlite3_column_type(statement, index) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(statement, index))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(statement, index))
        case SQLITE_TEXT:
            guard let text = sqlite3_column_text(statement, index) else { return .text("") }
            let count = Int(sqlite3_column_bytes(statement, index))
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(statement, index))
            guard count > 0, let bytes = sqlite3_column_blob(statement, index) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: bytes, count: count)))
        default: return .null
        }
    }

    private func error(_ code: Int32, sql: String?) -> SQLiteError {
        SQLiteError(code: code, message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }
}
