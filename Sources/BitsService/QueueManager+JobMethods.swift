import BitsCore
import Foundation

extension QueueManager {
    /// Applies `change` to a job the caller may control and reports what changed.
    @discardableResult
    func mutate(_ id: JobID, caller: Caller, _ change: (inout Job) throws -> Set<JobProperty>) throws -> Job {
        var job = try job(id, caller: caller)
        var changed = try change(&job)
        if !changed.isEmpty {
            job.modificationTime = Self.now()
            changed.insert(.modificationTime)
        }
        jobs[id] = job
        if !changed.isEmpty { observer?.jobChanged(job, properties: changed) }
        return job
    }

    /// `AddFile`/`AddFiles`: validates every entry and prepares every destination (as the
    /// owner) before adding any: all or none.
    public func addFiles(_ id: JobID, caller: Caller, files entries: [(remote: String, local: String)],
                         ranges: [FileRange]? = nil) throws -> Range<Int> {
        let job = try job(id, caller: caller)
        try JobStateMachine.checkAddFiles(job, adding: entries.count)
        guard !entries.isEmpty else { throw ServiceError.invalidArgs("No files were given.") }
        try limits.checkFiles(existing: job.files.count, adding: entries.count, jobID: id,
                              exempt: caller.isAdministrator)
        guard job.type == .download else {
            throw ServiceError(.notSupported, "Upload jobs are not supported by this version of bitsd yet.")
        }
        if let ranges {
            _ = try InputValidation.ranges(ranges)
            try limits.checkRanges(ranges.count, exempt: caller.isAdministrator)
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
        var created: [JobFile] = []
        do {
            for (remote, local) in validated {
                let temp = job.options.highPerformance
                    ? try files.prepareDirectDestination(localPath: local, owner: owner)
                    : try files.prepareDestination(localPath: local, owner: owner)
                var file = JobFile(remoteName: remote, localName: local, temporaryName: temp)
                file.ranges = ranges ?? []
                created.append(file)
            }
        } catch {
            for file in created where file.temporaryName != file.localName { files.remove(file.temporaryName, owner: owner) }
            throw error
        }
        // Re-read: the job may have changed while files were prepared (no suspension here,
        // but keep the rule explicit).
        var current = jobs[id] ?? job
        let start = current.files.count
        current.files.append(contentsOf: created)
        current.modificationTime = Self.now()
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
        if let owner = try? identity(of: job.owner) {
            for file in job.files where file.temporaryName != file.localName { files.remove(file.temporaryName, owner: owner) }
        }
        logger.info("job \(id) cancelled")
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
        for (index, file) in job.files.enumerated() where file.completed && file.temporaryName != file.localName {
            do {
                try files.commit(temporary: file.temporaryName, to: file.localName, owner: owner)
            } catch let error as ServiceError {
                // Files renamed so far stay renamed (BITS keeps them visible).
                jobs[id] = updated
                logger.error("job \(id): completing file \(index) failed: \(error.message)")
                throw ServiceError(error.name, "Job \(id) could not be completed: \(error.message)")
            }
            updated.files[index].temporaryName = file.localName
        }
        files.syncDirectories(of: job.files.filter(\.completed).map(\.localName), owner: owner)
        for file in job.files where !file.completed && file.temporaryName != file.localName {
            files.remove(file.temporaryName, owner: owner)
        }
        jobs[id] = updated
        try mutate(id, caller: caller) { job in self.enter(.acknowledged, job: &job) }
        logger.info("job \(id) completed")
        retire(id)
        schedule()
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
