import BitsCore
import BitsSystem
import BitsStore
import BitsTransfer
import Foundation

extension QueueManager {
    /// How often the byte counts and validators of a running job are written (they are also
    /// written with every state change and finished file). After a crash of the process the
    /// bytes on disk are trusted up to the file's length, so this only bounds how old the
    /// validators (for If-Range) can be.
    static let progressCheckpointInterval = Duration.seconds(1)
    /// How often the file being downloaded is fsynced so that its `durableBytes` (what is
    /// trusted after a reboot or power loss) can advance; the first time at the first
    /// checkpoint with bytes on disk.
    static let durableCheckpointInterval = Duration.seconds(3)
    /// How soon after a response its validators are stored (see `handleResponse`): at once
    /// for a file of at least `largeFileSize` bytes (or of unknown size).
    static let validatorCheckpointDelay = Duration.milliseconds(250)
    static let largeFileSize: UInt64 = 1 << 20
    /// The `service_fact` holding the kernel's boot id of the run that last wrote the queue.
    static let bootIDFact = "boot-id"

    // MARK: - Writing

    /// Stores a job durably before a method that changed it returns; a failure (a full disk)
    /// fails the method and the in-memory job stays as it was.
    func persist(_ job: Job, settling: [String] = []) throws {
        let now = Self.now()
        defer { if inactivityTask == nil { cancelInactiveJobs() } }
        guard let store else {
            runtime[job.id]?.activity = now
            return
        }
        do {
            try store.save(job, activity: now, settling: settling)
        } catch {
            logger.error("job \(job.id) could not be stored: \(error)")
            throw ServiceError(.failed, "Job \(job.id) could not be stored (\(Self.describe(error))); nothing was changed.")
        }
        runtime[job.id]?.activity = now
        runtime[job.id]?.lastCheckpoint = clock.now
    }

    /// Stores a change the service made by itself (a transfer event). A failure is logged;
    /// the next change or checkpoint writes the job again.
    func persistQuietly(_ id: JobID) {
        guard let job = jobs[id], !job.state.isFinal else { return }
        try? persist(job)
    }

    /// Writes a running job's byte counts when the last write is older than the checkpoint
    /// interval (progress is not written on every engine report).
    func checkpointProgress(_ id: JobID) {
        guard store != nil, let rt = runtime[id], let last = rt.lastCheckpoint,
              last.duration(to: clock.now) >= Self.progressCheckpointInterval else { return }
        if !rt.syncingCheckpoint,
           rt.lastDurableCheckpoint.map({ $0.duration(to: clock.now) >= Self.durableCheckpointInterval }) ?? true {
            startDurableCheckpoint(id)
        }
        persistQuietly(id)
    }

    /// Fsyncs the file a job is downloading (on the file workers) and then records the bytes
    /// written before the fsync as durable: `durableBytes` never counts a byte that is not on
    /// disk, so after a reboot the file is cut there and resumed.
    private func startDurableCheckpoint(_ id: JobID) {
        guard let tid = runtime[id]?.transfer, let active = transfers[tid], !active.isReply,
              jobs[id]?.type == .download, let fd = active.descriptors.first,
              let file = jobs[id]?.files[active.fileIndex], file.bytesTransferred > (file.durableBytes ?? 0) else { return }
        let written = file.bytesTransferred
        guard let copy = try? BorrowedDescriptor(fd).duplicate().take() else { return }
        runtime[id]?.syncingCheckpoint = true
        runtime[id]?.lastDurableCheckpoint = clock.now
        let index = active.fileIndex
        Task { [weak self, fileWorkers] in
            let synced = await fileWorkers.run { () -> Bool in
                defer { FileDescriptor.close(copy) }
                return (try? FsyncFault.sync(BorrowedDescriptor(copy))) != nil
            }
            await self?.durableCheckpointDone(id, index: index, transfer: tid, written: written, synced: synced)
        }
    }

