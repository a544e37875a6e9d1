import BitsCore
import BitsSystem
import BitsTransfer

/// Upload jobs over the BITS Upload Protocol ([MC-BUP], bits-reference §6.3): Ping,
/// Create-Session, Fragments from the server's received offset, Close-Session; Cancel-Session
/// when the job is cancelled. One packet at a time, each an engine exchange; the protocol's
/// rules (headers, Acks, error mapping, fragment sizes) are `UploadProtocol`'s.
extension QueueManager {
    /// The upload running for a job: its source descriptor (opened as the owner), the
    /// protocol's state (`UploadSession`: the packet in flight, the fragment sizer), when the
    /// packet went out and the HTTP options.
    struct UploadRun {
        /// The source (held until the run ends) and its number.
        let source: HeldDescriptors
        var descriptor: Int32 { source.numbers[0] }
        var session: UploadSession
        var sentAt: ContinuousClock.Instant
        var http: HTTPOptions
    }

    /// The protocol's view of an upload job's file.
    func uploadFile(_ job: Job, _ index: Int) -> UploadSession.File? {
        guard let state = job.files[index].upload else { return nil }
        return UploadSession.File(state: state, acknowledged: job.files[index].bytesTransferred,
                                  remoteName: job.files[index].remoteName,
                                  expectsReply: job.type == .uploadReply && job.reply?.done != true)
    }

    /// Starts (or resumes) the upload of a job's file: Ping and Create-Session for a new
    /// session, else the next fragment from the acknowledged offset, or Close-Session when the
    /// server has everything.
    func startUpload(_ id: JobID, fileIndex index: Int) {
        guard let job = table[id]?.job, let state = job.files[index].upload else { return }
        let file = job.files[index]
        // The source is opened on the file workers; the scheduler comes back when it is.
        guard let opened = takeOpened(id, index: index) else { return }
        let held: HeldDescriptors
        let http: HTTPOptions
        let stamp: SourceStamp?
        switch opened {
        case .success(let source):
            held = source.held
            stamp = source.stamp  // taken on the file worker that opened it
            http = TransferOptions().http(for: job, fileIndex: index, certificate: source.certificate)
        case .failure(let error):
            fail(id, fileIndex: index, failure: error.jobErrorCode == .notARegularFile
                ? .notRegularFile(error.message) : .localAccessDenied(error.message))
            return
        }
        if let changed = Self.sourceChange(stamp, state: state, path: file.localName) {
            fail(id, fileIndex: index, failure: changed)  // the source closes as `held` goes
            return
        }
        var run = UploadRun(source: held, session: UploadSession(path: file.localName), sentAt: clock.now, http: http)
        guard let upload = uploadFile(job, index) else { return }
        let action = run.session.start(upload)
        table[id]?.runtime.upload = run
        if action == .downloadReply {
            startReplyDownload(id, fileIndex: index)
            return
        }
        if job.state != .connecting {
            transition(id, persist: false) { $0.enter(.connecting, at: $1, sequence: &$2) }
        }
        send(id, fileIndex: index)
    }

    /// A source whose size or modification time differs from AddFile's is fatal (BITS:
    /// BG_E_LOCAL_FILE_CHANGED).
    private static func sourceChange(_ stamp: SourceStamp?, state: UploadState, path: String) -> TransferFailure? {
        guard let stamp else { return .localIO("Cannot inspect the upload source '\(path)'.") }
        guard stamp.size == state.sourceSize, stamp.modified == state.sourceModified else {
            return .classified(ClassifiedFailure(
                disposition: .fatal, context: .localFile, code: .localFileChanged,
                description: "The upload source '\(path)' changed since it was added (size \(state.sourceSize) → \(stamp.size) bytes or a new modification time); BITS does not upload a changing file.",
                retryAfterSeconds: nil))
        }
        return nil
    }

