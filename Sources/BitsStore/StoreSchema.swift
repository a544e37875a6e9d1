import GRDB

extension JobStore {
    /// The schema, as an ordered list of migrations. Never edit a shipped migration: add one.
    /// An older database is upgraded in place when it is opened
    /// (`Tests/BitsStoreTests/Fixtures/queue-v1.sql` is a database of the first version).
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        // Version 1: jobs as JSON documents, files as rows keyed by (job, index).
        migrator.registerMigration("v1-jobs-and-files") { db in
            try db.execute(sql: """
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
                """)
        }
        // Version 2: the activity time (JobInactivityTimeout) and the temporary files of
        // AddFile calls in progress (cleaned up after a crash).
        migrator.registerMigration("v2-activity-and-pending-temporaries") { db in
            try db.execute(sql: """
                ALTER TABLE job ADD COLUMN activity INTEGER NOT NULL DEFAULT 0;
                UPDATE job SET activity = COALESCE(json_extract(document, '$.modificationTime'), created);
                CREATE INDEX job_by_owner ON job(owner);
                CREATE TABLE pending_temporary (
                    path TEXT PRIMARY KEY NOT NULL,
                    owner INTEGER NOT NULL
                );
                """)
        }
        // Version 3: facts about the service's own run, e.g. the kernel's boot id of the run
        // that last wrote the queue (after a reboot only fsynced bytes are trusted).
        migrator.registerMigration("v3-service-facts") { db in
            try db.execute(sql: """
                CREATE TABLE service_fact (
                    name TEXT PRIMARY KEY NOT NULL,
                    value TEXT NOT NULL
                );
                """)
        }
        // Version 4: verified downloads. A file's expected digest (`ExpectedHash`) and the
        // SHA-256 of the completed file (`Hash`), as the contract's text ("" = none).
        migrator.registerMigration("v4-file-hashes") { db in
            try db.execute(sql: """
                ALTER TABLE file ADD COLUMN expected_hash TEXT NOT NULL DEFAULT '';
                ALTER TABLE file ADD COLUMN hash TEXT NOT NULL DEFAULT '';
                """)
        }
        return migrator
    }
}
