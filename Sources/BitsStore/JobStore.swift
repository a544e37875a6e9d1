import BitsCore
import FoundationEssentials

/// The durable queue: every job (settings, secrets, last error) and every file (names,
/// validators, byte offsets) in one SQLite database, `queue.sqlite` in the state directory.
///
/// A job row holds the job as a JSON document (without its files) plus the columns the
/// daemon queries; each file is its own row keyed by (job, index), so a file cannot be stored
/// twice. Every write is one transaction in WAL mode with `synchronous=FULL`: when a method
/// returns, the change is on disk. Writes skip rows whose document did not change since the
/// last successful commit, so a 200-file job's Set costs one row.
///
/// Not thread-safe by itself: writes (and what is kept of the last commit to diff against)
/// belong to one thread at a time — the queue manager's store writer (`StoreWriter`), after
/// start-up has loaded the queue. Reads and writes take the connection's lock
/// (`SQLiteDatabase`).
public final class JobStore: @unchecked Sendable {
    /// What is stored about a job besides the job itself.
    public struct StoredJob: Sendable {
        public var job: Job
        /// Microseconds since the epoch of the last change or progress (JobInactivityTimeout).
        public var activity: UInt64
        public init(job: Job, activity: UInt64) {
            self.job = job
            self.activity = activity
        }
    }

    /// A temporary file being created by an AddFile that has not committed yet. At start-up
    /// those no job refers to are strays of a crash and are deleted.
    public struct PendingTemporary: Sendable, Equatable {
        public let path: String
        public let owner: UInt32
        public init(path: String, owner: UInt32) {
            self.path = path
            self.owner = owner
        }
    }

    public static let fileName = "queue.sqlite"
    /// The database and the files SQLite keeps beside it.
    public static let fileNames = [fileName, fileName + "-wal", fileName + "-shm"]

    let database: SQLiteDatabase
    /// Jobs (without files) and files as last committed, to write only what changed;
    /// compared as values, so an unchanged file is not even encoded.
    private var committedJobs: [JobID: Job] = [:]
    private var committedFiles: [JobID: [JobFile]] = [:]
    private let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()

    /// Opens (creating or migrating) the database at `path`.
    public init(path: String) throws {
        database = try SQLiteDatabase(path: path, busyTimeoutMs: 5000)
        // A reply must mean "on disk".
        try database.writeWithoutTransaction { db in
            try db.executeScript("PRAGMA synchronous = FULL")
            try db.executeScript("PRAGMA foreign_keys = ON")
        }
        try Self.migrate(database)
    }

    /// The `synchronous` setting in force (2 = FULL).
    public func synchronousMode() throws -> Int {
        try database.read { db in try db.column("PRAGMA synchronous").first?.integer.flatMap { Int(exactly: $0) } ?? -1 }
    }

    /// Runs SQLite's own consistency check; throws when the database is damaged.
    public func checkIntegrity() throws {
        let result = try database.read { db in try db.column("PRAGMA quick_check").map { $0.text ?? "?" } }
        guard result == ["ok"] else {
            throw SQLiteError.corrupt(result.prefix(3).joined(separator: "; "))
        }
    }

    // MARK: - Reading

