import BitsCore
import BitsSystem
import BitsTransfer

extension QueueManager {
    // MARK: - Scheduling

    /// Starts and stops transfers so that exactly the jobs the scheduler picks are running.
    func schedule() {
        let now = clock.now
        let slice = Duration.seconds(Int64(config.timeSlice))
        var candidates: [Scheduler.Candidate] = []
        for entry in table.all where entry.job.state.isActive {
            let (job, rt) = (entry.job, entry.runtime)
            // A Complete or TakeOwnership at its files (off this actor) decides what comes next.
            if rt.busyWithFiles { continue }
            if let reason = blockReason(for: job) {
                block(job.id, reason)
                continue
            }
            let requests = rt.requests
            candidates.append(Scheduler.Candidate(id: job.id, priority: job.priority,
                                                  queuedSequence: rt.queuedSequence,
                                                  running: requests.isRunning || rt.preparingStep,
                                                  sliceExpired: job.priority.isBackground && requests.sliceExpired(now: now, slice: slice)))
        }
        let selected = Scheduler.select(candidates)
        for candidate in candidates where candidate.running && !selected.contains(candidate.id) {
            stopTransfer(of: candidate.id)
            transition(candidate.id, persist: false) { controller, moment, sequence in
                controller.job.state == .queued ? nil : controller.enter(.queued, at: moment, sequence: &sequence)
            }
        }
        // A job whose next step waits for the file workers is running, not idle.
        for id in selected where (table[id]?.runtime.requests.isIdle ?? true) && table[id]?.runtime.preparingStep != true {
            startNextFile(of: id)
        }
    }

    /// Opens the next unfinished file of a job (as the owner) and hands it to the engine.
    func startNextFile(of id: JobID) {
        guard var job = table[id]?.job else { return }
        guard let index = job.nextFileIndex else {
            flushProgress(id)  // final counters go out before the state change
            transition(id, persist: true) { $0.enter(.transferred, at: $1, sequence: &$2) }
            if let job = table[id]?.job { observer?.jobTransferred(job) }
            notifyCommand(id)
            return
        }
        if job.type != .download {
            startUpload(id, fileIndex: index)
            return
        }
        // ProxyUsage preconfig/autodetect: ask the system's resolver first (asynchronously);
        // the scheduler starts the file when the answer is in. Files of the same origin
        // reuse the answer for a minute.
        let systemProxy: String??
        switch cachedSystemProxy(for: job, index: index) {
        case .known(let proxy):
            systemProxy = proxy
        case .unknown(let origin):
            guard table[id]?.runtime.resolvingProxy == false, let resolver = proxyResolver else { return }
            table[id]?.runtime.resolvingProxy = true
            let url = job.files[index].remoteName
            Task { [weak self] in
                let proxy = await resolver(url)
                await self?.proxyResolved(id, origin: origin, proxy)
            }
            return
        }
        // The files are opened on the file workers; the scheduler comes back when they are.
        guard let opened = takeOpened(id, index: index), !reopenIfStale(id, index: index, opened, in: job) else { return }
        let prepared: PreparedDownload
        switch prepareDownload(&job, index: index, systemProxy: systemProxy, opened: opened) {
        case .success(let value):
            prepared = value
        case .failure(let failure):
            table[id]?.job = job
            fail(id, fileIndex: index, failure: failure)
            return
        }
        let request = prepared.request
        transfers[request.id] = ActiveTransfer(jobID: id, fileIndex: index, files: prepared.files)
        began(request.id, of: id)
        var changed: Set<JobProperty> = []
        if job.state != .connecting { changed = enter(.connecting, job: &job) }
        table[id]?.job = job
        if !changed.isEmpty { observer?.jobChanged(job, properties: changed.union([.bytesTransferred])) }
        engine.start(request)
        queueFollowingFiles(of: id)
    }

