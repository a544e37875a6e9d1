import BitsCore
import BitsTransfer
import Foundation

extension QueueManager {
    // MARK: - Scheduling

    /// Starts and stops transfers so that exactly the jobs the scheduler picks are running.
    func schedule() {
        let now = clock.now
        let slice = Duration.seconds(Int64(config.timeSlice))
        var candidates: [Scheduler.Candidate] = []
        for job in jobs.values where job.state.isActive {
            if let reason = blockReason(for: job) {
                block(job.id, reason)
                continue
            }
            let rt = runtime[job.id]
            let running = rt?.transfer != nil
            let expired = running && job.priority.isBackground
                && (rt?.runningSince.map { $0.duration(to: now) >= slice } ?? false)
            candidates.append(Scheduler.Candidate(id: job.id, priority: job.priority,
                                                  queuedSequence: rt?.queuedSequence ?? 0,
                                                  running: running, sliceExpired: expired))
        }
        let selected = Scheduler.select(candidates)
        for candidate in candidates where candidate.running && !selected.contains(candidate.id) {
            stopTransfer(of: candidate.id)
            if var job = jobs[candidate.id], job.state != .queued {
                let changed = enter(.queued, job: &job)
                jobs[job.id] = job
                observer?.jobChanged(job, properties: changed)
            }
        }
        for id in selected where runtime[id]?.transfer == nil && (runtime[id]?.stopping.isEmpty ?? true) {
            startNextFile(of: id)
        }
    }

    /// Opens the next unfinished file of a job (as the owner) and hands it to the engine.
    func startNextFile(of id: JobID) {
        guard var job = jobs[id] else { return }
        guard let index = job.nextFileIndex else {
            flushProgress(id)  // final counters go out before the state change
            let changed = enter(.transferred, job: &job)
            jobs[id] = job
            observer?.jobChanged(job, properties: changed)
            persistQuietly(id)
            observer?.jobTransferred(job)
            notifyCommand(id)
            return
        }
        let file = job.files[index]
        if job.type != .download {
            startUpload(id, fileIndex: index)
            return
        }
        // ProxyUsage preconfig/autodetect: ask the system's resolver first (asynchronously);
        // the scheduler starts the file when the answer is in. Files of the same origin
        // reuse the answer for a minute.
        var systemProxy: String?? = nil
        if [.preconfig, .autodetect].contains(job.options.proxyUsage), let resolver = proxyResolver,
           !file.remoteName.lowercased().hasPrefix("file:") {
            let origin = Self.origin(of: file.remoteName)
            if let cached = runtime[id]?.systemProxy, cached.origin == origin,
               cached.at.duration(to: clock.now) < .seconds(60) {
                systemProxy = .some(cached.proxy)
            } else {
                guard runtime[id]?.resolvingProxy == false else { return }
                runtime[id]?.resolvingProxy = true
                let url = file.remoteName
                Task { [weak self] in
                    let proxy = await resolver(url)
                    await self?.proxyResolved(id, origin: origin, proxy)
                }
                return
            }
        }
        let request: DownloadRequest
        var descriptors: [Int32] = []
        do {
            let owner = try identity(of: job.owner)
            let (fd, length) = try files.openTemporary(file.temporaryName, owner: owner)
            descriptors.append(fd)
            // Resume from the bytes on disk only when the server's validators are known,
            // and never for dynamic content or a custom method (BITS restarts those).
            let canResume = length > 0 && (file.entityTag != nil || file.lastModifiedText != nil)
                && !job.options.dynamicContent && !job.options.usesCustomMethod
            let offset = canResume ? length : 0
            if !canResume && length > 0 { ftruncate(fd, 0) }
            let url = try InputValidation.downloadURL(file.remoteName)
            let source: TransferSource
            if url.scheme == "file" {
                let (sourceFD, size) = try files.openSource(url.path, owner: owner)
                descriptors.append(sourceFD)
                source = .localFile(descriptor: sourceFD, size: size)
            } else {
                source = .url(file.remoteName)
            }
            let transferID = nextTransferID
            nextTransferID += 1
            var http = try TransferOptions(files: files).http(for: job, fileIndex: index, owner: owner)
            if case let .some(.some(proxy)) = systemProxy { http.proxy = .explicit(url: proxy, bypass: "") }
            request = DownloadRequest(id: transferID, source: source, destinationDescriptor: fd,
                                      resumeOffset: offset,
                                      ifRange: offset > 0 ? (file.entityTag ?? file.lastModifiedText) : nil,
                                      headers: url.scheme == "file" ? [] : job.options.customHeaders,
                                      maxBytesPerSecond: rateLimit(for: job),
                                      http: http)
            if offset != file.bytesTransferred {
                job.files[index].bytesTransferred = offset
                observer?.fileChanged(job, index: index, properties: [.bytesTransferred])
            }
        } catch {
            for fd in descriptors { close(fd) }
            let failure: TransferFailure
            if let serviceError = error as? ServiceError {
                failure = serviceError.name == .accessDenied
                    ? .localAccessDenied(serviceError.message)
                    : (serviceError.name == .invalidArgs ? .sourceNotFound(serviceError.message) : .localIO(serviceError.message))
            } else {
                failure = .localIO("\(error)")
            }
            jobs[id] = job
            fail(id, fileIndex: index, failure: failure)
            return
        }
        transfers[request.id] = ActiveTransfer(jobID: id, fileIndex: index, descriptors: descriptors)
        runtime[id]?.transfer = request.id
        if runtime[id]?.runningSince == nil {
            runtime[id]?.runningSince = clock.now
            if job.priority.isBackground {
                // Give an equal-priority job its turn when this slice ends.
                let slice = Duration.seconds(Int64(config.timeSlice))
                Task { [weak self] in
                    try? await Task.sleep(for: slice)
                    await self?.schedule()
                }
            }
        }
        var changed: Set<JobProperty> = []
        if job.state != .connecting { changed = enter(.connecting, job: &job) }
        jobs[id] = job
        if !changed.isEmpty { observer?.jobChanged(job, properties: changed.union([.bytesTransferred])) }
        engine.start(request)
    }

