extension JobStore {
    /// The schema, as an ordered list of migrations (identifier, SQL). Never edit a shipped
    /// migration: add one. An older database is upgraded in place when it is opened
    /// (`Tests/BitsStoreTests/Fixtures/queue-v1.sql` is a database of the first version).
    static let migrations: [(identifier: String, sql: String)] = {
        var migrations: [(identifier: String, sql: String)] = []
        // Version 1: jobs as JSON documents, files as rows keyed by (job, index).
        migrations.append(("v1-jobs-and-files", """
                CREATE TABLE job (
                    id TEXT PRIMARY KEY NOT NULL,      -- 32 hex digits (the object path element)
                    owner INTEGER NOT NULL,            -- uid
                    state TEXT NOT NULL,
                    created INTEGER NOT NULL,          -- microseconds since the epoch
                    document TEXT NOT NULL             -- the Job as JSON, without its files
                );
                CREATE TABLE file (
                    job_id TEXT NOT NULL REFERENCES job(id) ON DELETE CASCADE,
                    idx INTEGER NOT NULL,
                    document TEXT NOT NULL,            -- the JobFile as JSON
                    PRIMARY KEY (job_id, idx)
                );
                """))
        // Version 2: the activity time (JobInactivityTimeout) and the temporary files of
        // AddFile calls in progress (cleaned up after a crash).
        migrations.append(("v2-activity-and-pending-temporaries", """
                ALTER TABLE job ADD COLUMN activity INTEGER NOT NULL DEFAULT 0;
                UPDATE job SET activity = COALESCE(json_extract(document, '$.modificationTime'), created);
                CREATE INDEX job_by_owner ON job(owner);
                CREATE TABLE pending_temporary (
                    path TEXT PRIMARY KEY NOT NULL,
                    owner INTEGER NOT NULL
                );
                """))
        // Version 3: facts about the service's own run, e.g. the kernel's boot id of the run
        // that last wrote the queue (after a reboot only fsynced bytes are trusted).
        migrations.append(("v3-service-facts", """
                CREATE TABLE service_fact (
                    name TEXT PRIMARY KEY NOT NULL,
                    value TEXT NOT NULL
                );
                """))
        // Version 4: verified downloads. A file's expected digest (`ExpectedHash`) and the
        // SHA-256 of the completed file (`Hash`), as the contract's text ("" = none).
        migrations.append(("v4-file-hashes", """
                ALTER TABLE file ADD COLUMN expected_hash TEXT NOT NULL DEFAULT '';
                ALTER TABLE file ADD COLUMN hash TEXT NOT NULL DEFAULT '';
                """))
        return migrations
    }()

    /// The table of applied migrations. Its name and form are those GRDB's `DatabaseMigrator`
    /// used (the store's first versions), so their databases upgrade in place and the list
    /// stays readable by either.
    static let migrationsTable = "grdb_migrations"

    /// Applies the migrations not yet applied, in order, each in its own transaction with
    /// its identifier recorded. As GRDB did: foreign keys are off while a migration runs and
    /// checked in full before it commits. Identifiers this version does not know (a newer
    /// version's) are left alone.
    static func migrate(_ database: SQLiteDatabase) throws {
        try database.writeWithoutTransaction { db in
            try db.executeScript("CREATE TABLE IF NOT EXISTS \(migrationsTable) (identifier TEXT NOT NULL PRIMARY KEY)")
        }
        let applied = Set(try database.read { db in
            try db.column("SELECT identifier FROM \(migrationsTable)").compactMap(\.text)
        })
        let pending = migrations.filter { !applied.contains($0.identifier) }
        guard !pending.isEmpty else { return }
        try database.writeWithoutTransaction { db in try db.executeScript("PRAGMA foreign_keys = OFF") }
        defer { _ = try? database.writeWithoutTransaction { db in try db.executeScript("PRAGMA foreign_keys = ON") } }
        for migration in pending {
            try database.write { db in
                try db.executeScript(migration.sql)
                try db.execute("INSERT INTO \(migrationsTable) (identifier) VALUES (?)", [.text(migration.identifier)])
                let violations = try db.rows("PRAGMA foreign_key_check")
                guard violations.isEmpty else {
                    throw SQLiteError.foreignKeyViolation( "migration \(migration.identifier) leaves \(violations.count) foreign key violation(s)")
                }
            }
        }
    }
}