    /// Request `tid` becomes job `id`'s current one. When that begins a running stretch of a
    /// background job, the scheduler looks again when the time slice ends, so that an
    /// equal-priority job gets its turn (downloads, upload packets and replies alike).
    func began(_ tid: TransferID, of id: JobID) {
        guard table[id]?.runtime.requests.started(tid, now: clock.now) == true,
              table[id]?.job.priority.isBackground == true else { return }
        after(.seconds(Int64(config.timeSlice))) { $0.schedule() }
    }

    /// How many files of a job are handed to the engine ahead of the one in flight.
    static let filesQueuedAhead = 4

    /// Prepares the files after the one in flight and hands them to the engine to start one
    /// after the other the moment the one before finishes: consecutive files then follow each
    /// other on the engine thread (over the same connection) instead of waiting for this actor
    /// in between. Only for HTTP(S) downloads whose proxy answer is at hand; a file that
    /// cannot be prepared now is simply started the usual way when its turn comes. Any change
    /// to the job discards the queued requests (`discardQueuedFiles`).
    func queueFollowingFiles(of id: JobID) {
        while var job = table[id]?.job, job.type == .download, let requests = table[id]?.runtime.requests,
              requests.queued.count < Self.filesQueuedAhead, requests.isRunning, let predecessor = requests.last {
            guard let previousIndex = transfers[predecessor]?.fileIndex,
                  let index = job.files.indices.dropFirst(previousIndex + 1).first(where: { !job.files[$0].completed }),
                  !job.files[index].remoteName.hasPrefixIgnoringASCIICase("file:"),
                  case .known(let systemProxy) = cachedSystemProxy(for: job, index: index)
            else { return }
            guard isOpened(id, index: index) else {
                // Open this file and the next few in one go; the files come back here.
                let following = job.files.indices.dropFirst(index).filter { !job.files[$0].completed }
                requestOpen(id, indices: Array(following.prefix(Self.filesQueuedAhead)))
                return
            }
            guard case .success(let opened)? = takeOpened(id, index: index),
                  !reopenIfStale(id, index: index, .success(opened), in: job),
                  case .success(let prepared) = prepareDownload(&job, index: index, systemProxy: systemProxy, opened: .success(opened))
            else { return }
            table[id]?.job = job
            transfers[prepared.request.id] = ActiveTransfer(jobID: id, fileIndex: index, files: prepared.files)
            table[id]?.runtime.requests.queue(prepared.request.id)
            engine.start(prepared.request, after: predecessor)
        }
    }

    /// A temporary file opened with bytes in it for a file that can no longer resume from them
    /// (its validators or the job's settings changed since the open was asked for) is not
    /// emptied here: ftruncate can block on the file's file system. It is closed and opened
    /// again on the file workers, which empty it (`OpenOrder.restartsFromZero`); true then.
    func reopenIfStale(_ id: JobID, index: Int, _ opened: Result<OpenedFile, ServiceError>, in job: Job) -> Bool {
        guard job.type == .download, case .success(let file) = opened, file.length > 0,
              !Self.canResume(job.files[index], in: job) else { return false }
        // `file` closes as it is dropped.
        requestOpen(id, indices: [index])
        return true
    }

    /// Begins a step of a job's transfer that waits for the file workers (`preparingStep`);
    /// returns its token and the job's open generation, for `endStep`.
    func beginStep(_ id: JobID) -> (token: Int, generation: Int) {
        table[id]?.runtime.preparingStep = true
        table[id]?.runtime.stepGeneration += 1
        return (table[id]?.runtime.stepGeneration ?? 0, table[id]?.runtime.openGeneration ?? 0)
    }

    /// The file work of a step is back: true when the step is still wanted (it is then over
    /// and the caller goes on with the transfer). A step the job was stopped in was ended by
    /// `stopTransfer`; one whose job changed meanwhile (`openGeneration`, the settings it
    /// was prepared with) ends here with its upload run, and the job is scheduled again.
    func endStep(_ id: JobID, _ step: (token: Int, generation: Int)) -> Bool {
        guard table[id]?.runtime.preparingStep == true, table[id]?.runtime.stepGeneration == step.token else { return false }
        table[id]?.runtime.preparingStep = false
        guard table[id]?.runtime.openGeneration == step.generation else {
            endUploadRun(id)
            schedule()
            return false
        }
        return true
    }