    /// The system proxy lookup for a job's next file finished: start it if still wanted.
    func proxyResolved(_ id: JobID, origin: String, _ proxy: String?) {
        runtime[id]?.resolvingProxy = false
        runtime[id]?.systemProxy = ResolvedProxy(origin: origin, proxy: proxy, at: clock.now)
        schedule()
    }

    /// `scheme://host:port` of a URL (the whole string when it does not parse).
    static func origin(of url: String) -> String {
        guard let components = URLComponents(string: url) else { return url }
        return "\(components.scheme ?? "")://\(components.host ?? ""):\(components.port.map(String.init) ?? "")"
    }

    /// Asks the engine to stop a job's transfer; its descriptors close when the end arrives.
    func stopTransfer(of id: JobID) {
        runtime[id]?.runningSince = nil
        guard let transferID = runtime[id]?.transfer else { return }
        runtime[id]?.transfer = nil
        runtime[id]?.stopping.insert(transferID)
        engine.cancel(id: transferID)
    }

    // MARK: - Engine events

    func handle(_ event: EngineEvent) {
        switch event {
        case .response(let tid, _), .progress(let tid, _), .ended(let tid, _):
            if transfers[tid]?.isReply == true { return handleReplyEvent(event) }
        case .exchanged:
            break
        }
        switch event {
        case .response(let tid, let info): handleResponse(tid, info)
        case .progress(let tid, let bytes): handleProgress(tid, bytes)
        case .ended(let tid, let outcome): handleEnd(tid, outcome)
        case .exchanged(let tid, let outcome): handleExchange(tid, outcome)
        }
    }

    /// The transfer is current for its job (not stopped meanwhile).
    private func current(_ tid: TransferID) -> ActiveTransfer? {
        guard let active = transfers[tid], runtime[active.jobID]?.transfer == tid else { return nil }
        return active
    }

    private func handleResponse(_ tid: TransferID, _ info: ResponseInfo) {
        guard let active = current(tid), var job = jobs[active.jobID] else { return }
        let i = active.fileIndex
        job.files[i].bytesTotal = info.totalSize
        job.files[i].bytesTransferred = info.writeOffset
        job.files[i].entityTag = info.entityTag
        job.files[i].lastModifiedText = info.lastModifiedText
        job.files[i].lastModified = info.lastModifiedMicroseconds
        job.files[i].responseHeaders = info.headerBlock
        var fileChanged: Set<FileProperty> = [.bytesTotal, .bytesTransferred, .lastModified, .responseHeaders]
        if job.options.redirectPolicy == .allowReport, !info.effectiveURL.isEmpty,
           info.effectiveURL != job.files[i].remoteName {
            job.files[i].remoteName = info.effectiveURL
            fileChanged.insert(.remoteName)
        }
        // Sizes are progress counters: coalesced with the rest of the progress.
        fileChanged.subtract([.bytesTotal, .bytesTransferred])
        var changed: Set<JobProperty> = []
        if job.state == .connecting { changed = enter(.transferring, job: &job) }
        jobs[job.id] = job
        observer?.fileChanged(job, index: i, properties: fileChanged)
        if !changed.isEmpty { observer?.jobChanged(job, properties: changed) }
        runtime[job.id]?.dirtyFiles.insert(i)
        noteProgress(job.id)
        // Validators are written with the next checkpoint: until then the stored offset is
        // the old one, which the old validators (or a restart from 0) still cover.
        checkpointProgress(job.id)
    }