    /// Every stored job with its files, oldest first. A row whose document cannot be decoded
    /// is reported through `unreadable` and left in place.
    ///
    /// Every column is read as the value SQLite holds and checked (`SQLiteValue.integer`,
    /// `.text`), never converted: a value of the wrong type or out of range (a damaged or
    /// edited database) makes its job unreadable instead of stopping the daemon at every start.
    public func loadJobs(unreadable: (String, Error) -> Void = { _, _ in }) throws -> [StoredJob] {
        try database.read { db in
            var filesByJob: [String: [(Int, String, String?, String?)]] = [:]
            try db.forEachRow("SELECT job_id, idx, document, expected_hash, hash FROM file ORDER BY job_id, idx") { row in
                guard let jobID = row["job_id"].text else { return }
                // An unreadable index or document makes the job unreadable (indices checked below).
                let index = row["idx"].integer.flatMap { Int(exactly: $0) } ?? -1
                let document = row["document"].text ?? ""
                filesByJob[jobID, default: []].append((index, document, row["expected_hash"].text, row["hash"].text))
            }
            var result: [StoredJob] = []
            for row in try db.rows("SELECT id, document, activity FROM job ORDER BY created, id") {
                let id = row["id"].text ?? "(unreadable id)"
                do {
                    guard let jobDocument = row["document"].text, let activity = row["activity"].integer else {
                        throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "the document or activity of job \(id) is not of its type"))
                    }
                    var job = try JSONDecoder().decode(Job.self, from: Data(jobDocument.utf8))
                    let fileDocuments = filesByJob[id] ?? []
                    guard fileDocuments.map(\.0) == Array(0..<fileDocuments.count) else {
                        throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "file indices of job \(id) are not 0..<\(fileDocuments.count)"))
                    }
                    committedJobs[job.id] = job
                    job.files = try fileDocuments.map { entry in
                        var file = try JSONDecoder().decode(JobFile.self, from: Data(entry.1.utf8))
                        file.expectedHash = try Self.hashColumn(entry.2, "expected_hash", job: id)
                        file.hash = try Self.hashColumn(entry.3, "hash", job: id)
                        return file
                    }
                    committedFiles[job.id] = job.files
                    // The error's file must be one of the job's files (it becomes an object path).
                    if let index = job.lastError?.fileIndex, !job.files.indices.contains(index) {
                        job.lastError?.fileIndex = nil
                    }
                    result.append(StoredJob(job: job, activity: UInt64(max(0, activity))))
                } catch {
                    unreadable(id, error)
                }
            }
            return result
        }
    }

    /// A hash column's text as a hash ("" = none); one that is not text or not a valid hash
    /// makes its job unreadable.
    static func hashColumn(_ text: String?, _ name: String, job: String) throws -> FileHash? {
        guard let text else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "the \(name) of a file of job \(job) is not text"))
        }
        do {
            return try FileHash.parseExpected(text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "the \(name) of a file of job \(job) is not a hash"))
        }
    }

    /// Temporary files whose AddFile did not commit. A row whose owner is not a uid (or whose
    /// path is not text) is skipped: nobody could delete its file as its owner.
    public func pendingTemporaries() throws -> [PendingTemporary] {
        try database.read { db in
            try db.rows("SELECT path, owner FROM pending_temporary ORDER BY path").compactMap { row in
                guard let path = row["path"].text, let owner = row["owner"].integer,
                      let uid = UInt32(exactly: owner) else { return nil }
                return PendingTemporary(path: path, owner: uid)
            }
        }
    }

    /// A fact about the service's own run (`service_fact`), nil when none is stored.
    public func fact(_ name: String) throws -> String? {
        try database.read { db in
            try db.column("SELECT value FROM service_fact WHERE name = ?", [.text(name)]).first?.text
        }
    }

    /// Stores a fact about the service's own run, durably.
    public func setFact(_ name: String, _ value: String) throws {
        try apply([.setFact(name, value)])
    }

    // MARK: - Writing

    /// Stores the job and its files (only the rows that changed), its activity time, and
    /// forgets `settled` pending temporaries — all in one transaction.
    public func save(_ job: Job, activity: UInt64, settling settled: [String] = []) throws {
        try apply([.save(job, activity: activity, settling: settled)])
    }

    /// Applies `batch` in order in ONE transaction (one fsync): all of it is on disk when
    /// this returns, or none of it when it throws. The store writer (the queue manager's
    /// `StoreWriter`) groups the writes of concurrent calls into one batch this way.
    ///
    /// What was last committed (`committedJobs`, `committedFiles`) changes only once the
    /// transaction committed; within the batch a later save of a job diffs against the
    /// earlier one.
    public func apply(_ batch: [StoreWrite]) throws {
        guard !batch.isEmpty else { return }
        // What the batch commits, over what was committed before (nil: deleted).
        var jobsAfter: [JobID: Job?] = [:]
        var filesAfter: [JobID: [JobFile]?] = [:]
        func previousFiles(_ id: JobID) -> [JobFile] {
            if let overlaid = filesAfter[id] { return overlaid ?? [] }
            return committedFiles[id] ?? []
        }
        try database.write { db in
            for item in batch {
                switch item {
                case .save(let job, let activity, let settled):
                    var header = job
                    header.files = []
                    header.transferRate = .idle  // not stored
                    let jobDocument = try document(header)
                    let previous = previousFiles(job.id)
                    let id = job.id.hex
                    // Prepared once (`SQLiteDatabase` keeps its statements): a 200-file job
                    // would otherwise have SQLite parse the same upsert 200 times.
                    try db.execute("""
                        INSERT INTO job (id, owner, state, created, document, activity) VALUES (?, ?, ?, ?, ?, ?)
                        ON CONFLICT(id) DO UPDATE SET owner = excluded.owner, state = excluded.state,
                            document = excluded.document, activity = excluded.activity
                        """, [.text(id), .integer(Int64(job.owner)), .text(job.state.rawValue),
                              .integer(Int64(clamping: job.creationTime)), .text(jobDocument), .integer(Int64(clamping: activity))])
                    for index in job.files.indices
                    where !(index < previous.count && previous[index] == job.files[index]) {
                        let file = job.files[index]
                        try db.execute("""
                            INSERT INTO file (job_id, idx, document, expected_hash, hash) VALUES (?, ?, ?, ?, ?)
                            ON CONFLICT(job_id, idx) DO UPDATE SET document = excluded.document,
                                expected_hash = excluded.expected_hash, hash = excluded.hash
                            """, [.text(id), .integer(Int64(index)), .text(try document(file)),
                                  .text(file.expectedHash?.text ?? ""), .text(file.hash?.text ?? "")])
                    }
                    if previous.count > job.files.count {
                        try db.execute("DELETE FROM file WHERE job_id = ? AND idx >= ?", [.text(id), .integer(Int64(job.files.count))])
                    }
                    for path in settled {
                        try db.execute("DELETE FROM pending_temporary WHERE path = ?", [.text(path)])
                    }
                    jobsAfter[job.id] = .some(header)
                    filesAfter[job.id] = .some(job.files)
                case .delete(let id):
                    try db.execute("DELETE FROM file WHERE job_id = ?", [.text(id.hex)])
                    try db.execute("DELETE FROM job WHERE id = ?", [.text(id.hex)])
                    jobsAfter[id] = .some(nil)
                    filesAfter[id] = .some(nil)
                case .recordPendingTemporaries(let pending):
                    for item in pending {
                        try db.execute("INSERT OR REPLACE INTO pending_temporary (path, owner) VALUES (?, ?)",
                                       [.text(item.path), .integer(Int64(item.owner))])
                    }
                case .clearPendingTemporaries(let paths):
                    for path in paths {
                        try db.execute("DELETE FROM pending_temporary WHERE path = ?", [.text(path)])
                    }
                case .setFact(let name, let value):
                    try db.execute("INSERT INTO service_fact(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                                   [.text(name), .text(value)])
                }
            }
        }
        for (id, job) in jobsAfter { committedJobs[id] = job }
        for (id, files) in filesAfter { committedFiles[id] = files }
    }

    /// Whether `save` would write anything besides the activity time.
    public func hasChanges(_ job: Job) -> Bool {
        var header = job
        header.files = []
        header.transferRate = .idle  // not stored
        return committedJobs[job.id] != header || committedFiles[job.id] != job.files
    }

    /// The JSON text stored for a job or file (keys sorted, so equal values give equal text).
    private func document(_ value: some Encodable) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Records temporary files about to be created (before they exist).
    public func recordPendingTemporaries(_ pending: [PendingTemporary]) throws {
        guard !pending.isEmpty else { return }
        try apply([.recordPendingTemporaries(pending)])
    }

    /// Forgets pending temporaries (created and then removed again, or cleaned up).
    public func clearPendingTemporaries(_ paths: [String]) throws {
        guard !paths.isEmpty else { return }
        try apply([.clearPendingTemporaries(paths)])
    }

    /// Removes a job and its files from the database.
    public func delete(_ id: JobID) throws {
        try apply([.delete(id)])
    }

    /// Number of stored jobs.
    public func count() throws -> Int {
        try database.read { db in try db.column("SELECT COUNT(*) FROM job").first?.integer.flatMap { Int(exactly: $0) } ?? 0 }
    }
}

/// One write to the durable queue; `JobStore.apply` applies a batch of them in one transaction.
public enum StoreWrite: Sendable {
    /// The job and its files (only the rows that changed), its activity time, and the
    /// pending temporaries it settles.
    case save(Job, activity: UInt64, settling: [String])
    /// The job and its files go.
    case delete(JobID)
    case recordPendingTemporaries([JobStore.PendingTemporary])
    case clearPendingTemporaries([String])
    case setFact(String, String)

    /// The job the write is about, if any.
    public var jobID: JobID? {
        switch self {
        case .save(let job, _, _): job.id
        case .delete(let id): id
        default: nil
        }
    }
}
