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
        guard var job = jobs[id], job.files[index].upload?.replyURL != nil, runtime[id]?.upload != nil,
              runtime[id]?.preparingStep == false else { return }
        var reply = job.reply ?? ReplyState()
        if reply.fileName.isEmpty {
            // Generated beside the upload file (BITS does the same).
            reply.fileName = job.files[index].localName + ".reply-" + String(OwnerFiles.newTemporaryName().dropFirst(3).prefix(8))
        }
        // A new temporary file is recorded as pending (durably, before it is created).
        let newTemporary = reply.temporaryName == nil
            ? OwnerFiles.temporaryPath(for: reply.fileName, name: OwnerFiles.newTemporaryName()) : nil
        job.reply = reply
        jobs[id] = job
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
            let result: Result<(fd: Int32, prepared: OwnerFiles.Prepared?), ServiceError> = await fileWorkers.run {
                do {
                    var prepared: OwnerFiles.Prepared?
                    if let newTemporary {
                        prepared = try files.prepareDestination(localPath: fileName, temporaryName: OwnerFiles.split(newTemporary).name,
                                                                owner: owner, umask: umask, resolution: resolution)
                    }
                    let path = prepared?.path ?? existing ?? ""
                    let reply = try files.openTemporary(path, owner: owner, umask: umask, resolution: resolution)
                    try? reply.descriptor.truncate(to: 0)
                    return .success((reply.descriptor.take(), prepared))
                } catch {
                    return .failure((error as? ServiceError) ?? ServiceError(.failed, "\(error)"))
                }
            }
            await self?.replyOpened(id, fileIndex: index, step: step, newTemporary: newTemporary, result)
        }
    }

    /// The reply's temporary file is ready (or could not be made): start its download.
    private func replyOpened(_ id: JobID, fileIndex index: Int, step: (token: Int, generation: Int), newTemporary: String?,
                             _ result: Result<(fd: Int32, prepared: OwnerFiles.Prepared?), ServiceError>) {
        // Stopped or changed meanwhile (the step and the run are over): only the reply file is
        // left to close.
        guard endStep(id, step) else {
            if case .success(let opened) = result { release([opened.fd]) }
            return
        }
        guard var job = jobs[id], job.state.isActive,
              let url = job.files[index].upload?.replyURL, let run = runtime[id]?.upload else {
            if case .success(let opened) = result { release([opened.fd]) }
            endUploadRun(id)
            return
        }
        let fd: Int32
        switch result {
        case .failure(let error):
            replyFailed(id, fileIndex: index, error.jobErrorCode == .notARegularFile
                ? .notRegularFile(error.message) : .localAccessDenied(error.message))
            return
        case .success(let opened):
            fd = opened.fd
            if let prepared = opened.prepared, let newTemporary {
                job.reply?.temporaryName = prepared.path
                job.reply?.directory = prepared.directory
                jobs[id] = job
                // Not awaited: until this is stored the pending record stands, and after a
                // crash start-up deletes the file (the reply is then fetched again).
                enqueue(job, settling: [newTemporary])
            }
        }
        job.reply?.bytesTransferred = 0
        jobs[id] = job
        observer?.jobChanged(job, properties: [.replyFileName, .replyBytesTransferred])
        let tid = nextTransferID
        nextTransferID += 1
        transfers[tid] = ActiveTransfer(jobID: id, fileIndex: index, descriptors: [fd], isReply: true)
        _ = runtime[id]?.requests.started(tid, now: clock.now)
        var http = run.http
        http.method = "GET"
        engine.start(DownloadRequest(id: tid, source: .url(url), destinationDescriptor: fd, http: http))
    }

    func handleReplyEvent(_ event: EngineEvent) {
        switch event {
        case .response(let tid, let info):
            guard let active = transfers[tid], runtime[active.jobID]?.requests.current == tid, var job = jobs[active.jobID] else { return }
            job.reply?.bytesTotal = info.totalSize
            job.reply?.bytesTransferred = info.writeOffset
            jobs[job.id] = job
            observer?.jobChanged(job, properties: [.replyBytesTotal, .replyBytesTransferred])
        case .progress(let tid, let bytes):
            guard let active = transfers[tid], runtime[active.jobID]?.requests.current == tid, var job = jobs[active.jobID] else { return }
            job.reply?.bytesTransferred = bytes
            jobs[job.id] = job
            observer?.jobChanged(job, properties: [.replyBytesTransferred])
        case .ended(let tid, let outcome):
            guard let active = transfers.removeValue(forKey: tid) else { return }
            let id = active.jobID
            defer { release(active.descriptors) }
            guard case .finished(let bytes) = outcome, runtime[id]?.requests.current == tid, jobs[id] != nil else {
                let isCurrent = runtime[id]?.requests.ended(tid) ?? false
                if isCurrent, case .failed(let failure, _) = outcome { replyFailed(id, fileIndex: active.fileIndex, failure) }
                return
            }
            // Durable before Close-Session, after which the server may drop the reply. The
            // fsync runs on a file worker; the reply stays the job's current request until then.
            let copy = (try? BorrowedDescriptor(active.descriptors[0]).duplicate().take()) ?? -1
            let index = active.fileIndex
            Task { [weak self, fileWorkers, files] in
                let code: Int32 = copy < 0 ? Errno.badDescriptor : await fileWorkers.run {
                    defer { FileDescriptor.close(copy) }
                    do throws(SystemError) {
                        try files.sync(BorrowedDescriptor(copy))
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
        let isCurrent = runtime[id]?.requests.ended(tid) ?? false
        guard isCurrent, var job = jobs[id], job.state.isActive else {
            if jobs[id]?.state.isActive == true { schedule() }
            return
        }
        guard error == 0 else {
            replyFailed(id, fileIndex: index,
                        .notDurable(errno: error, job.reply?.fileName ?? "The reply", "the reply is downloaded again when the job resumes."))
            return
        }
        job.reply?.done = true
        job.reply?.bytesTransferred = bytes
        if job.reply?.bytesTotal == nil { job.reply?.bytesTotal = bytes }
        jobs[id] = job
        observer?.jobChanged(job, properties: [.replyBytesTotal, .replyBytesTransferred])
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
