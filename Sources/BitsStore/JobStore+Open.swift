import BitsCore
import BitsSystem

extension JobStore {
    /// The queue as found at start-up.
    public struct Opened {
        public let store: JobStore
        public let jobs: [StoredJob]
        public let pendingTemporaries: [PendingTemporary]
    }

    /// Opens the queue in the state directory: checks the directory (see `StateDirectory`),
    /// opens and migrates the database, checks it and reads every job. A database that is
    /// corrupt or cannot be read is moved aside (`queue.sqlite.broken-<time>`) and the daemon
    /// starts with an empty queue instead of failing on every start. `log(critical, line)`
    /// receives what was fixed or moved. Throws only when even an empty queue cannot be made.
    public static func open(stateDirectory: String, log: (Bool, String) -> Void) throws -> Opened {
        for fix in try StateDirectory.prepare(stateDirectory, databaseFiles: fileNames) {
            log(false, "fixed: \(fix)")
        }
        let path = stateDirectory + "/" + fileName
        do {
            return try openAndLoad(directory: stateDirectory, log: log)
        } catch {
            let aside = path + ".broken-\(SystemClock.realtimeMicroseconds() / 1_000_000)"
            for suffix in ["", "-wal", "-shm"] where (try? SystemPaths.linkStatus(path + suffix)) != nil {
                try? SystemPaths.rename(path + suffix, to: aside + suffix)
            }
            log(true, "the queue database \(path) is corrupt or unreadable (\(error)); moved it aside to \(aside) and starting with an empty queue")
            return try openAndLoad(directory: stateDirectory, log: log)
        }
    }

    private static func openAndLoad(directory: String, log: (Bool, String) -> Void) throws -> Opened {
        let store = try JobStore(path: directory + "/" + fileName)
        try store.checkIntegrity()
        let jobs = try store.loadJobs { id, error in
            log(true, "stored job \(id) cannot be read (\(error)); it is left in the database and not loaded")
        }
        for name in fileNames { try? SystemPaths.setPermissions(directory + "/" + name, 0o600) }
        return Opened(store: store, jobs: jobs, pendingTemporaries: try store.pendingTemporaries())
    }
}