    private func durableCheckpointDone(_ id: JobID, index: Int, transfer tid: TransferID, written: UInt64, synced: Bool) {
        runtime[id]?.syncingCheckpoint = false
        // Still the same transfer writing on from `written` (a restart from 0 ends it).
        guard synced, transfers[tid] != nil, let file = jobs[id]?.files[index], file.bytesTransferred >= written,
              written > (file.durableBytes ?? 0) else { return }
        updateFile(id, index) { $0.durableBytes = written }
        persistQuietly(id)
    }

    /// Removes a job that reached a final state, after its files were dealt with.
    func forget(_ id: JobID) {
        do { try store?.delete(id) } catch { logger.error("job \(id) could not be removed from the database: \(error)") }
    }

    static func describe(_ error: Error) -> String {
        let text = "\(error)"
        return text.contains("SQLITE_FULL") || text.contains("database or disk is full") ? "the disk is full" : text
    }

    // MARK: - Start-up

    /// Takes over the stored queue at start-up, before the service takes calls:
    /// - jobs that were queued, connecting or transferring are queued again; suspended,
    ///   error and transferred jobs stay as they were; transient-error jobs retry after their
    ///   MinimumRetryDelay;
    /// - every unfinished file is reconciled with its temporary file (a shorter file on disk
    ///   wins; a missing one restarts that file from 0);
    /// - a Complete or Cancel cut short by a crash is finished (renames / deletes as the owner);
    /// - reply files of upload-reply jobs created but never stored are deleted;
    /// - jobs inactive for longer than JobInactivityTimeout are cancelled.
    ///
    /// `bootID` is the kernel's boot id now. When the queue was last written in the same boot,
    /// the daemon itself crashed (or was stopped): every byte it wrote is in the page cache
    /// and valid, so downloads resume from the length of their files on disk. After a reboot
    /// only `durableBytes` (fsynced before it was stored) is trusted and files are cut there.
    public func restore(_ opened: JobStore.Opened, bootID: String?) {
        store = opened.store
        let previousBoot = (try? opened.store.fact(Self.bootIDFact)) ?? nil
        let trust: DiskTrust = previousBoot == nil ? .storedProgress
            : (previousBoot == bootID ? .fileLength : .durableBytes)
        var referenced = Set<String>()
        for stored in opened.jobs {
            var job = stored.job
            for file in job.files { referenced.insert(file.temporaryName) }
            if let temporary = job.reply?.temporaryName { referenced.insert(temporary) }
            switch job.state {
            case .acknowledged:
                finishInterruptedComplete(job)
                continue
            case .cancelled:
                finishInterruptedCancel(job)
                continue
            default: break
            }
            reconcileFiles(of: &job, trusting: trust)
            if job.state.isActive { job.state = .queued }
            var rt = Runtime()
            rt.activity = stored.activity
            rt.lastCheckpoint = clock.now
            if job.state == .queued {
                rt.queuedSequence = nextQueueSequence
                nextQueueSequence += 1
            }
            jobs[job.id] = job
            runtime[job.id] = rt
            liveJobsByOwner[job.owner, default: 0] += 1
            liveJobs += 1
            if stored.job != job { persistQuietly(job.id) }
            observer?.jobRestored(job)
            if job.state == .transientError { armRetry(job.id, after: .seconds(Int64(job.minimumRetryDelay))) }
        }
        removeStrayTemporaries(opened.pendingTemporaries, referenced: referenced)
        if let bootID {
            do { try opened.store.setFact(Self.bootIDFact, bootID) } catch {
                logger.error("could not store the boot id: \(error)")
            }
        }
        logger.info("files reconciled trusting \(trust.rawValue) (boot id \(previousBoot == bootID ? "unchanged" : "changed"))")
        logger.info("restored \(jobs.count) job(s) from the database")
        cancelInactiveJobs()
        schedule()
    }

    /// What start-up trusts of an unfinished file on disk.
    enum DiskTrust: String {
        /// Same boot: the whole file (the process died, the page cache did not).
        case fileLength = "the files' lengths (same boot)"
        /// After a reboot: only what was fsynced before it was stored.
        case durableBytes = "only fsynced bytes (the machine restarted)"
        /// No boot id stored yet (a queue of an older version): the stored progress.
        case storedProgress = "the stored progress (no boot id stored)"
    }

