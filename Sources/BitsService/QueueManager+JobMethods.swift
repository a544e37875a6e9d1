import BitsCore
import BitsStore
import BitsSystem
import BitsTransfer

extension QueueManager {
    /// Applies `change` to a job the caller may control, stores it and reports what changed.
    /// Runs in the job's client write turn and awaits the store (this executor stays free);
    /// see `afterClientWrite` for a job that changed during the write.
    @discardableResult
    func mutate(_ id: JobID, caller: Caller, _ change: (inout Job) throws -> Set<JobProperty>) async throws -> Job {
        try await withClientWrite(id) {
            let before = try job(id, caller: caller)
            guard table[id]?.runtime.busyWithFiles != true else { throw busy(id) }
            var (job, changed) = try applying(change, to: before)
            // Also secrets, which no property shows.
            guard job != before else { return job }
            try await persistDurably(job)
            job = try afterClientWrite(id, stored: job, base: before) { current in
                (current, changed) = try applying(change, to: current)
            }
            discardQueuedFiles(of: id)  // prepared with the old settings
            table[id]?.job = job
            if !changed.isEmpty { observer?.jobChanged(job, properties: changed) }
            return job
        }
    }

    /// `change` made on a copy of `job`, with the modification time when a property changed.
    private func applying(_ change: (inout Job) throws -> Set<JobProperty>, to job: Job) throws -> (Job, Set<JobProperty>) {
        var updated = job
        var changed = try change(&updated)
        if !changed.isEmpty {
            updated.modificationTime = wallNow()
            changed.insert(.modificationTime)
        }
        return (updated, changed)
    }

    /// After a client method stored `stored` (its change made on `base`): the job to keep.
    /// When a transfer event changed the job during the write, `change` is made again on the
    /// job as it is now, and the job is written once more when the method's turn ends. A
    /// failure of `change` then means the event came first: the method fails and the job
    /// stays as the event left it (also on disk, at the end of the turn).
    func afterClientWrite(_ id: JobID, stored: Job, base: Job, _ change: (inout Job) throws -> Void) throws -> Job {
        guard var current = table[id]?.job, !current.state.isFinal else {
            throw ServiceError.invalidState("Job \(id) ended while the change was being stored.")
        }
        guard current != base else { return stored }
        clientWrites.markStale(id)
        try change(&current)
        return current
    }

    /// `AddFile`/`AddFiles`: validates every entry and checks every destination (as the
    /// owner, on the file workers) before adding any: all or none. New files are created with
    /// the mode `umask` (the caller's) gives.
    public func addFiles(_ id: JobID, caller: Caller, files entries: [(remote: String, local: String)],
                         ranges: [FileRange]? = nil, expectedHashes: [String]? = nil) async throws -> Range<Int> {
        try await withClientWrite(id) {
            try await addFilesInTurn(id, caller: caller, files: entries, ranges: ranges, expectedHashes: expectedHashes)
        }
    }

