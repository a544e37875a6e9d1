import BitsCore
import BitsStore
import BitsTransfer
import Foundation

extension QueueManager {
    /// Applies `change` to a job the caller may control and reports what changed.
    @discardableResult
    func mutate(_ id: JobID, caller: Caller, _ change: (inout Job) throws -> Set<JobProperty>) throws -> Job {
        let before = try job(id, caller: caller)
        var job = before
        var changed = try change(&job)
        if !changed.isEmpty {
            job.modificationTime = Self.now()
            changed.insert(.modificationTime)
        }
        // Also secrets, which no property shows.
        if job != before {
            try persist(job)
            discardQueuedFiles(of: id)  // prepared with the old settings
        }
        jobs[id] = job
        if !changed.isEmpty { observer?.jobChanged(job, properties: changed) }
        return job
    }

    /// `AddFile`/`AddFiles`: validates every entry and checks every destination (as the
    /// owner) before adding any: all or none.
    public func addFiles(_ id: JobID, caller: Caller, files entries: [(remote: String, local: String)],
                         ranges: [FileRange]? = nil) throws -> Range<Int> {
        let job = try job(id, caller: caller)
        try JobStateMachine.checkAddFiles(job, adding: entries.count)
        guard !entries.isEmpty else { throw ServiceError.invalidArgs("No files were given.") }
        try limits.checkFiles(existing: job.files.count, adding: entries.count, jobID: id,
                              exempt: caller.exemptFromLimits)
        if job.type != .download {
            guard entries.count == 1, ranges == nil else {
                throw ServiceError(ranges == nil ? .tooManyFiles : .notSupported,
                                   ranges == nil ? "An upload job takes exactly one file." : "Upload jobs do not take ranges.")
            }
            return try addUploadFile(id, job: job, remote: entries[0].remote, local: entries[0].local)
        }
        if let ranges {
            _ = try InputValidation.ranges(ranges)
            try limits.checkRanges(ranges.count, exempt: caller.exemptFromLimits)
            if job.options.dynamicContent {
                throw ServiceError(.notSupported, "Job \(id) has DynamicContent, which cannot be combined with ranges.")
            }
        }
        let validated = try entries.map { entry -> (String, String) in
            _ = try InputValidation.downloadURL(entry.remote)
            return (entry.remote, try InputValidation.localPath(entry.local))
        }
        var seen = Set(job.files.map(\.localName))
        for (_, local) in validated where !seen.insert(local).inserted {
            throw ServiceError.invalidArgs("Local path '\(local)' appears twice in job \(id).")
        }
        let owner = try identity(of: job.owner)
        // Where each file's data goes until Complete, and its directory (pinned for Complete).
        let destinations: [(temporary: String, directory: DirectoryIdentity)]
        if job.options.highPerformance {
            // The destination itself, opened (created if missing) as the owner.
            destinations = try validated.map { _, local in
                let prepared = try files.prepareDirectDestination(localPath: local, owner: owner)
                return (prepared.path, prepared.directory)
            }
        } else {
            // Only checked now: each temporary file is created when its transfer starts.
            let directories = try files.checkDestinations(validated.map(\.1), owner: owner)
            destinations = zip(validated, directories).map { entry, directory in
                (OwnerFiles.temporaryPath(for: entry.1, name: OwnerFiles.newTemporaryName()), directory)
            }
        }
        let created = zip(validated, destinations).map { entry, destination in
            var file = JobFile(remoteName: entry.0, localName: entry.1, temporaryName: destination.temporary)
            file.directory = destination.directory
            file.ranges = ranges ?? []
            return file
        }
        CrashPoint.reach("add-files:checked")
        var current = jobs[id] ?? job
        let start = current.files.count
        current.files.append(contentsOf: created)
        current.modificationTime = Self.now()
        try persist(current)
        CrashPoint.reach("add-files:stored")
        jobs[id] = current
        let range = start..<current.files.count
        observer?.filesAdded(current, indices: range)
        observer?.jobChanged(current, properties: [.files, .filesTotal, .bytesTotal, .modificationTime])
        logger.info("job \(id): \(created.count) file(s) added")
        if current.state.isActive { schedule() }
        return range
    }