    /// Cancels the requests queued behind a job's current transfer (their ends close them).
    func discardQueuedFiles(of id: JobID) {
        closeOpenedFiles(of: id)
        for tid in table[id]?.runtime.requests.discardQueued() ?? [] { engine.cancel(id: tid) }
    }

    /// The system proxy for a file: `.known` (an optional proxy URL, `.none` meaning "not
    /// asked": the job's own ProxyUsage applies) or `.unknown` when the resolver must be asked.
    private enum SystemProxyAnswer { case known(String??), unknown(origin: String) }

    private func cachedSystemProxy(for job: Job, index: Int) -> SystemProxyAnswer {
        let remote = job.files[index].remoteName
        guard [.preconfig, .autodetect].contains(job.options.proxyUsage), proxyResolver != nil,
              !remote.hasPrefixIgnoringASCIICase("file:") else { return .known(nil) }
        let origin = RemoteURL(remote)?.origin ?? remote
        if let cached = table[job.id]?.runtime.systemProxy, cached.origin == origin,
           cached.at.duration(to: clock.now) < .seconds(60) {
            return .known(.some(cached.proxy))
        }
        return .unknown(origin: origin)
    }

    /// A download request ready for the engine and the descriptors it uses.
    struct PreparedDownload {
        let request: DownloadRequest
        let files: HeldDescriptors
    }

    /// Opens file `index` of a download job as its owner (its temporary file, and the source
    /// of a file:// URL) and builds the engine request, resuming from the bytes on disk when
    /// the server's validators are known. Updates the file's BytesTransferred to match.
    private func prepareDownload(_ job: inout Job, index: Int, systemProxy: String??,
                                 opened: Result<OpenedFile, ServiceError>) -> Result<PreparedDownload, TransferFailure> {
        let file = job.files[index]
        do {
            let files = try opened.get()
            let (fd, length) = (files.fd, files.length)
            // The file workers emptied a file that cannot resume (`OpenOrder.restartsFromZero`),
            // or it was opened again for that (`reopenIfStale`).
            let canResume = length > 0 && Self.canResume(file, in: job)
            let offset = canResume ? length : 0
            var hasher = files.hasher
            if !canResume && length > 0 {
                // The bytes on disk are written over from 0 (`reopenIfStale` empties such a file
                // before it gets here): the hash starts over too.
                hasher = StreamHasher(sha512: file.expectedHash?.algorithm == .sha512)
            }
            let url = try InputValidation.downloadURL(file.remoteName)
            let source: TransferSource
            if url.scheme == "file" {
                guard let sourceFD = files.source else {
                    throw ServiceError(.failed, "The source of file \(index) was not opened.")
                }
                source = .localFile(descriptor: sourceFD, size: files.sourceSize)
            } else {
                source = .url(file.remoteName)
            }
            let transferID = transfers.newID()
            var http = TransferOptions().http(for: job, fileIndex: index, certificate: files.certificate)
            if case let .some(.some(proxy)) = systemProxy { http.proxy = .explicit(url: proxy, bypass: "") }
            let request = DownloadRequest(id: transferID, source: source, destinationDescriptor: fd,
                                          resumeOffset: offset,
                                          ifRange: offset > 0 ? (file.entityTag ?? file.lastModifiedText) : nil,
                                          headers: url.scheme == "file" ? [] : job.options.customHeaders,
                                          maxBytesPerSecond: rateLimit(for: job),
                                          http: http, hasher: hasher)
            job.files[index].durableBytes = file.durableBytes.map { min($0, offset) }
            if offset != file.bytesTransferred {
                job.files[index].bytesTransferred = offset
                observer?.fileChanged(job, index: index, properties: [.bytesTransferred])
            }
            return .success(PreparedDownload(request: request, files: files.held))
        } catch {
            if let serviceError = error as? ServiceError {
                if serviceError.jobErrorCode == .notARegularFile { return .failure(.notRegularFile(serviceError.message)) }
                return .failure(serviceError.name == .accessDenied
                    ? .localAccessDenied(serviceError.message)
                    : (serviceError.name == .invalidArgs ? .sourceNotFound(serviceError.message) : .localIO(serviceError.message)))
            }
            return .failure(.localIO("\(error)"))
        }
    }