    private func handleProgress(_ tid: TransferID, _ bytes: UInt64) {
        guard let active = current(tid), var job = jobs[active.jobID] else { return }
        let bytes = active.progressBase + bytes
        guard job.files[active.fileIndex].bytesTransferred != bytes else { return }
        job.files[active.fileIndex].bytesTransferred = bytes
        if job.state == .connecting {
            let changed = enter(.transferring, job: &job)
            jobs[job.id] = job
            observer?.jobChanged(job, properties: changed)
        }
        jobs[job.id] = job
        runtime[job.id]?.noProgressSince = nil
        runtime[job.id]?.dirtyFiles.insert(active.fileIndex)
        noteProgress(job.id)
        checkpointProgress(job.id)
    }

    private func handleEnd(_ tid: TransferID, _ outcome: TransferOutcome) {
        guard let active = transfers.removeValue(forKey: tid) else { return }
        let isCurrent = runtime[active.jobID]?.transfer == tid
        runtime[active.jobID]?.stopping.remove(tid)
        defer { for fd in active.descriptors { close(fd) } }
        guard isCurrent, var job = jobs[active.jobID] else {
            // A stopped transfer ended: record how far it got, then let the job continue.
            if var job = jobs[active.jobID], !job.state.isFinal, case let .cancelled(bytes) = outcome,
               job.files.indices.contains(active.fileIndex), !job.files[active.fileIndex].completed {
                job.files[active.fileIndex].bytesTransferred = bytes
                jobs[job.id] = job
            }
            if jobs[active.jobID]?.state.isActive == true { Task { self.schedule() } }
            return
        }
        runtime[job.id]?.transfer = nil
        let i = active.fileIndex
        if case .finished = outcome {} else { runtime[job.id]?.runningSince = nil }
        switch outcome {
        case .finished(let bytes):
            let fd = active.descriptors[0]
            // Flushed in the background while the next file downloads; Complete waits for it.
            flusher.flush(fd)
            if job.files[i].lastModified > 0 {
                let seconds = job.files[i].lastModified / 1_000_000
                let micros = job.files[i].lastModified % 1_000_000
                var times = [timespec(tv_sec: Int(seconds), tv_nsec: Int(micros * 1000)),
                             timespec(tv_sec: Int(seconds), tv_nsec: Int(micros * 1000))]
                futimens(fd, &times)
            }
            job.files[i].bytesTransferred = bytes
            if job.files[i].bytesTotal == nil { job.files[i].bytesTotal = bytes }
            job.files[i].completed = true
            jobs[job.id] = job
            runtime[job.id]?.noProgressSince = nil
            runtime[job.id]?.dirtyFiles.insert(i)
            observer?.fileChanged(job, index: i, properties: [.completed])
            observer?.fileTransferred(job, index: i)
            noteProgress(job.id)
            logger.debug("job \(job.id): file \(i) transferred (\(bytes) bytes)")
            if job.files.count == 1 || i == job.files.count - 1 || store == nil {
                persistQuietly(job.id)
            } else {
                checkpointProgress(job.id)
            }
            startNextFile(of: job.id)
            if jobs[job.id]?.state == .transferred { schedule() }
        case .failed(let failure, let bytes):
            job.files[i].bytesTransferred = bytes
            jobs[job.id] = job
            fail(job.id, fileIndex: i, failure: failure)
        case .cancelled(let bytes):
            job.files[i].bytesTransferred = bytes
            jobs[job.id] = job
        }
    }

    // MARK: - Errors and retries