    private func addFilesInTurn(_ id: JobID, caller: Caller, files entries: [(remote: String, local: String)],
                                ranges: [FileRange]?, expectedHashes: [String]?) async throws -> Range<Int> {
        let job = try job(id, caller: caller)
        try checkAddFiles(job, caller: caller, adding: entries.count, ranges: ranges)
        // AddFilesWithHashes: each file's ExpectedHash ("" = none), checked before anything.
        let hashes = try (expectedHashes ?? []).map { try FileHash.parseExpected($0) }
        if job.type != .download {
            if hashes.contains(where: { $0 != nil }) {
                throw ServiceError(.notSupported, "Job \(id) is an upload job: only downloads take an ExpectedHash.")
            }
            return try await addUploadFile(id, caller: caller, job: job, remote: entries[0].remote, local: entries[0].local)
        }
        let validated = try entries.map { entry -> (String, String) in
            _ = try InputValidation.downloadURL(entry.remote)
            return (entry.remote, try InputValidation.localPath(entry.local))
        }
        try checkDuplicates(validated.map(\.1), in: job)
        // Rechecked with the job as it is after the checks below (it may change meanwhile).
        let owner = try await identity(of: job.owner)
        let umask = caller.umask ?? JobFile.defaultUmask
        let resolution = job.pathResolution
        let highPerformance = job.options.highPerformance
        let paths = validated.map(\.1)
        let files = self.files
        // Where each file's data goes until Complete, and its directory (pinned for Complete).
        let destinations: [(temporary: String, directory: DirectoryIdentity)] = try await fileWorkers.run {
            if highPerformance {
                // The destination itself, opened (created if missing) as the owner.
                return try paths.map { local in
                    let prepared = try files.prepareDirectDestination(localPath: local, owner: owner, umask: umask,
                                                                      resolution: resolution)
                    return (prepared.path, prepared.directory)
                }
            }
            // Only checked now: each temporary file is created when its transfer starts.
            let directories = try files.checkDestinations(paths, owner: owner, resolution: resolution)
            return zip(paths, directories).map { local, directory in
                (OwnerFiles.temporaryPath(for: local, name: OwnerFiles.newTemporaryName()), directory)
            }
        }
        // The job may have changed while the destinations were checked: the rules again.
        var current = try self.job(id, caller: caller)
        guard current.owner == job.owner, current.options.highPerformance == highPerformance,
              current.pathResolution == resolution else {
            throw ServiceError.invalidState("Job \(id) changed while its files were being added; add them again.")
        }
        try checkAddFiles(current, caller: caller, adding: entries.count, ranges: ranges)
        try checkDuplicates(paths, in: current)
        let created = zip(validated, destinations).enumerated().map { position, pair in
            let (entry, destination) = pair
            var file = JobFile(remoteName: entry.0, localName: entry.1, temporaryName: destination.temporary)
            file.expectedHash = position < hashes.count ? hashes[position] : nil
            file.directory = destination.directory
            file.ranges = ranges ?? []
            file.umask = umask
            return file
        }
        crashPoints.reach("add-files:checked")
        let base = current
        current.files.append(contentsOf: created)
        current.modificationTime = wallNow()
        try await persistDurably(current)
        crashPoints.reach("add-files:stored")
        let stamp = current.modificationTime
        current = try afterClientWrite(id, stored: current, base: base) { job in
            job.files.append(contentsOf: created)
            job.modificationTime = stamp
        }
        let start = current.files.count - created.count
        table[id]?.job = current
        let range = start..<current.files.count
        observer?.filesAdded(current, indices: range)
        observer?.jobChanged(current, properties: [.files, .filesTotal, .bytesTotal, .modificationTime])
        logger.info("job \(id): \(created.count) file(s) added")
        if current.state.isActive { schedule() }
        return range
    }

    /// The rules of adding `count` files (with `ranges`) to a job, before and after the
    /// destinations are checked.
    private func checkAddFiles(_ job: Job, caller: Caller, adding count: Int, ranges: [FileRange]?) throws {
        try JobStateMachine.checkAddFiles(job, adding: count)
        guard count > 0 else { throw ServiceError.invalidArgs("No files were given.") }
        guard table[job.id]?.runtime.busyWithFiles != true else { throw busy(job.id) }
        try limits.checkFiles(existing: job.files.count, adding: count, jobID: job.id,
                              exempt: caller.exemptFromLimits)
        if job.type != .download {
            guard count == 1, ranges == nil else {
                throw ServiceError(ranges == nil ? .tooManyFiles : .notSupported,
                                   ranges == nil ? "An upload job takes exactly one file." : "Upload jobs do not take ranges.")
            }
            return
        }
        if let ranges {
            _ = try InputValidation.ranges(ranges)
            try limits.checkRanges(ranges.count, exempt: caller.exemptFromLimits)
            if job.options.dynamicContent {
                throw ServiceError(.notSupported, "Job \(job.id) has DynamicContent, which cannot be combined with ranges.")
            }
        }
    }

    private func checkDuplicates(_ localPaths: [String], in job: Job) throws {
        var seen = Set(job.files.map(\.localName))
        for local in localPaths where !seen.insert(local).inserted {
            throw ServiceError.invalidArgs("Local path '\(local)' appears twice in job \(job.id).")
        }
    }