    /// `Resume`.
    public func resume(_ id: JobID, caller: Caller) throws {
        try mutate(id, caller: caller) { job in
            let next = try JobStateMachine.resume(job)
            job.everResumed = true
            guard next != job.state else { return [] }
            return self.enter(next, job: &job)
        }
        runtime[id]?.retryTask?.cancel()
        runtime[id]?.noProgressSince = nil
        runtime[id]?.activeTime = .zero
        if runtime[id]?.activeSince != nil { runtime[id]?.activeSince = clock.now }
        schedule()
    }

    /// `Suspend`.
    public func suspend(_ id: JobID, caller: Caller) throws {
        try mutate(id, caller: caller) { job in
            let next = try JobStateMachine.suspend(job)
            guard next != job.state else { return [] }
            return self.enter(next, job: &job)
        }
        stopTransfer(of: id)
        schedule()
    }

    /// `Cancel`: stops the transfer and deletes every temporary file (as the owner).
    public func cancel(_ id: JobID, caller: Caller) throws {
        let job = try mutate(id, caller: caller) { job in
            let next = try JobStateMachine.cancel(job)
            return self.enter(next, job: &job)
        }
        stopTransfer(of: id)
        sendCancelSession(for: job)
        CrashPoint.reach("cancel:stored")
        if let owner = try? identity(of: job.owner) {
            for file in job.files where file.temporaryName != file.localName { files.remove(file.temporaryName, owner: owner) }
            if let temporary = job.reply?.temporaryName { files.remove(temporary, owner: owner) }
        }
        CrashPoint.reach("cancel:deleted")
        logger.info("job \(id) cancelled")
        forget(id)
        retire(id)
        schedule()
    }

    /// `Complete`: renames every fully transferred file to its local name (as the owner) and
    /// deletes partial ones. If a rename fails the job stays as it was and the error says why.
    public func complete(_ id: JobID, caller: Caller) throws {
        let job = try job(id, caller: caller)
        _ = try JobStateMachine.complete(job)
        stopTransfer(of: id)
        let owner = try identity(of: job.owner)
        var updated = job
        // The finished data is durable before the renames publish it.
        flusher.waitForPending()
        let lost = flusher.takeFailures(prefix: Self.flushTag(id, file: nil))
        if !lost.isEmpty {
            let message = failUndurable(id, lost)
            throw ServiceError(.failed, "Job \(id) was not completed: \(message) The job's state is now \(jobs[id]?.state.rawValue ?? "error").")
        }
        // Stored as acknowledged first: a crash during the renames is finished at start-up.
        var completing = job
        completing.state = .acknowledged
        try persist(completing)
        CrashPoint.reach("complete:stored")
        let finished = job.files.indices.filter { job.files[$0].completed && job.files[$0].temporaryName != job.files[$0].localName }
        var renamedCount = 0
        do {
            let renames = finished.map {
                OwnerFiles.Rename(temporary: job.files[$0].temporaryName, localPath: job.files[$0].localName, pinned: job.files[$0].directory)
            }
            try files.commit(renames, owner: owner) { i in
                updated.files[finished[i]].temporaryName = job.files[finished[i]].localName
                renamedCount += 1
                CrashPoint.reach("complete:renamed-one")
            }
        } catch let error as ServiceError {
            // Files renamed so far stay renamed (BITS keeps them visible).
            jobs[id] = updated
            try? persist(updated)
            logger.error("job \(id): completing file \(finished[renamedCount]) failed: \(error.message)")
            throw ServiceError(error.name, "Job \(id) could not be completed: \(error.message)")
        }
        if let reply = job.reply, reply.done, let temporary = reply.temporaryName {
            do {
                try files.commit(temporary: temporary, to: reply.fileName, pinned: reply.directory, owner: owner)
            } catch let error as ServiceError {
                jobs[id] = updated
                throw ServiceError(error.name, "Job \(id) could not be completed: the reply: \(error.message)")
            }
            updated.reply?.temporaryName = nil
        }
        files.syncDirectories(of: job.files.filter(\.completed).map(\.localName) + (job.reply.map { [$0.fileName] } ?? []), owner: owner)
        for file in job.files where !file.completed && file.temporaryName != file.localName {
            files.remove(file.temporaryName, owner: owner)
        }
        CrashPoint.reach("complete:renamed")
        // Stored as acknowledged above and about to leave the database: nothing more to write.
        var changed = enter(.acknowledged, job: &updated)
        updated.modificationTime = Self.now()
        changed.insert(.modificationTime)
        jobs[id] = updated
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
            updateFile(id, i) { file in
                // Without validators the next transfer truncates instead of resuming from the
                // bytes on disk, which are what could not be trusted.
                file.completed = false
                file.bytesTransferred = 0
                file.entityTag = nil
                file.lastModifiedText = nil
            }
        }
        let code = lost[Self.flushTag(id, file: indices.first)] ?? lost.values.first ?? EIO
        let name = indices.first.flatMap { jobs[id]?.files[$0].localName } ?? "a file"
        let more = lost.count == 1 ? "" : " (and \(lost.count - 1) more)"
        let failure = TransferFailure.notDurable(errno: code, "The data of \(name)\(more)",
                                                 "it is transferred again from the start when the job resumes.")
        let message = FailureClassifier.classify(failure).description
        logger.error("job \(id): \(message)")
        guard let job = jobs[id] else { return message }
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
    func collectUndurableFiles() {
        var byJob: [JobID: [String: Int32]] = [:]
        for (tag, code) in flusher.takeFailures(prefix: "") {
            guard let id = JobID(pathElement: String(tag.prefix { $0 != "/" })), jobs[id] != nil else { continue }
            byJob[id, default: [:]][tag] = code
        }
        for (id, lost) in byJob where jobs[id]?.state.isFinal == false { failUndurable(id, lost) }
    }