    /// Records a failed attempt: the last error, the count, and `error` or `transient-error`
    /// with a retry after MinimumRetryDelay (or the server's Retry-After when longer).
    func fail(_ id: JobID, fileIndex: Int?, failure: TransferFailure) {
        guard var job = jobs[id] else { return }
        let classified = FailureClassifier.classify(failure)
        let error = JobError(context: classified.context, code: classified.code,
                             description: classified.description, fileIndex: fileIndex)
        job.lastError = error
        job.errorCount += 1
        let disposition = job.options.usesCustomMethod ? .fatal : classified.disposition
        var next = JobStateMachine.stateAfterFailure(disposition, noProgressTimeout: job.noProgressTimeout)
        var rt = runtime[id] ?? Runtime()
        let now = clock.now
        if next == .transientError {
            let since = rt.noProgressSince ?? now
            rt.noProgressSince = since
            if since.duration(to: now) >= .seconds(Int64(job.noProgressTimeout)) {
                next = .error
                job.lastError = JobError(context: classified.context, code: .noProgress,
                                         description: "No progress for \(job.noProgressTimeout) seconds; the last error was: \(classified.description)",
                                         fileIndex: fileIndex)
            }
        }
        var changed = enter(next, job: &job)
        changed.formUnion(JobProperty.errorProperties)
        changed.formUnion([.bytesTransferred, .modificationTime])
        job.modificationTime = Self.now()
        jobs[id] = job
        persistQuietly(id)
        logger.notice("job \(id): \(next.rawValue) \(error.code.rawValue): \(error.description)")
        observer?.jobChanged(job, properties: changed)
        if let fileIndex { observer?.fileChanged(job, index: fileIndex, properties: [.bytesTransferred]) }
        if next == .error {
            observer?.jobFailed(job, error: job.lastError ?? error)
            notifyCommand(id)
        } else {
            let delay = Duration.seconds(Int64(max(job.minimumRetryDelay, classified.retryAfterSeconds ?? 0)))
            // If NoProgressTimeout runs out before the retry, the job fails at that moment.
            let remaining = Duration.seconds(Int64(job.noProgressTimeout)) - (rt.noProgressSince ?? now).duration(to: now)
            rt.retryTask?.cancel()
            rt.retryTask = Task { [weak self] in
                try? await Task.sleep(for: min(delay, remaining))
                guard !Task.isCancelled else { return }
                if remaining <= delay { await self?.giveUp(id) } else { await self?.retry(id) }
            }
        }
        runtime[id] = rt
        schedule()
    }

    /// NoProgressTimeout ran out while the job waited to retry: the last error becomes fatal.
    func giveUp(_ id: JobID) {
        guard var job = jobs[id], job.state == .transientError else { return }
        let last = job.lastError
        job.lastError = JobError(context: last?.context ?? .unknown, code: .noProgress,
                                 description: "No progress for \(job.noProgressTimeout) seconds; the last error was: \(last?.description ?? "unknown")",
                                 fileIndex: last?.fileIndex)
        var changed = enter(.error, job: &job)
        changed.formUnion(JobProperty.errorProperties)
        jobs[id] = job
        persistQuietly(id)
        logger.notice("job \(id): error no-progress")
        observer?.jobChanged(job, properties: changed)
        observer?.jobFailed(job, error: job.lastError!)
        notifyCommand(id)
    }

    /// MinimumRetryDelay elapsed: a job still in transient-error is queued again.
    func retry(_ id: JobID) {
        guard var job = jobs[id], job.state == .transientError else { return }
        let changed = enter(.queued, job: &job)
        jobs[id] = job
        persistQuietly(id)
        observer?.jobChanged(job, properties: changed)
        schedule()
    }

    // MARK: - Progress notifications

    func monotonicMilliseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec / 1_000_000)
    }

    /// Progress changed: publish now, or once the job's MinimumNotificationInterval allows.
    func noteProgress(_ id: JobID) {
        guard let job = jobs[id], var rt = runtime[id] else { return }
        let decision = rt.throttle.changed(now: monotonicMilliseconds(), interval: job.minimumNotificationInterval)
        runtime[id] = rt
        switch decision {
        case .some(0): publishProgress(id)
        case .some(let wait):
            Task { [weak self] in
                try? await Task.sleep(for: .milliseconds(Int64(wait)))
                await self?.flushProgress(id)
            }
        case .none: break
        }
    }

    func flushProgress(_ id: JobID) {
        guard runtime[id] != nil else { return }
        runtime[id]?.throttle.flush(now: monotonicMilliseconds())
        publishProgress(id)
    }

    /// Publishes the coalesced progress counters of a job and its changed files.
    private func publishProgress(_ id: JobID) {
        guard let job = jobs[id], let dirty = runtime[id]?.dirtyFiles, !dirty.isEmpty else { return }
        runtime[id]?.dirtyFiles = []
        for index in dirty.sorted() where job.files.indices.contains(index) {
            observer?.fileChanged(job, index: index, properties: [.bytesTotal, .bytesTransferred])
        }
        observer?.jobChanged(job, properties: [.bytesTotal, .bytesTransferred, .filesTransferred])
    }
}
