import BitsCore
import BitsTransfer
import Foundation

/// The reply half of upload-reply jobs: after the last fragment the server's Ack names a
/// reply URL (`BITS-Reply-URL`); the reply is downloaded (as the owner, into a temporary file
/// beside `ReplyFileName`) before Close-Session, as [MC-BUP] requires, and appears under its
/// name at Complete. `GetReplyData` returns it (≤ 1 MiB).
extension QueueManager {
    static let maxReplyData = 1 << 20

    /// Whether an upload whose file the server has whole still needs its reply downloaded.
    func needsReply(_ job: Job, fileIndex index: Int) -> Bool {
        job.type == .uploadReply && job.files[index].upload?.replyURL != nil && job.reply?.done != true
    }

    /// Downloads the reply of an upload-reply job (always from 0).
    func startReplyDownload(_ id: JobID, fileIndex index: Int) {
        guard var job = jobs[id], let url = job.files[index].upload?.replyURL, let run = runtime[id]?.upload else { return }
        var reply = job.reply ?? ReplyState()
        let fd: Int32
        do {
            let owner = try identity(of: job.owner)
            if reply.fileName.isEmpty {
                // Generated beside the upload file (BITS does the same).
                reply.fileName = job.files[index].localName + ".reply-" + String(OwnerFiles.newTemporaryName().dropFirst(3).prefix(8))
            }
            if reply.temporaryName == nil {
                let path = OwnerFiles.temporaryPath(for: reply.fileName, name: OwnerFiles.newTemporaryName())
                try store?.recordPendingTemporaries([.init(path: path, owner: job.owner)])
                let prepared = try files.prepareDestination(localPath: reply.fileName,
                                                            temporaryName: OwnerFiles.split(path).name, owner: owner)
                reply.temporaryName = prepared.path
                reply.directory = prepared.directory
                job.reply = reply
                jobs[id] = job
                try persist(job, settling: [path])
            }
            let (descriptor, _) = try files.openTemporary(reply.temporaryName ?? "", owner: owner)
            ftruncate(descriptor, 0)
            fd = descriptor
        } catch {
            let message = (error as? ServiceError)?.message ?? "\(error)"
            replyFailed(id, fileIndex: index, .localAccessDenied(message))
            return
        }
        reply.bytesTransferred = 0
        job.reply = reply
        jobs[id] = job
        observer?.jobChanged(job, properties: [.replyFileName, .replyBytesTransferred])
        let tid = nextTransferID
        nextTransferID += 1
        transfers[tid] = ActiveTransfer(jobID: id, fileIndex: index, descriptors: [fd], isReply: true)
        runtime[id]?.transfer = tid
        var http = run.http
        http.method = "GET"
        engine.start(DownloadRequest(id: tid, source: .url(url), destinationDescriptor: fd, http: http))
    }

    func handleReplyEvent(_ event: EngineEvent) {
        switch event {
        case .response(let tid, let info):
            guard let active = transfers[tid], runtime[active.jobID]?.transfer == tid, var job = jobs[active.jobID] else { return }
            job.reply?.bytesTotal = info.totalSize
            job.reply?.bytesTransferred = info.writeOffset
            jobs[job.id] = job
            observer?.jobChanged(job, properties: [.replyBytesTotal, .replyBytesTransferred])
        case .progress(let tid, let bytes):
            guard let active = transfers[tid], runtime[active.jobID]?.transfer == tid, var job = jobs[active.jobID] else { return }
            job.reply?.bytesTransferred = bytes
            jobs[job.id] = job
            observer?.jobChanged(job, properties: [.replyBytesTransferred])
        case .ended(let tid, let outcome):
            guard let active = transfers.removeValue(forKey: tid) else { return }
            let id = active.jobID
            let isCurrent = runtime[id]?.transfer == tid
            defer { for fd in active.descriptors { close(fd) } }
            guard isCurrent, var job = jobs[id] else { return }
            runtime[id]?.transfer = nil
            switch outcome {
            case .finished(let bytes):
                // Durable before Close-Session, after which the server may drop the reply: a
                // failed fsync fails the reply half while the reply can still be fetched again.
                if FsyncFault.sync(active.descriptors[0]) != 0 {
                    replyFailed(id, fileIndex: active.fileIndex,
                                .notDurable(errno: errno, job.reply?.fileName ?? "The reply", "the reply is downloaded again when the job resumes."))
                    return
                }
                job.reply?.done = true
                job.reply?.bytesTransferred = bytes
                if job.reply?.bytesTotal == nil { job.reply?.bytesTotal = bytes }
                jobs[id] = job
                persistQuietly(id)
                observer?.jobChanged(job, properties: [.replyBytesTotal, .replyBytesTransferred])
                closeSessionAfterReply(id, fileIndex: active.fileIndex)
            case .failed(let failure, _):
                replyFailed(id, fileIndex: active.fileIndex, failure)
            case .cancelled:
                break
            }
        case .exchanged:
            break
        }
    }

    /// A failure of the reply half: described as such (the upload half is done).
    private func replyFailed(_ id: JobID, fileIndex index: Int, _ failure: TransferFailure) {
        var classified = FailureClassifier.classify(failure)
        classified.description = "Downloading the server's reply: " + classified.description
        endUploadRun(id)
        fail(id, fileIndex: index, failure: .classified(classified))
    }

    /// `GetReplyData`: the reply (≤ 1 MiB), read as the owner, once it is downloaded.
    public func replyData(_ id: JobID, caller: Caller) throws -> [UInt8] {
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
        return try files.readSmallFile(path, owner: try identity(of: job.owner), limit: Self.maxReplyData)
    }
}