    /// A job whose Complete, Cancel or TakeOwnership is still at its files.
    func busy(_ id: JobID) -> ServiceError {
        ServiceError.invalidState("Job \(id) is busy with another call's file work (Complete, Cancel or TakeOwnership); try again.")
    }

    /// `Resume`.
    public func resume(_ id: JobID, caller: Caller) async throws {
        try await mutate(id, caller: caller) { job in
            let next = try JobStateMachine.resume(job)
            job.everResumed = true
            guard next != job.state else { return [] }
            return self.enter(next, job: &job)
        }
        table[id]?.runtime.timers.resumed(now: clock.now)
        schedule()
    }

    /// `Suspend`.
    public func suspend(_ id: JobID, caller: Caller) async throws {
        try await mutate(id, caller: caller) { job in
            let next = try JobStateMachine.suspend(job)
            guard next != job.state else { return [] }
            return self.enter(next, job: &job)
        }
        stopTransfer(of: id)
        schedule()
    }

    /// `Cancel`: stops the transfer and deletes every temporary file (as the owner, on the
    /// file workers).
    public func cancel(_ id: JobID, caller: Caller) async throws {
        let job = try await mutate(id, caller: caller) { job in
            let next = try JobStateMachine.cancel(job)
            return self.enter(next, job: &job)
        }
        stopTransfer(of: id)
        sendCancelSession(for: job)
        crashPoints.reach("cancel:stored")
        if let owner = try? await identity(of: job.owner) {
            let files = self.files
            let resolution = job.pathResolution
            let temporaries = job.files.filter { $0.temporaryName != $0.localName }.map(\.temporaryName)
                + (job.reply?.temporaryName.map { [$0] } ?? [])
            await fileWorkers.run {
                for temporary in temporaries { files.remove(temporary, owner: owner, resolution: resolution) }
            }
        }
        crashPoints.reach("cancel:deleted")
        logger.info("job \(id) cancelled")
        forget(id)
        retire(id)
        schedule()
    }

    /// `Complete`: renames every fully transferred file to its local name (as the owner) and
    /// deletes partial ones. If a rename fails the job stays as it was and the error says why.
    /// The file work runs on the file workers; meanwhile the job reads as acknowledged (as it is
    /// stored) and takes no other call.
    public func complete(_ id: JobID, caller: Caller) async throws {
        try await withClientWrite(id) { try await completeInTurn(id, caller: caller) }
    }

