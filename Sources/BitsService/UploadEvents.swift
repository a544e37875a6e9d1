import BitsCore

/// How an upload job changes as its packets are answered and its reply comes in: the upload
/// session's view of the file, the end of the upload, the reply's progress. Pure and in place
/// (like `DownloadEvents`); the queue manager publishes what they return and sends the next
/// packet.
extension JobController {
    /// The upload session advanced (`UploadSession.advance`) and left `file` as the protocol
    /// sees it now: the file's upload state and acknowledged bytes follow. When the server
    /// acknowledged bytes (`progressed`) the NoProgressTimeout clock starts again, the file
    /// is marked for the next progress signal and a `connecting` job is `transferring`.
    mutating func uploadAdvanced(file index: Int, to file: UploadSession.File, progressed: Bool,
                                 at moment: Moment, sequence: inout UInt64) -> Transition {
        modifyFile(index) { stored in
            stored.upload = file.state
            stored.bytesTransferred = file.acknowledged
        }
        guard progressed else { return Transition() }
        runtime.timers.progressed()
        runtime.progress.mark(file: index)
        return job.state == .connecting ? enter(.transferring, at: moment, sequence: &sequence) : Transition()
    }

    /// Close-Session was acknowledged: the server has the whole file. Marked for the next
    /// progress signal.
    mutating func uploaded(file index: Int) {
        modifyFile(index) { file in
            file.completed = true
            file.bytesTransferred = file.upload?.sourceSize ?? file.bytesTransferred
        }
        runtime.progress.mark(file: index)
    }

    /// The reply's download answered (`total`, nil when unknown; writing from `offset`) or
    /// progressed (`total` unchanged): the reply's counters, and which of them changed.
    mutating func replyProgressed(bytes: UInt64, total: UInt64?? = .none) -> Set<JobProperty> {
        guard job.reply != nil else { return [] }
        var changed: Set<JobProperty> = [.replyBytesTransferred]
        job.reply?.bytesTransferred = bytes
        if case .some(let total) = total {
            job.reply?.bytesTotal = total
            changed.insert(.replyBytesTotal)
        }
        return changed
    }

    /// The reply is downloaded and durable (`bytes` long): done; Close-Session comes next.
    mutating func replyDone(bytes: UInt64) -> Set<JobProperty> {
        guard job.reply != nil else { return [] }
        job.reply?.done = true
        job.reply?.bytesTransferred = bytes
        if job.reply?.bytesTotal == nil { job.reply?.bytesTotal = bytes }
        return [.replyBytesTotal, .replyBytesTransferred]
    }
}
