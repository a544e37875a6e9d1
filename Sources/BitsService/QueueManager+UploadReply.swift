import BitsCore
import BitsSystem
import BitsTransfer

/// The reply half of upload-reply jobs: after the last fragment the server's Ack names a
/// reply URL (`BITS-Reply-URL`); the reply is downloaded (as the owner, into a temporary file
/// beside `ReplyFileName`) before Close-Session, as [MC-BUP] requires, and appears under its
/// name at Complete. `GetReplyData` returns it (≤ 1 MiB).
extension QueueManager {
    static let maxReplyData = 1 << 20

    /// Downloads the reply of an upload-reply job (always from 0). Its temporary file is
    /// created and opened on the file workers; the download starts when it is.
    func startReplyDownload(_ id: JobID, fileIndex index: Int) {
        guard var job = table[id]?.job, job.files[index].upload?.replyURL != nil, table[id]?.runtime.upload != nil,
              table[id]?.runtime.preparingStep == false else { return }
        var reply = job.reply ?? ReplyState()
        if reply.fileName.isEmpty {
            // Generated beside the upload file (BITS does the same).
            reply.fileName = job.files[index].localName + ".reply-" + String(OwnerFiles.newTemporaryName().dropFirst(3).prefix(8))
        }
        // A new temporary file is recorded as pending (durably, before it is created).
        let newTemporary = reply.temporaryName == nil
            ? OwnerFiles.temporaryPath(for: reply.fileName, name: OwnerFiles.newTemporaryName()) : nil
        job.reply = reply
        table[id]?.job = job
        let step = beginStep(id)
        let files = self.files
        let resolution = job.pathResolution
        let umask = job.files[index].creationMask
        let existing = reply.temporaryName
        let fileName = reply.fileName
        let uid = job.owner
        Task { [weak self, fileWorkers] in
            // The owner's identity (the user database) is looked up off this actor too.
            let owner: OwnerIdentity
            switch await self?.identityResult(of: uid) {
            case .success(let found)?: owner = found
            case .failure(let failure)?:
                await self?.replyOpened(id, fileIndex: index, step: step, newTemporary: newTemporary, .failure(failure))
                return
            case nil: return
            }
            if let newTemporary {
                do {
                    try await self?.recordPendingTemporary(newTemporary, owner: uid)
                } catch {
                    let failure = ServiceError(.accessDenied, "The reply's temporary file could not be recorded: \(error).")
                    await self?.replyOpened(id, fileIndex: index, step: step, newTemporary: newTemporary, .failure(failure))
                    return
                }
            }
            let closer: HeldDescriptors.Closer = self?.closeOnWorkers ?? { @Sendable fds in for fd in fds { FileDescriptor.close(fd) } }
            let result: Result<(file: HeldDescriptors, prepared: OwnerFiles.Prepared?), ServiceError> = await fileWorkers.run {
                do {
                    var prepared: OwnerFiles.Prepared?
                    if let newTemporary {
                        prepared = try files.prepareDestination(localPath: fileName, temporaryName: OwnerFiles.split(newTemporary).name,
                                                                owner: owner, umask: umask, resolution: resolution)
                    }
                    let path = prepared?.path ?? existing ?? ""
                    let reply = try files.openTemporary(path, owner: owner, umask: umask, resolution: resolution)
                    try? reply.descriptor.truncate(to: 0)
                    return .success((HeldDescriptors(FileDescriptor(adopting: reply.descriptor.take()), closer: closer), prepared))
                } catch {
                    return .failure((error as? ServiceError) ?? ServiceError(.failed, "\(error)"))
                }
            }
            await self?.replyOpened(id, fileIndex: index, step: step, newTemporary: newTemporary, result)
        }
    }

    /// The reply's temporary file is ready (or could not be made): start its download.
    private func replyOpened(_ id: JobID, fileIndex index: Int, step: (token: Int, generation: Int), newTemporary: String?,
                             _ result: Result<(file: HeldDescriptors, prepared: OwnerFiles.Prepared?), ServiceError>) {
        // Stopped or changed meanwhile (the step and the run are over): the reply file closes
        // as `result` goes.
        guard endStep(id, step) else { return }
        guard var job = table[id]?.job, job.state.isActive,
              let url = job.files[index].upload?.replyURL, let run = table[id]?.runtime.upload else {
            endUploadRun(id)
            return
        }
        let file: HeldDescriptors
        switch result {
        case .failure(let error):
            replyFailed(id, fileIndex: index, error.jobErrorCode == .notARegularFile
                ? .notRegularFile(error.message) : .localAccessDenied(error.message))
            return
        case .success(let opened):
            file = opened.file
            if let prepared = opened.prepared, let newTemporary {
                job.reply?.temporaryName = prepared.path
                job.reply?.directory = prepared.directory
                table[id]?.job = job
                // Not awaited: until this is stored the pending record stands, and after a
                // crash start-up deletes the file (the reply is then fetched again).
                enqueue(job, settling: [newTemporary])
            }
        }
        job.reply?.bytesTransferred = 0
        table[id]?.job = job
        observer?.jobChanged(job, properties: [.replyFileName, .replyBytesTransferred])
        let tid = transfers.newID()
        transfers[tid] = ActiveTransfer(jobID: id, fileIndex: index, files: file, isReply: true)
        began(tid, of: id)
        var http = run.http
        http.method = "GET"
        engine.start(DownloadRequest(id: tid, source: .url(url), destinationDescriptor: file.numbers[0], http: http))
    }