    private func completeInTurn(_ id: JobID, caller: Caller) async throws {
        func check() throws -> Job {
            let job = try self.job(id, caller: caller)
            _ = try JobStateMachine.complete(job)
            guard table[id]?.runtime.busyWithFiles != true else { throw busy(id) }
            return job
        }
        // The owner's identity may wait for the user database (off this actor): the job is
        // checked again as it is after it.
        let owner = try await identity(of: try check().owner)
        let job = try check()
        guard job.owner == owner.uid else { throw busy(id) }
        stopTransfer(of: id)
        table[id]?.runtime.busyWithFiles = true
        defer { table[id]?.runtime.busyWithFiles = false }
        var updated = job
        // The finished data is durable before the renames publish it.
        let flusher = self.flusher
        await fileWorkers.run { flusher.waitForPending() }
        let lost = flusher.takeRecordedFailures(prefix: Self.flushTag(id, file: nil))
        if !lost.isEmpty {
            let message = failUndurable(id, lost)
            throw ServiceError(.failed, "Job \(id) was not completed: \(message) The job's state is now \(table[id]?.job.state.rawValue ?? "error").")
        }
        // The flusher's own failure report may have reached the job while this call waited.
        if let current = table[id]?.job,
           job.files.indices.contains(where: { job.files[$0].completed && !(current.files.indices.contains($0) && current.files[$0].completed) }) {
            throw ServiceError(.failed, "Job \(id) was not completed: \(current.lastError?.description ?? "a finished file could not be made durable.") The job's state is now \(current.state.rawValue).")
        }
        // Stored as acknowledged first: a crash during the renames is finished at start-up.
        let base = table[id]?.job ?? job
        var completing = base
        completing.state = .acknowledged
        try await persistDurably(completing)
        let acknowledged = try afterClientWrite(id, stored: completing, base: base) { $0.state = .acknowledged }
        table[id]?.job = acknowledged
        crashPoints.reach("complete:stored")
        let finished = job.files.indices.filter { job.files[$0].completed && job.files[$0].temporaryName != job.files[$0].localName }
        let renames = finished.map {
            OwnerFiles.Rename(temporary: job.files[$0].temporaryName, localPath: job.files[$0].localName, pinned: job.files[$0].directory)
        }
        let files = self.files
        let crashPoints = self.crashPoints
        let resolution = job.pathResolution
        // The renames, the reply's, the directories' fsync and the partial files' removal, as
        // the owner; the renames done so far come back even when one fails.
        let outcome: (renamed: Int, error: ServiceError?, replyError: ServiceError?) = await fileWorkers.run {
            var renamed = 0
            do {
                try files.commit(renames, owner: owner, resolution: resolution) { _ in
                    renamed += 1
                    crashPoints.reach("complete:renamed-one")
                }
            } catch {
                return (renamed, (error as? ServiceError) ?? ServiceError(.failed, "\(error)"), nil)
            }
            if let reply = job.reply, reply.done, let temporary = reply.temporaryName {
                do {
                    try files.commit(temporary: temporary, to: reply.fileName, pinned: reply.directory, owner: owner,
                                     resolution: resolution)
                } catch {
                    return (renamed, nil, (error as? ServiceError) ?? ServiceError(.failed, "\(error)"))
                }
            }
            files.syncDirectories(of: job.files.filter(\.completed).map(\.localName) + (job.reply.map { [$0.fileName] } ?? []),
                                  owner: owner, resolution: resolution)
            for file in job.files where !file.completed && file.temporaryName != file.localName {
                files.remove(file.temporaryName, owner: owner, resolution: resolution)
            }
            return (renamed, nil, nil)
        }
        for i in 0..<outcome.renamed {
            updated.files[finished[i]].temporaryName = job.files[finished[i]].localName
        }
        if let error = outcome.error {
            // Files renamed so far stay renamed (BITS keeps them visible).
            table[id]?.job = updated
            try? await persistDurably(updated)
            logger.error("job \(id): completing file \(finished[outcome.renamed]) failed: \(error.message)")
            throw ServiceError(error.name, "Job \(id) could not be completed: \(error.message)")
        }
        if let error = outcome.replyError {
            table[id]?.job = updated
            try? await persistDurably(updated)
            throw ServiceError(error.name, "Job \(id) could not be completed: the reply: \(error.message)")
        }
        if job.reply?.done == true { updated.reply?.temporaryName = nil }
        crashPoints.reach("complete:renamed")
        // Stored as acknowledged above and about to leave the database: nothing more to write.
        var changed = enter(.acknowledged, job: &updated)
        updated.modificationTime = wallNow()
        changed.insert(.modificationTime)
        table[id]?.job = updated
        observer?.jobChanged(updated, properties: changed)
        logger.info("job \(id) completed")
        forget(id)
        retire(id)
        schedule()
    }

    /// The tag of a job's finished file in the flusher, or (`file` nil) the part all of the
    /// job's tags share.
    static func flushTag(_ id: JobID, file index: Int?) -> String {
        "\(id.hex)/" + (index.map(String.init) ?? "")
    }

    /// Some of the job's finished files could not be made durable (their fsync failed), so
    /// none may be published. Those files go back to be transferred from the start and the
    /// job fails with the first one's error (`error` for EIO, `transient-error` for a full
    /// disk or quota); a suspended job only has its files reset. Stored at once, so neither a
    /// later Complete nor a restart publishes them. Returns the error's description.
    @discardableResult
    func failUndurable(_ id: JobID, _ lost: [String: Int32]) -> String {
        let prefix = Self.flushTag(id, file: nil)
        let indices = lost.keys.compactMap { Int($0.dropFirst(prefix.count)) }.sorted()
        for i in indices {
            table[id]?.modifyFile(i) { file in
                // Without validators the next transfer truncates instead of resuming from the
                // bytes on disk, which are what could not be trusted.
                file.completed = false
                file.bytesTransferred = 0
                file.entityTag = nil
                file.lastModifiedText = nil
            }
        }
        let code = lost[Self.flushTag(id, file: indices.first)] ?? lost.values.first ?? Errno.io
        let name = indices.first.flatMap { table[id]?.job.files[$0].localName } ?? "a file"
        let more = lost.count == 1 ? "" : " (and \(lost.count - 1) more)"
        let failure = TransferFailure.notDurable(errno: code, "The data of \(name)\(more)",
                                                 "it is transferred again from the start when the job resumes.")
        let message = FailureClassifier.classify(failure).description
        logger.error("job \(id): \(message)")
        guard let job = table[id]?.job else { return message }
        for i in indices { observer?.fileChanged(job, index: i, properties: [.completed, .bytesTransferred]) }
        observer?.jobChanged(job, properties: [.bytesTransferred, .filesTransferred])
        if job.state == .suspended {
            persistQuietly(id)
        } else {
            stopTransfer(of: id)
            fail(id, fileIndex: indices.first, failure: failure)
        }
        return message
    }