    /// Sends the run's current packet as one engine exchange.
    private func send(_ id: JobID, fileIndex index: Int) {
        guard let job = table[id]?.job, var run = table[id]?.runtime.upload else { return }
        var body: ExchangeRequest.Body?
        var base: UInt64 = 0
        if case let .fragment(_, offset, length, _, _) = run.session.packet {
            body = .init(descriptor: run.descriptor, offset: offset, length: length)
            base = offset
        }
        let tid = transfers.newID()
        run.sentAt = clock.now
        table[id]?.runtime.upload = run
        began(tid, of: id)
        transfers[tid] = ActiveTransfer(jobID: id, fileIndex: index, progressBase: base)
        engine.exchange(ExchangeRequest(id: tid, url: packetURL(id, fileIndex: index), method: UploadProtocol.method,
                                        headers: UploadProtocol.headers(for: run.session.packet) + job.options.customHeaders,
                                        body: body, http: run.http, maxBytesPerSecond: rateLimit(for: job)))
    }

    /// The protocol's view of an exchange's response.
    static func ack(_ response: ExchangeResponse) -> UploadProtocol.Ack {
        UploadProtocol.Ack(status: response.status, headerLines: response.headers.map { "\($0.name): \($0.value)" })
    }

    /// Where the next packet goes: the session's `BITS-Host-Id` host (web farms keep a
    /// session on one server), or the job's URL once that host has failed for longer than its
    /// fallback timeout (the session then stays with the job's URL), or when there is none.
    func packetURL(_ id: JobID, fileIndex index: Int) -> String {
        guard let file = table[id]?.job.files[index], let state = file.upload, state.sessionID != nil else {
            return table[id]?.job.files[index].remoteName ?? ""
        }
        let affinity = UploadProtocol.HostAffinity(originalURL: file.remoteName, hostID: state.hostID,
                                                   fallbackTimeoutSeconds: state.hostIDFallbackTimeout)
        let failingFor = state.hostFailingSince.map { Duration.microseconds(Int64(clamping: wallNow().subtractingSaturating($0))) }
        if affinity.affinityURL != nil, affinity.shouldFallBack(failingFor: failingFor) {
            logger.notice("job \(id): Host-Id \(state.hostID ?? "") failed for longer than its fallback timeout; back to \(RemoteURL.redactingPassword(file.remoteName))")
            table[id]?.job.files[index].upload?.hostID = nil
            table[id]?.job.files[index].upload?.hostFailingSince = nil
            persistQuietly(id)
        }
        return affinity.url(failingFor: failingFor)
    }

    /// An upload packet was answered (or failed, or was stopped).
    func handleExchange(_ tid: TransferID, _ outcome: ExchangeOutcome) {
        if let pending = transfers.answered(tid) {
            return cancelSessionAnswered(pending, outcome)
        }
        guard let active = transfers.end(tid) else { return }
        let id = active.jobID
        let isCurrent = table[id]?.runtime.requests.ended(tid) ?? false
        guard isCurrent, let job = table[id]?.job, let run = table[id]?.runtime.upload else {
            endUploadRun(id)
            if table[id]?.job.state.isActive == true { Task { self.schedule() } }
            return
        }
        let index = active.fileIndex
        switch outcome {
        case .cancelled:
            endUploadRun(id)
        case .failed(let failure, _):
            // The acknowledged offset stays; the next attempt asks the server where it is.
            // Failures of the affinity host count towards its fallback timeout.
            if table[id]?.job.files[index].upload?.hostID != nil, table[id]?.job.files[index].upload?.hostFailingSince == nil {
                table[id]?.job.files[index].upload?.hostFailingSince = wallNow()
                persistQuietly(id)
            }
            endUploadRun(id)
            fail(id, fileIndex: index, failure: failure)
        case .response(let response):
            if table[id]?.job.files[index].upload?.hostFailingSince != nil { table[id]?.job.files[index].upload?.hostFailingSince = nil }
            let ack = Self.ack(response)
            // Bound acknowledged offsets by the file's size: after a restart the server may
            // hold bytes of a fragment sent after the last stored checkpoint.
            let result = UploadProtocol.interpret(packet: run.session.packet, ack: ack,
                                                  highestSentOffset: job.files[index].upload?.sourceSize,
                                                  replyExpected: job.type == .uploadReply)
            advance(id, fileIndex: index, run: run, result: result, elapsed: run.sentAt.duration(to: clock.now))
        }
    }