    /// The system proxy lookup for a job's next file finished: start it if still wanted.
    func proxyResolved(_ id: JobID, origin: String, _ proxy: String?) {
        table[id]?.runtime.resolvingProxy = false
        table[id]?.runtime.systemProxy = ResolvedProxy(origin: origin, proxy: proxy, at: clock.now)
        schedule()
    }

    /// Asks the engine to stop a job's transfer; its descriptors close when the end arrives.
    func stopTransfer(of id: JobID) {
        discardQueuedFiles(of: id)  // also makes a step in flight stale (`openGeneration`)
        if table[id]?.runtime.preparingStep == true {
            table[id]?.runtime.preparingStep = false
            endUploadRun(id)
        }
        guard let transferID = table[id]?.runtime.requests.stopCurrent() else { return }
        engine.cancel(id: transferID)
    }

    // MARK: - Engine events

    func handle(_ event: EngineEvent) {
        switch event {
        case .response(let tid, _), .progress(let tid, _), .ended(let tid, _):
            if transfers[tid]?.isReply == true { return handleReplyEvent(event) }
        case .exchanged, .hashed:
            break
        }
        switch event {
        case .response(let tid, let info): handleResponse(tid, info)
        case .progress(let tid, let bytes): handleProgress(tid, bytes)
        case .hashed(let tid, let digests): transfers[tid]?.digests = digests
        case .ended(let tid, let outcome): handleEnd(tid, outcome)
        case .exchanged(let tid, let outcome): handleExchange(tid, outcome)
        }
    }

    /// The transfer is current for its job (not stopped meanwhile).
    private func current(_ tid: TransferID) -> ActiveTransfer? {
        guard let active = transfers[tid], table[active.jobID]?.runtime.requests.current == tid else { return nil }
        return active
    }

    private func handleResponse(_ tid: TransferID, _ info: ResponseInfo) {
        guard let active = current(tid), table[active.jobID] != nil else { return }
        let id = active.jobID
        transfers[tid]?.announced = info.digests
        let moment = self.moment
        guard let transition = table[id]?.responded(info, file: active.fileIndex, at: moment, sequence: &nextQueueSequence)
        else { return }
        published(id, transition, persist: false)
        noteProgress(id)
        // Validators are written with the next checkpoint: at once for a large file, a moment
        // from now for a small one (a file still downloading then can be resumed after a crash,
        // as If-Range needs them; a file done by then is stored with its end anyway).
        let large = (info.totalSize ?? .max) >= Self.largeFileSize
        let interval = Self.progressCheckpointInterval - (large ? .zero : Self.validatorCheckpointDelay)
        if let last = table[id]?.runtime.lastCheckpoint, last.duration(to: clock.now) < interval {
            table[id]?.runtime.lastCheckpoint = clock.now - interval
        }
        checkpointProgress(id)
    }

    private func handleProgress(_ tid: TransferID, _ bytes: UInt64) {
        guard let active = current(tid) else { return }
        let id = active.jobID
        let bytes = active.progressBase.addingSaturating(bytes)
        let moment = self.moment
        guard let transition = table[id]?.progressed(bytes, file: active.fileIndex, at: moment, sequence: &nextQueueSequence)
        else { return }
        published(id, transition, persist: false)
        noteProgress(id)
        checkpointProgress(id)
    }