    /// The flusher reported failed fsyncs in the background: each job concerned fails now.
    /// Taken and applied in one step on this actor (no await between), so a Complete never
    /// sees the failures gone from the flusher but not yet on the job.
    func collectUndurableFiles() {
        var byJob: [JobID: [String: Int32]] = [:]
        for (tag, code) in flusher.takeRecordedFailures(prefix: "") {
            guard let id = JobID(pathElement: String(tag.prefix { $0 != "/" })), table[id] != nil else { continue }
            byJob[id, default: [:]][tag] = code
        }
        for (id, lost) in byJob where table[id]?.job.state.isFinal == false { failUndurable(id, lost) }
    }

    /// `Properties.Set` of a writable job property.
    public func set(_ setting: JobSetting, on id: JobID, caller: Caller) async throws {
        try await mutate(id, caller: caller) { job in try JobSettingRules.apply(setting, to: &job) }
        switch setting {
        case .priority, .httpMethod:
            applyRateLimits()
            schedule()
        case .transferPolicy:
            requeueBlocked(code: .blockedByCost)
            schedule()
        case .maximumDownloadTime: checkDownloadTime(id)
        default: break
        }
    }

    /// Moves a job to `state`, keeping the derived bookkeeping (`JobController.enter`: the
    /// MaximumDownloadTime clock, queue order, completion time). The caller keeps `job`.
    func enter(_ state: JobState, job: inout Job) -> Set<JobProperty> {
        var controller = JobController(job: job, runtime: table[job.id]?.runtime ?? Runtime())
        let transition = controller.enter(state, at: moment, sequence: &nextQueueSequence)
        job = controller.job
        table[job.id]?.runtime = controller.runtime
        if let wait = transition.checkDownloadTimeAfter { after(wait) { [id = job.id] in $0.checkDownloadTime(id) } }
        return transition.changed
    }

    /// Fails a job that has been active for longer than its MaximumDownloadTime.
    func checkDownloadTime(_ id: JobID) {
        guard let job = table[id]?.job,
              let check = table[id]?.runtime.timers.checkDownloadTime(now: clock.now, limit: job.maximumDownloadTime) else { return }
        guard check == .exceeded else {
            if case .checkAgain(let wait) = check { after(wait) { $0.checkDownloadTime(id) } }
            return
        }
        stopTransfer(of: id)
        fail(id, fileIndex: job.nextFileIndex, failure: .maximumDownloadTimeExceeded(
            "Job \(id) was connecting or transferring for more than its MaximumDownloadTime of \(job.maximumDownloadTime) seconds."))
    }

    /// A job reached a final state: it leaves the queue and the published objects now
    /// (InterfacesRemoved), and the service forgets it after a grace period in which its
    /// final state can still be read from its path.
    func retire(_ id: JobID) {
        table[id]?.runtime.timers.cancelRetry()
        flusher.discardFailures(prefix: Self.flushTag(id, file: nil))
        table.retire(id)
        if let job = table[id]?.job { observer?.jobRemoved(job) }
        let grace = finalStateGrace
        after(grace) {
            $0.remove(id)
        }
    }

    func remove(_ id: JobID) {
        guard table[id]?.job.state.isFinal == true else { return }
        table.remove(id)
    }
}