    func handleReplyEvent(_ event: EngineEvent) {
        switch event {
        case .response(let tid, let info):
            guard let active = transfers[tid], table[active.jobID]?.runtime.requests.current == tid,
                  let changed = table[active.jobID]?.replyProgressed(bytes: info.writeOffset, total: .some(info.totalSize)),
                  !changed.isEmpty, let job = table[active.jobID]?.job else { return }
            observer?.jobChanged(job, properties: changed)
        case .progress(let tid, let bytes):
            guard let active = transfers[tid], table[active.jobID]?.runtime.requests.current == tid,
                  let changed = table[active.jobID]?.replyProgressed(bytes: bytes),
                  !changed.isEmpty, let job = table[active.jobID]?.job else { return }
            observer?.jobChanged(job, properties: changed)
        case .ended(let tid, let outcome):
            guard let active = transfers.end(tid) else { return }
            let id = active.jobID
            guard case .finished(let bytes) = outcome, table[id]?.runtime.requests.current == tid, table[id] != nil else {
                let isCurrent = table[id]?.runtime.requests.ended(tid) ?? false
                if isCurrent, case .failed(let failure, _) = outcome { replyFailed(id, fileIndex: active.fileIndex, failure) }
                return
            }
            // Durable before Close-Session, after which the server may drop the reply. The
            // fsync runs on a file worker; the reply stays the job's current request until then.
            let copy = active.files?.numbers.first.flatMap { try? BorrowedDescriptor($0).duplicate().take() } ?? -1
            let index = active.fileIndex
            Task { [weak self, fileWorkers, files] in
                let code: Int32 = copy < 0 ? Errno.badDescriptor : await fileWorkers.run {
                    let owned = FileDescriptor(adopting: copy)
                    do throws(SystemError) {
                        try files.sync(owned.borrowed)
                        return 0
                    } catch {
                        return error.code
                    }
                }
                await self?.replySynced(id, transfer: tid, fileIndex: index, bytes: bytes, error: code)
            }
        case .exchanged, .hashed:
            break
        }
    }

    /// The finished reply was fsynced (`error` 0) or not: a failed fsync fails the reply half
    /// while the reply can still be fetched again; else the reply is done and the session is
    /// closed. A job stopped meanwhile goes on as the scheduler decides.
    private func replySynced(_ id: JobID, transfer tid: TransferID, fileIndex index: Int, bytes: UInt64, error: Int32) {
        let isCurrent = table[id]?.runtime.requests.ended(tid) ?? false
        guard isCurrent, let job = table[id]?.job, job.state.isActive else {
            if table[id]?.job.state.isActive == true { schedule() }
            return
        }
        guard error == 0 else {
            replyFailed(id, fileIndex: index,
                        .notDurable(errno: error, job.reply?.fileName ?? "The reply", "the reply is downloaded again when the job resumes."))
            return
        }
        if let changed = table[id]?.replyDone(bytes: bytes), !changed.isEmpty, let job = table[id]?.job {
            observer?.jobChanged(job, properties: changed)
        }
        storeThen(id) { $0.closeSessionAfterReply(id, fileIndex: index) }
    }

    /// A failure of the reply half: described as such (the upload half is done).
    private func replyFailed(_ id: JobID, fileIndex index: Int, _ failure: TransferFailure) {
        var classified = FailureClassifier.classify(failure)
        classified.description = "Downloading the server's reply: " + classified.description
        endUploadRun(id)
        fail(id, fileIndex: index, failure: .classified(classified))
    }

    /// `GetReplyData`: the reply (≤ 1 MiB), read as the owner, once it is downloaded.
    public func replyData(_ id: JobID, caller: Caller) async throws -> [UInt8] {
        let job = try job(id, caller: caller)
        guard job.type == .uploadReply else {
            throw ServiceError(.notSupported, "Job \(id) is an \(job.type.rawValue) job; only upload-reply jobs have reply data.")
        }
        guard let reply = job.reply, reply.done, let path = reply.temporaryName else {
            throw ServiceError.invalidState("The reply of job \(id) has not been downloaded yet.")
        }
        if let total = reply.bytesTotal, total > UInt64(Self.maxReplyData) {
            throw ServiceError(.tooLarge, "The reply of job \(id) is \(total) bytes; GetReplyData returns at most \(Self.maxReplyData). Read \(reply.fileName) after Complete instead.")
        }
        let owner = try await identity(of: job.owner)
        let files = self.files
        let resolution = job.pathResolution
        return try await fileWorkers.run {
            try files.readSmallFile(path, owner: owner, limit: Self.maxReplyData, resolution: resolution)
        }
    }
}