    private func handleEnd(_ tid: TransferID, _ outcome: TransferOutcome) {
        guard let active = transfers.end(tid) else { return }
        let id = active.jobID, i = active.fileIndex
        var outcome = outcome
        var refetch = false
        var emptied: FileDescriptor?
        if case .finished = outcome, let verdict = table[id]?.judgeHash(file: i, digests: active.digests, announced: active.announced) {
            // A file that fails its hash is never completed (nor published): fetched once more
            // from 0, then the job fails.
            switch verdict {
            case .verified:
                break
            case .refetch(let mismatch):
                logger.notice("job \(id): \(mismatch)")
                refetch = true
            case .fail(let mismatch):
                logger.notice("job \(id): \(mismatch)")
                outcome = .failed(.hashMismatch(mismatch), bytesOnDisk: 0)
                // A HighPerformance file is its own destination, which Complete leaves in place:
                // emptied now, so that what failed its hash is never there under its name.
                // (A temporary file is emptied when it is opened again, and Complete deletes it.)
                if table[id]?.job.options.highPerformance == true, let fd = active.files?.numbers.first {
                    emptied = active.files?.take(fd)
                }
            }
        }
        let isCurrent = table[id]?.runtime.requests.ended(tid) ?? false
        // The transfer's descriptors close on a file worker as `active` goes (but the finished
        // file's, which the flusher takes).
        if let emptied = emptied.take() { closeEmptied(emptied) }
        guard isCurrent, table[id] != nil else {
            // A stopped transfer ended: record how far it got, then let the job continue.
            if table[id]?.job.state.isFinal == false, case let .cancelled(bytes) = outcome {
                table[id]?.stopped(file: i, bytes: bytes)
            }
            if table[id]?.job.state.isActive == true { Task { self.schedule() } }
            return
        }
        if case .finished = outcome {} else {
            table[id]?.runtime.requests.stoppedRunning()
            discardQueuedFiles(of: id)  // the engine ends it unstarted; this is for the record
        }
        switch outcome {
        case .finished where refetch:
            let job = table[id]!.job
            observer?.fileChanged(job, index: i, properties: FileProperty.progress.union([.hash]))
            noteProgress(id)
            persistQuietly(id)
            if table[id]?.runtime.requests.promoteQueued() != nil {
                queueFollowingFiles(of: id)  // this file comes again after them
            } else if table[id]?.runtime.requests.stopping.isEmpty ?? true {
                startNextFile(of: id)
            }
        case .finished(let bytes):
            let lastModified = table[id]!.job.files[i].lastModified
            let modified = lastModified > 0
                ? FileTime(seconds: Int64(lastModified / 1_000_000), nanoseconds: Int(lastModified % 1_000_000 * 1000)) : nil
            // Its times set and made durable in the background (off this actor) while the next
            // files download; Complete waits for what is left.
            if let fd = active.files?.numbers.first, let finished = active.files?.take(fd) {
                flusher.flush(adopting: finished, tag: Self.flushTag(id, file: i), modified: modified)
            }
            let published = table[id]?.finished(file: i, bytes: bytes, sha256: active.digests?.sha256) ?? []
            let job = table[id]!.job
            observer?.fileChanged(job, index: i, properties: published)
            observer?.fileTransferred(job, index: i)
            noteProgress(id)
            logger.debug("job \(id): file \(i) transferred (\(bytes) bytes)")
            let lastFile = job.nextFileIndex == nil
            if store == nil || (lastFile && !(table[id]?.runtime.requests.stopping.isEmpty ?? true)) {
                persistQuietly(id)
            } else if !lastFile {
                checkpointProgress(id)
            }  // else the job is now transferred: startNextFile below stores it once, as such
            if table[id]?.runtime.requests.promoteQueued() != nil {
                // The engine started the first queued file as this one finished.
                queueFollowingFiles(of: id)
            } else if table[id]?.runtime.requests.stopping.isEmpty ?? true {
                startNextFile(of: id)
                if table[id]?.job.state == .transferred { schedule() }
            }  // else the end of the stopped transfer schedules the job again
        case .failed(let failure, let bytes):
            table[id]?.stopped(file: i, bytes: bytes)
            fail(id, fileIndex: i, failure: failure)
        case .cancelled(let bytes):
            table[id]?.stopped(file: i, bytes: bytes)
        }
    }

