import BitsCore
import BitsStore
import Logging

/// What start-up trusts of an unfinished file on disk.
enum DiskTrust: String, Sendable {
    /// Same boot: the whole file (the process died, the page cache did not).
    case fileLength = "the files' lengths (same boot)"
    /// After a reboot: only what was fsynced before it was stored.
    case durableBytes = "only fsynced bytes (the machine restarted)"
    /// No boot id stored yet (a queue of an older version): the stored progress.
    case storedProgress = "the stored progress (no boot id stored)"
}

/// Start-up's file work on the stored queue, as the owners. It blocks on users' file systems,
/// so the queue manager runs it on the file workers (`QueueManager.restore`), then takes over
/// the jobs it returns:
/// - every unfinished file of a download is reconciled with its temporary file (cut to what
///   `trust` allows; a missing one restarts that file from 0; a finished file that is missing
///   or changed is fetched again);
/// - a Complete or Cancel cut short by a crash is finished (renames / deletes);
/// - reply files of upload-reply jobs created but never stored are deleted.
struct StartupReconciler: Sendable {
    let files: any OwnerFileAccess
    let trust: DiskTrust
    let logger: Logger

    /// What became of the stored queue.
    struct Outcome: Sendable {
        /// The jobs to take over, reconciled with their files, with their stored form.
        var jobs: [(stored: JobStore.StoredJob, job: Job)] = []
        /// Jobs whose interrupted Complete or Cancel was finished: they leave the database.
        var finished: [JobID] = []
    }

    func run(_ stored: [JobStore.StoredJob], pending: [JobStore.PendingTemporary]) -> Outcome {
        var owners: [UInt32: OwnerIdentity?] = [:]
        func owner(_ uid: UInt32) -> OwnerIdentity? {
            if let known = owners[uid] { return known }
            let identity = try? files.identity(of: uid)
            owners[uid] = identity
            return identity
        }
        var outcome = Outcome()
        var referenced = Set<String>()
        for item in stored {
            var job = item.job
            for file in job.files { referenced.insert(file.temporaryName) }
            if let temporary = job.reply?.temporaryName { referenced.insert(temporary) }
            switch job.state {
            case .acknowledged:
                finishInterruptedComplete(job, owner: owner(job.owner))
                outcome.finished.append(job.id)
            case .cancelled:
                finishInterruptedCancel(job, owner: owner(job.owner))
                outcome.finished.append(job.id)
            default:
                if job.type == .download, let identity = owner(job.owner) { reconcileFiles(of: &job, owner: identity) }
                outcome.jobs.append((item, job))
            }
        }
        for item in pending where !referenced.contains(item.path) {
            if let identity = owner(item.owner) {
                files.remove(item.path, owner: identity, resolution: .noSymlinks)
                logger.notice("removed stray temporary file \(item.path) that no job refers to")
            }
        }
        return outcome
    }

    /// Reconciles the stored progress of each unfinished file with its file on disk: the
    /// file is cut to what `trust` allows and its progress is what remains. (An upload's
    /// "file on disk" is the user's source: never touched; the server's received range decides
    /// where the upload continues.)
    func reconcileFiles(of job: inout Job, owner: OwnerIdentity) {
        for index in job.files.indices {
            let file = job.files[index]
            let keeping: UInt64
            switch trust {
            case _ where file.completed: keeping = .max
            // Bytes beyond the stored progress are of use only with validators to resume with.
            case .fileLength: keeping = file.entityTag != nil || file.lastModifiedText != nil
                ? file.bytesTotal ?? .max : file.bytesTransferred
            case .durableBytes: keeping = file.durableBytes ?? 0
            case .storedProgress: keeping = file.bytesTransferred
            }
            let onDisk = files.reconcileTemporary(file.temporaryName, keeping: keeping,
                                                  owner: owner, resolution: job.pathResolution)
            if file.completed {
                // A finished file must still be whole; otherwise it is fetched again.
                if onDisk == nil || (file.bytesTotal.map { onDisk != $0 } ?? false) {
                    logger.notice("job \(job.id): finished file \(index) is missing or changed on disk; it is fetched again")
                    job.files[index].restart()
                }
            } else if let length = onDisk {
                job.files[index].bytesTransferred = min(length, keeping)
                job.files[index].durableBytes = file.durableBytes.map { min($0, length) }
            } else {
                job.files[index].bytesTransferred = 0
                job.files[index].durableBytes = nil
            }
        }
    }

    /// A Complete that was cut short: the renames are redone (a temporary file that is gone
    /// was already renamed) and partial files deleted.
    private func finishInterruptedComplete(_ job: Job, owner: OwnerIdentity?) {
        if let owner {
            for file in job.files where file.temporaryName != file.localName {
                if file.completed {
                    try? files.commit(temporary: file.temporaryName, to: file.localName, pinned: file.directory, owner: owner,
                                      resolution: job.pathResolution)
                } else {
                    files.remove(file.temporaryName, owner: owner, resolution: job.pathResolution)
                }
            }
            if let reply = job.reply, reply.done, let temporary = reply.temporaryName {
                try? files.commit(temporary: temporary, to: reply.fileName, pinned: reply.directory, owner: owner,
                                  resolution: job.pathResolution)
            }
            files.syncDirectories(of: job.files.filter(\.completed).map(\.localName), owner: owner,
                                  resolution: job.pathResolution)
        }
        logger.info("job \(job.id): finished the Complete that a restart interrupted")
    }

    /// A Cancel that was cut short: its temporary files are deleted.
    private func finishInterruptedCancel(_ job: Job, owner: OwnerIdentity?) {
        if let owner {
            for file in job.files where file.temporaryName != file.localName {
                files.remove(file.temporaryName, owner: owner, resolution: job.pathResolution)
            }
            if let temporary = job.reply?.temporaryName { files.remove(temporary, owner: owner, resolution: job.pathResolution) }
        }
        logger.info("job \(job.id): finished the Cancel that a restart interrupted")
    }
}