    /// The next packet after an interpreted Ack (`UploadSession`), and what it changed of
    /// the file stored and published.
    private func advance(_ id: JobID, fileIndex index: Int, run: UploadRun, result: UploadProtocol.Outcome,
                         elapsed: Duration) {
        guard let job = table[id]?.job, var file = uploadFile(job, index) else { return }
        var run = run
        let step = run.session.advance(result, file: &file, elapsed: elapsed)
        let moment = self.moment
        if let transition = table[id]?.uploadAdvanced(file: index, to: file, progressed: step.progressed,
                                                       at: moment, sequence: &nextQueueSequence) {
            published(id, transition, persist: false)
        }
        if step.sessionLost { logger.notice("job \(id): the upload server lost the session; starting a new one") }
        if step.progressed { noteProgress(id) }
        if step.checkpoint && !step.persist { checkpointProgress(id) }
        table[id]?.runtime.upload = run
        // What the next packet depends on is stored first (without blocking this actor).
        if step.persist {
            storeThen(id) { $0.take(step.action, id, fileIndex: index) }
        } else {
            take(step.action, id, fileIndex: index)
        }
    }

    /// The session's next action for the run in `table[id]?.runtime.upload`.
    private func take(_ action: UploadSession.Action, _ id: JobID, fileIndex index: Int) {
        switch action {
        case .send:
            checkSourceThenSend(id, fileIndex: index)
        case .downloadReply:
            startReplyDownload(id, fileIndex: index)
        case .finish:
            finishUpload(id, fileIndex: index)
        case .fail(let failure):
            endUploadRun(id)
            fail(id, fileIndex: index, failure: failure)
        }
    }

    /// Checks on a file worker that the source has not changed (its fstat can block on the
    /// file's file system), then sends the run's next packet. Meanwhile the job's step is in
    /// flight (`preparingStep`): the scheduler does not start the job again, and stopping it
    /// ends the run (the check's answer is then dropped). The worker stats a duplicate of the
    /// run's descriptor, which the run may close meanwhile.
    private func checkSourceThenSend(_ id: JobID, fileIndex index: Int) {
        guard let run = table[id]?.runtime.upload else { return }
        guard let copy = try? BorrowedDescriptor(run.descriptor).duplicate().take() else {
            endUploadRun(id)
            fail(id, fileIndex: index, failure: .localIO("Cannot inspect the upload source '\(table[id]?.job.files[index].localName ?? "")'."))
            return
        }
        let step = beginStep(id)
        Task { [weak self, fileWorkers, files] in
            let stamp = await fileWorkers.run { () -> SourceStamp? in
                let owned = FileDescriptor(adopting: copy)
                return SourceStamp.of(owned.raw, files: files)
            }
            await self?.sourceChecked(id, fileIndex: index, step: step, stamp)
        }
    }

    private func sourceChecked(_ id: JobID, fileIndex index: Int, step: (token: Int, generation: Int), _ stamp: SourceStamp?) {
        // Stopped or changed meanwhile: the step and the run are over.
        guard endStep(id, step) else { return }
        guard let job = table[id]?.job, job.state.isActive, let state = job.files[index].upload, table[id]?.runtime.upload != nil else {
            endUploadRun(id)
            return
        }
        if let changed = Self.sourceChange(stamp, state: state, path: job.files[index].localName) {
            endUploadRun(id)
            fail(id, fileIndex: index, failure: changed)
            return
        }
        send(id, fileIndex: index)
    }

    /// Close-Session was acknowledged: the server has the whole file.
    private func finishUpload(_ id: JobID, fileIndex index: Int) {
        endUploadRun(id)
        table[id]?.uploaded(file: index)
        guard let job = table[id]?.job else { return }
        observer?.fileChanged(job, index: index, properties: [.completed])
        observer?.fileTransferred(job, index: index)
        logger.info("job \(id): upload of file \(index) complete")
        startNextFile(of: id)
        if table[id]?.job.state == .transferred { schedule() }
    }

    /// The reply is in: the session can be closed.
    func closeSessionAfterReply(_ id: JobID, fileIndex index: Int) {
        guard var run = table[id]?.runtime.upload, let job = table[id]?.job, job.files[index].upload?.sessionID != nil,
              let file = uploadFile(job, index) else { return }
        _ = run.session.replyDone(file)
        table[id]?.runtime.upload = run
        send(id, fileIndex: index)
    }