    // MARK: - Errors and retries

    /// Records a failed attempt (`JobController.fail`): `error`, or `transient-error` with a
    /// retry after MinimumRetryDelay (or the server's Retry-After when longer) or, when
    /// NoProgressTimeout runs out first, a give-up at that moment.
    func fail(_ id: JobID, fileIndex: Int?, failure: TransferFailure) {
        guard var controller = controller(id) else { return }
        let result = controller.fail(failure, fileIndex: fileIndex, at: moment, sequence: &nextQueueSequence)
        let job = controller.job
        logger.notice("job \(id): \(job.state.rawValue) \(result.attempt.code.rawValue): \(result.attempt.description)")
        commit(controller, result.transition, persist: true)
        if let fileIndex { observer?.fileChanged(job, index: fileIndex, properties: [.bytesTransferred]) }
        switch result.plan {
        case nil, .timedOut?:
            observer?.jobFailed(job, error: result.error)
            notifyCommand(id)
        case .retry(let delay)?:
            table[id]?.runtime.timers.armRetry(after(delay) { $0.retry(id) })
        case .giveUp(let remaining)?:
            table[id]?.runtime.timers.armRetry(after(remaining) { $0.giveUp(id) })
        }
        schedule()
    }

    /// NoProgressTimeout ran out while the job waited to retry: the last error becomes fatal.
    func giveUp(_ id: JobID) {
        guard transition(id, persist: true, { $0.giveUp(at: $1, sequence: &$2) }), let job = table[id]?.job else { return }
        logger.notice("job \(id): error no-progress")
        if let error = job.lastError { observer?.jobFailed(job, error: error) }
        notifyCommand(id)
    }

    /// MinimumRetryDelay elapsed: a job still in transient-error is queued again.
    func retry(_ id: JobID) {
        guard transition(id, persist: true, { $0.requeue(at: $1, sequence: &$2) }) else { return }
        schedule()
    }

    // MARK: - Progress notifications

    /// Milliseconds of the monotonic clock since the queue manager started (plus a day, so
    /// that the first notification of a job is never held back).
    func monotonicMilliseconds() -> UInt64 {
        let elapsed = clockOrigin.duration(to: clock.now).components
        return 86_400_000 + UInt64(max(elapsed.seconds, 0)) * 1000 + UInt64(max(elapsed.attoseconds, 0) / 1_000_000_000_000_000)
    }

    /// Progress changed: publish now, or once the job's MinimumNotificationInterval allows.
    func noteProgress(_ id: JobID) {
        guard let interval = table[id]?.job.minimumNotificationInterval,
              let decision = table[id]?.runtime.progress.changed(now: monotonicMilliseconds(), interval: interval) else { return }
        switch decision {
        case .publishNow: publishProgress(id)
        case .publishAfter(let wait): after(.milliseconds(Int64(wait))) { $0.flushProgress(id) }
        case .alreadyScheduled: break
        }
    }

    func flushProgress(_ id: JobID) {
        guard table[id] != nil else { return }
        table[id]?.runtime.progress.flush(now: monotonicMilliseconds())
        publishProgress(id)
    }

    /// Publishes the coalesced progress counters of a job and its changed files.
    private func publishProgress(_ id: JobID) {
        guard var controller = controller(id), let files = controller.runtime.progress.take() else { return }
        controller.measureRate(now: monotonicMilliseconds())
        let job = controller.job
        table[id] = controller
        for (index, properties) in files where job.files.indices.contains(index) {
            observer?.fileChanged(job, index: index, properties: properties)
        }
        observer?.jobChanged(job, properties: JobProperty.rate.union([.bytesTotal, .bytesTransferred, .filesTransferred]))
    }
}