    /// Reconciles the stored progress of each unfinished file with its file on disk: the
    /// file is cut to what `trust` allows and its progress is what remains.
    private func reconcileFiles(of job: inout Job, trusting trust: DiskTrust) {
        // An upload's "file on disk" is the user's source: never touched (the server's
        // received range decides where the upload continues).
        guard job.type == .download, let owner = try? identity(of: job.owner) else { return }
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
    /// was already renamed), partial files deleted, and the job leaves the database.
    private func finishInterruptedComplete(_ job: Job) {
        if let owner = try? identity(of: job.owner) {
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
        forget(job.id)
    }

    /// A Cancel that was cut short: its temporary files are deleted and the job is dropped.
    private func finishInterruptedCancel(_ job: Job) {
        if let owner = try? identity(of: job.owner) {
            for file in job.files where file.temporaryName != file.localName { files.remove(file.temporaryName, owner: owner, resolution: job.pathResolution) }
            if let temporary = job.reply?.temporaryName { files.remove(temporary, owner: owner, resolution: job.pathResolution) }
        }
        logger.info("job \(job.id): finished the Cancel that a restart interrupted")
        forget(job.id)
    }

    /// Deletes the pending temporary files (upload-reply replies) that no stored job refers to.
    private func removeStrayTemporaries(_ pending: [JobStore.PendingTemporary], referenced: Set<String>) {
        guard !pending.isEmpty else { return }
        for item in pending where !referenced.contains(item.path) {
            if let owner = try? identity(of: item.owner) {
                files.remove(item.path, owner: owner, resolution: .noSymlinks)
                logger.notice("removed stray temporary file \(item.path) that no job refers to")
            }
        }
        do { try store?.clearPendingTemporaries(pending.map(\.path)) } catch {
            logger.error("could not clear the pending temporary files: \(error)")
        }
    }

    /// Queues a job in transient-error again after `delay`.
    func armRetry(_ id: JobID, after delay: Duration) {
        runtime[id]?.retryTask?.cancel()
        runtime[id]?.retryTask = Task { [weak self] in
            try? await Task.sleep(for: delay)
            guard !Task.isCancelled else { return }
            await self?.retry(id)
        }
    }

    // MARK: - JobInactivityTimeout

    /// Cancels every job without progress or change for JobInactivityTimeout, then sleeps
    /// until the next job could reach it (one timer, no polling).
    func cancelInactiveJobs() {
        inactivityTask?.cancel()
        inactivityTask = nil
        let timeout = UInt64(config.jobInactivityTimeout) * 1_000_000
        guard timeout > 0 else { return }
        let now = Self.now()
        var nextDeadline: UInt64?
        for (id, job) in jobs where !job.state.isFinal {
            let activity = runtime[id]?.activity ?? job.modificationTime
            let deadline = activity.addingSaturating(timeout)
            if deadline <= now {
                cancelForInactivity(id)
            } else {
                nextDeadline = min(nextDeadline ?? deadline, deadline)
            }
        }
        guard let nextDeadline else { return }
        let wait = Duration.microseconds(Int64(min(nextDeadline - now, UInt64(Int64.max / 2))))
        inactivityTask = Task { [weak self] in
            try? await Task.sleep(for: wait)
            guard !Task.isCancelled else { return }
            await self?.cancelInactiveJobs()
        }
    }

    private func cancelForInactivity(_ id: JobID) {
        guard var job = jobs[id] else { return }
        stopTransfer(of: id)
        let changed = enter(.cancelled, job: &job)
        jobs[id] = job
        try? store?.save(job, activity: Self.now())  // a crash from here on finishes the Cancel
        observer?.jobChanged(job, properties: changed)
        if let owner = try? identity(of: job.owner) {
            let files = self.files
            let resolution = job.pathResolution
            let temporaries = job.files.filter { $0.temporaryName != $0.localName }.map(\.temporaryName)
            Task { [fileWorkers] in
                await fileWorkers.run { for path in temporaries { files.remove(path, owner: owner, resolution: resolution) } }
            }
        }
        logger.notice("job \(id) cancelled: no progress or change for JobInactivityTimeout (\(config.jobInactivityTimeout) s)")
        forget(id)
        retire(id)
    }
}