    /// `Properties.Set` of a writable job property.
    public func set(_ setting: JobSetting, on id: JobID, caller: Caller) throws {
        try mutate(id, caller: caller) { job in try JobSettingRules.apply(setting, to: &job) }
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

    /// Moves a job to `state`, keeping the derived bookkeeping (completion time, queue order).
    func enter(_ state: JobState, job: inout Job) -> Set<JobProperty> {
        job.state = state
        var changed: Set<JobProperty> = [.state]
        trackActiveTime(job.id, active: state == .connecting || state == .transferring,
                        limit: job.maximumDownloadTime)
        if state == .queued {
            runtime[job.id]?.queuedSequence = nextQueueSequence
            nextQueueSequence += 1
        }
        if state == .transferred {
            job.transferCompletionTime = Self.now()
            changed.insert(.transferCompletionTime)
        }
        return changed
    }

    /// Keeps the MaximumDownloadTime clock: it runs only while the job connects or
    /// transfers, and a check is scheduled for the moment the limit would be reached.
    func trackActiveTime(_ id: JobID, active: Bool, limit: UInt32) {
        guard var rt = runtime[id] else { return }
        let now = clock.now
        if active, rt.activeSince == nil {
            rt.activeSince = now
            if limit > 0 {
                let remaining = Duration.seconds(Int64(limit)) - rt.activeTime
                Task { [weak self] in
                    try? await Task.sleep(for: max(remaining, .milliseconds(1)))
                    await self?.checkDownloadTime(id)
                }
            }
        } else if !active, let since = rt.activeSince {
            rt.activeTime += since.duration(to: now)
            rt.activeSince = nil
        }
        runtime[id] = rt
    }

    /// Fails a job that has been active for longer than its MaximumDownloadTime.
    func checkDownloadTime(_ id: JobID) {
        guard let job = jobs[id], job.maximumDownloadTime > 0, let rt = runtime[id],
              let since = rt.activeSince else { return }
        let used = rt.activeTime + since.duration(to: clock.now)
        let limit = Duration.seconds(Int64(job.maximumDownloadTime))
        guard used >= limit else {
            Task { [weak self] in
                try? await Task.sleep(for: limit - used)
                await self?.checkDownloadTime(id)
            }
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
        runtime[id]?.retryTask?.cancel()
        flusher.discardFailures(prefix: Self.flushTag(id, file: nil))
        if let owner = jobs[id]?.owner {
            liveJobsByOwner[owner, default: 1] -= 1
            if liveJobsByOwner[owner] == 0 { liveJobsByOwner[owner] = nil }
            liveJobs -= 1
        }
        if let job = jobs[id] { observer?.jobRemoved(job) }
        let grace = finalStateGrace
        Task { [weak self] in
            try? await Task.sleep(for: grace)
            await self?.remove(id)
        }
    }

    func remove(_ id: JobID) {
        guard jobs[id]?.state.isFinal == true else { return }
        jobs[id] = nil
        runtime[id] = nil
    }
}
