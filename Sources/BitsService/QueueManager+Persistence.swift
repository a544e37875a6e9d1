import BitsCore
import BitsSystem
import BitsStore
import BitsTransfer

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
    /// fails the method and the in-memory job stays as it was. The write goes through the
    /// store writer (grouped with the writes pending meanwhile) and the caller suspends until
    /// it is on disk: state may change across this await.
    func persistDurably(_ job: Job, settling: [String] = []) async throws {
        let now = wallNow()
        defer { if inactivityTask == nil { cancelInactiveJobs() } }
        if let writer = store {
            do { try await writer.write(.save(job, activity: now, settling: settling)) } catch { throw storeFailure(job.id, error) }
        }
        recordStored(job.id, at: now)
    }

    // MARK: - Client methods' writes

    /// Runs a client method that changes job `id` in the job's write turn (`ClientWrites`):
    /// one such method per job at a time, in the order they came; the service's own writes of
    /// the job are held meanwhile and written when `body` ends.
    func withClientWrite<T>(_ id: JobID, _ body: () async throws -> T) async throws -> T {
        if !clientWrites.begin(id) {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                clientWrites.wait(id, continuation)
            }
        }
        defer { endClientWrite(id) }
        return try await body()
    }

    /// Ends job `id`'s write turn: writes what the service held back meanwhile (the job as it
    /// is now, then its removal) and hands the turn to the next method waiting.
    private func endClientWrite(_ id: JobID) {
        let (held, next) = clientWrites.end(id)
        if held.save, let job = table[id]?.job { submitSave(job, settling: held.settling) }
        if held.delete { submitDelete(id) }
        next?.resume()
    }

    /// After a job was stored (or there is no store): its activity time, and the checkpoint
    /// clock when there is a store.
    func recordStored(_ id: JobID, at now: UInt64) {
        table[id]?.runtime.activity = now
        if store != nil { table[id]?.runtime.lastCheckpoint = clock.now }
    }

    private func storeFailure(_ id: JobID, _ error: any Error) -> ServiceError {
        logger.error("job \(id) could not be stored: \(error)")
        return ServiceError(.failed, "Job \(id) could not be stored (\(Self.describe(error))); nothing was changed.")
    }

    /// Stores a change the service made by itself (a transfer event), without waiting: the
    /// store writer writes it with the next group. A failure is logged; the next change or
    /// checkpoint writes the job again.
    func persistQuietly(_ id: JobID) {
        guard let job = table[id]?.job, !job.state.isFinal else { return }
        enqueue(job)
    }

    /// Stores job `id` and only then runs `next`, without blocking this actor: an upload
    /// session's state before its next packet is sent, a finished reply before Close-Session
    /// (after which the server may drop the reply). The write takes the job's write turn
    /// (`withClientWrite`), so it waits for a client method's write in flight and holds the
    /// service's others. Meanwhile the job's transfer is a step in flight (`beginStep`): the
    /// scheduler leaves it alone, and `next` runs only if the step is still wanted (`endStep`:
    /// not stopped, settings unchanged). A failed write is logged and the step goes on (the
    /// next change writes the job again).
    func storeThen(_ id: JobID, _ next: @escaping @Sendable (isolated QueueManager) -> Void) {
        guard store != nil, table[id]?.job.state.isFinal == false else { return next(self) }
        let step = beginStep(id)
        Task { [weak self] in
            guard let self else { return }
            await self.storeInTurn(id)
            await self.run { manager in if manager.endStep(id, step) { next(manager) } }
        }
    }

    private func storeInTurn(_ id: JobID) async {
        _ = try? await withClientWrite(id) {
            guard let job = table[id]?.job, !job.state.isFinal else { return }
            do { try await persistDurably(job) } catch { logger.error("job \(id) could not be stored: \(error)") }
        }
    }

    /// Records a temporary file about to be created, awaiting the store: start-up deletes it
    /// unless a job refers to it by then.
    func recordPendingTemporary(_ path: String, owner: UInt32) async throws {
        try await store?.write(.recordPendingTemporaries([.init(path: path, owner: owner)]))
    }

    /// Queues a write of `job` (any state) without waiting for it (held while a client
    /// method's write of the job is in flight, see `ClientWrites`).
    func enqueue(_ job: Job, settling: [String] = []) {
        defer { if inactivityTask == nil { cancelInactiveJobs() } }
        if clientWrites.holdSave(job.id, settling: settling) {
            table[job.id]?.runtime.activity = wallNow()
            return
        }
        submitSave(job, settling: settling)
    }

    /// Queues a write of `job` now.
    private func submitSave(_ job: Job, settling: [String]) {
        let now = wallNow()
        table[job.id]?.runtime.activity = now
        guard let writer = store else { return }
        let logger = self.logger
        writer.submit(.save(job, activity: now, settling: settling)) { error in
            if let error { logger.error("job \(job.id) could not be stored: \(error)") }
        }
        table[job.id]?.runtime.lastCheckpoint = clock.now
    }

    /// Writes a running job's byte counts when the last write is older than the checkpoint
    /// interval (progress is not written on every engine report).
    func checkpointProgress(_ id: JobID) {
        guard store != nil, let rt = table[id]?.runtime, let last = rt.lastCheckpoint,
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
        guard let tid = table[id]?.runtime.requests.current, let active = transfers[tid], !active.isReply,
              table[id]?.job.type == .download, let fd = active.files?.numbers.first,
              let file = table[id]?.job.files[active.fileIndex], file.bytesTransferred > (file.durableBytes ?? 0) else { return }
        let written = file.bytesTransferred
        guard let copy = try? BorrowedDescriptor(fd).duplicate().take() else { return }  // closed by the worker
        table[id]?.runtime.syncingCheckpoint = true
        table[id]?.runtime.lastDurableCheckpoint = clock.now
        let index = active.fileIndex
        Task { [weak self, fileWorkers, files] in
            let synced = await fileWorkers.run { () -> Bool in
                let owned = FileDescriptor(adopting: copy)
                return (try? files.sync(owned.borrowed)) != nil
            }
            await self?.durableCheckpointDone(id, index: index, transfer: tid, written: written, synced: synced)
        }
    }

    private func durableCheckpointDone(_ id: JobID, index: Int, transfer tid: TransferID, written: UInt64, synced: Bool) {
        table[id]?.runtime.syncingCheckpoint = false
        // Still the same transfer writing on from `written` (a restart from 0 ends it).
        guard synced, transfers[tid] != nil, let file = table[id]?.job.files[index], file.bytesTransferred >= written,
              written > (file.durableBytes ?? 0) else { return }
        table[id]?.modifyFile(index) { $0.durableBytes = written }
        persistQuietly(id)
    }

    /// Removes a job that reached a final state, after its files were dealt with.
    func forget(_ id: JobID) {
        if clientWrites.holdDelete(id) { return }
        submitDelete(id)
    }

    private func submitDelete(_ id: JobID) {
        let logger = self.logger
        store?.submit(.delete(id)) { error in
            if let error { logger.error("job \(id) could not be removed from the database: \(error)") }
        }
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
    /// - every unfinished file is reconciled with its temporary file, a Complete or Cancel cut
    ///   short by a crash is finished and stray reply files are deleted (`StartupReconciler`,
    ///   on the file workers);
    /// - jobs inactive for longer than JobInactivityTimeout are cancelled.
    ///
    /// `bootID` is the kernel's boot id now. When the queue was last written in the same boot,
    /// the daemon itself crashed (or was stopped): every byte it wrote is in the page cache
    /// and valid, so downloads resume from the length of their files on disk. After a reboot
    /// only `durableBytes` (fsynced before it was stored) is trusted and files are cut there.
    public func restore(_ opened: JobStore.Opened, bootID: String?) async {
        await restore(store: opened.store, jobs: opened.jobs, pendingTemporaries: opened.pendingTemporaries, bootID: bootID)
    }

    /// `restore(_:bootID:)` from any store: its jobs and pending temporaries as loaded.
    public func restore(store opened: any JobStoring, jobs storedJobs: [JobStore.StoredJob],
                        pendingTemporaries: [JobStore.PendingTemporary], bootID: String?) async {
        let writer = StoreWriter(store: opened)
        store = writer
        let previousBoot = (try? opened.fact(Self.bootIDFact)) ?? nil
        let trust: DiskTrust = previousBoot == nil ? .storedProgress
            : (previousBoot == bootID ? .fileLength : .durableBytes)
        let reconciler = StartupReconciler(files: files, trust: trust, logger: logger)
        let outcome = await fileWorkers.run { reconciler.run(storedJobs, pending: pendingTemporaries) }
        for id in outcome.finished { forget(id) }
        for (stored, reconciled) in outcome.jobs {
            var job = reconciled
            if job.state.isActive { job.state = .queued }
            var rt = Runtime()
            rt.activity = stored.activity
            rt.lastCheckpoint = clock.now
            if job.state == .queued {
                rt.queuedSequence = nextQueueSequence
                nextQueueSequence += 1
            }
            table.insert(job, runtime: rt)
            if stored.job != job { persistQuietly(job.id) }
            observer?.jobRestored(job)
            if job.state == .transientError { armRetry(job.id, after: .seconds(Int64(job.minimumRetryDelay))) }
        }
        if !pendingTemporaries.isEmpty {
            do { try await writer.write(.clearPendingTemporaries(pendingTemporaries.map(\.path))) } catch {
                logger.error("could not clear the pending temporary files: \(error)")
            }
        }
        if let bootID {
            do { try await writer.write(.setFact(Self.bootIDFact, bootID)) } catch {
                logger.error("could not store the boot id: \(error)")
            }
        }
        logger.info("files reconciled trusting \(trust.rawValue) (boot id \(previousBoot == bootID ? "unchanged" : "changed"))")
        logger.info("restored \(table.count) job(s) from the database")
        cancelInactiveJobs()
        schedule()
    }

    /// Queues a job in transient-error again after `delay`.
    func armRetry(_ id: JobID, after delay: Duration) {
        guard table[id] != nil else { return }
        table[id]?.runtime.timers.armRetry(after(delay) { $0.retry(id) })
    }

    // MARK: - JobInactivityTimeout

    /// Cancels every job without progress or change for JobInactivityTimeout, then sleeps
    /// until the next job could reach it (one timer, no polling).
    func cancelInactiveJobs() {
        inactivityTask?.cancel()
        inactivityTask = nil
        let now = wallNow()
        let activity = table.all.filter { !$0.job.state.isFinal }.map { (id: $0.job.id, at: $0.runtime.activity) }
        let (expired, next) = InactivityDeadlines.evaluate(activity, now: now, timeout: config.jobInactivityTimeout)
        for id in expired { cancelForInactivity(id) }
        guard let nextDeadline = next else { return }
        let wait = Duration.microseconds(Int64(min(nextDeadline - now, UInt64(Int64.max / 2))))
        inactivityTask = after(wait) {
            $0.cancelInactiveJobs()
        }
    }

    private func cancelForInactivity(_ id: JobID) {
        guard var job = table[id]?.job else { return }
        stopTransfer(of: id)
        let changed = enter(.cancelled, job: &job)
        table[id]?.job = job
        enqueue(job)  // queued before the delete below: a crash in between finishes the Cancel
        observer?.jobChanged(job, properties: changed)
        let files = self.files
        let resolution = job.pathResolution
        let temporaries = job.files.filter { $0.temporaryName != $0.localName }.map(\.temporaryName)
        let uid = job.owner
        Task { [weak self, fileWorkers] in
            // The owner's identity is looked up off this actor (the user database may hang).
            guard let owner = try? await self?.identity(of: uid) else { return }
            await fileWorkers.run { for path in temporaries { files.remove(path, owner: owner, resolution: resolution) } }
        }
        logger.notice("job \(id) cancelled: no progress or change for JobInactivityTimeout (\(config.jobInactivityTimeout) s)")
        forget(id)
        retire(id)
    }
}