    func endUploadRun(_ id: JobID) {
        table[id]?.runtime.upload = nil  // its source closes as the run goes
        table[id]?.runtime.requests.stoppedRunning()
    }

    // MARK: - AddFile

    /// `AddFile` of an upload job: exactly one file, a source the owner can read (checked by
    /// opening it as the owner), remembered with its size and modification time.
    func addUploadFile(_ id: JobID, caller: Caller, job: Job, remote: String, local: String) async throws -> Range<Int> {
        guard job.files.isEmpty else {
            throw ServiceError(.tooManyFiles, "Job \(id) is an upload job and already has its one file.")
        }
        let url = try InputValidation.downloadURL(remote)
        guard url.scheme == "http" || url.scheme == "https" else {
            throw ServiceError.invalidArgs("Upload URL '\(InputValidation.quote(remote))' must be http or https.")
        }
        let path = try InputValidation.localPath(local)
        let owner = try await identity(of: job.owner)
        let files = self.files
        let resolution = job.pathResolution
        let (size, modified) = try await fileWorkers.run {
            let source = try files.openSource(path, owner: owner, resolution: resolution)
            return (source.length, SourceStamp.of(source.descriptor.raw, files: files)?.modified ?? 0)
        }
        var updated = try self.job(id, caller: caller)
        guard updated.files.isEmpty else {
            throw ServiceError(.tooManyFiles, "Job \(id) is an upload job and already has its one file.")
        }
        try JobStateMachine.checkAddFiles(updated, adding: 1)
        var file = JobFile(remoteName: remote, localName: path, temporaryName: path)
        file.bytesTotal = size
        file.upload = UploadState(sourceSize: size, sourceModified: modified)
        file.umask = caller.umask
        updated.files = [file]
        updated.modificationTime = wallNow()
        try await persistDurably(updated)  // in AddFiles' turn; a job without files has no transfer events
        table[id]?.job = updated
        observer?.filesAdded(updated, indices: 0..<1)
        observer?.jobChanged(updated, properties: [.files, .filesTotal, .bytesTotal, .modificationTime])
        logger.info("job \(id): upload source added")
        if updated.state.isActive { schedule() }
        return 0..<1
    }

    // MARK: - Cancel-Session

    /// A Cancel-Session the service still owes a server (retried on 5xx, as BITS does).
    struct PendingCancel {
        let url: String
        let sessionID: String
        let http: HTTPOptions
        var attempt: Int
    }

    static let cancelSessionRetryDelays: [Duration] = [.seconds(5), .seconds(30), .seconds(120), .seconds(600)]

    /// Tells the server of a cancelled upload job to drop its session (fire and forget).
    func sendCancelSession(for job: Job) {
        guard job.type != .download, let file = job.files.first, let session = file.upload?.sessionID,
              !file.completed else { return }
        // The running upload's options carry the client certificate as read for it; none is
        // read from the owner's files here (that would block this actor).
        let http = table[job.id]?.runtime.upload?.http ?? TransferOptions().http(for: job, fileIndex: 0, certificate: nil)
        sendCancelSession(PendingCancel(url: file.remoteName, sessionID: session, http: http, attempt: 0))
    }

    private func sendCancelSession(_ pending: PendingCancel) {
        let tid = transfers.owe(pending)
        engine.exchange(ExchangeRequest(id: tid, url: pending.url, method: UploadProtocol.method,
                                        headers: UploadProtocol.headers(for: .cancelSession(sessionID: pending.sessionID)),
                                        http: pending.http))
    }

    private func cancelSessionAnswered(_ pending: PendingCancel, _ outcome: ExchangeOutcome) {
        let retry: Bool
        switch outcome {
        case .response(let response):
            let ack = Self.ack(response)
            retry = UploadProtocol.shouldRetryClose(ack: ack)
        case .failed: retry = true
        case .cancelled: retry = false
        }
        guard retry, pending.attempt < Self.cancelSessionRetryDelays.count else { return }
        var next = pending
        next.attempt += 1
        let delay = Self.cancelSessionRetryDelays[pending.attempt]
        after(delay) { [next] in $0.sendCancelSession(next) }
    }

}
