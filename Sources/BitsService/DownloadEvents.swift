import BitsCore
import BitsTransfer

/// How the engine's events for a download change its job: the server's response, progress,
/// the end of a file and the verdict on its digests. Pure and in place (the queue manager
/// calls these on the job's entry in its `JobTable`, so a file changes without copying the
/// job's file list); the queue manager then publishes what they return, stores and starts
/// what comes next.
extension JobController {
    /// The server answered for file `index`: its size, where writing starts, validators and
    /// headers (and, with the report-redirect policy, the URL it ended at). A `connecting` job
    /// is now `transferring`. The file's changes are marked for the next progress signal;
    /// returns the job's transition (empty when its state did not change).
    mutating func responded(_ info: ResponseInfo, file index: Int, at moment: Moment, sequence: inout UInt64) -> Transition {
        guard job.files.indices.contains(index) else { return Transition() }
        var changed: Set<FileProperty> = [.lastModified, .responseHeaders]
        let reportRedirect = job.options.redirectPolicy == .allowReport
        modifyFile(index) { file in
            file.bytesTotal = info.totalSize
            file.bytesTransferred = info.writeOffset
            // What lies beyond the write offset is being replaced.
            file.durableBytes = file.durableBytes.map { min($0, info.writeOffset) }
            file.entityTag = info.entityTag
            file.lastModifiedText = info.lastModifiedText
            file.lastModified = info.lastModifiedMicroseconds
            file.responseHeaders = info.headerBlock
            if reportRedirect, !info.effectiveURL.isEmpty, info.effectiveURL != file.remoteName {
                file.remoteName = info.effectiveURL
                changed.insert(.remoteName)
            }
        }
        // Sizes are progress counters: published with the rest of the progress (or the
        // file's completion), not in a signal of their own.
        runtime.progress.mark(file: index, also: changed)
        return job.state == .connecting ? enter(.transferring, at: moment, sequence: &sequence) : Transition()
    }

    /// File `index` has `bytes` written. Nil when that is no news; else the job's transition
    /// (`connecting` → `transferring`, or empty), the NoProgressTimeout clock reset and the
    /// file marked for the next progress signal.
    mutating func progressed(_ bytes: UInt64, file index: Int, at moment: Moment, sequence: inout UInt64) -> Transition? {
        guard job.files.indices.contains(index), job.files[index].bytesTransferred != bytes else { return nil }
        modifyFile(index) { $0.bytesTransferred = bytes }
        runtime.timers.progressed()
        runtime.progress.mark(file: index)
        return job.state == .connecting ? enter(.transferring, at: moment, sequence: &sequence) : Transition()
    }

    /// Judges finished file `index` by its digests (`HashCheck`) and applies the verdict: a
    /// first mismatch starts the file over (counted), a second starts it over and clears the
    /// count (the job then fails with the verdict's description).
    mutating func judgeHash(file index: Int, digests: ComputedDigests?, announced: [FileHash]) -> HashCheck.Verdict {
        guard job.files.indices.contains(index) else { return .verified }
        let verdict = HashCheck.judge(job.files[index], index: index, jobID: job.id, digests: digests, announced: announced)
        switch verdict {
        case .verified:
            break
        case .refetch:
            modifyFile(index) { file in
                let mismatches = (file.hashMismatches ?? 0) + 1
                file.restart()
                file.hashMismatches = mismatches
            }
        case .fail:
            modifyFile(index) { file in
                file.restart()
                file.hashMismatches = nil
            }
        }
        return verdict
    }

    /// File `index` finished with `bytes` (and its SHA-256): it is complete. Returns the file
    /// properties its completion publishes (with the progress still pending for it).
    mutating func finished(file index: Int, bytes: UInt64, sha256: FileHash?) -> Set<FileProperty> {
        guard job.files.indices.contains(index) else { return [] }
        modifyFile(index) { file in
            file.bytesTransferred = bytes
            if file.bytesTotal == nil { file.bytesTotal = bytes }
            file.completed = true
            file.hash = sha256
            file.hashMismatches = nil
        }
        runtime.timers.progressed()
        return runtime.progress.takeFile(index).union([.completed, .hash]).union(FileProperty.progress)
    }

    /// A transfer of file `index` ended without finishing it (failed, stopped) after writing
    /// `bytes`: the file's count follows, unless the file completed meanwhile.
    mutating func stopped(file index: Int, bytes: UInt64) {
        guard job.files.indices.contains(index), !job.files[index].completed else { return }
        modifyFile(index) { $0.bytesTransferred = bytes }
    }

    /// Changes file `index` in place (nothing when there is no such file).
    mutating func modifyFile(_ index: Int, _ change: (inout JobFile) -> Void) {
        guard job.files.indices.contains(index) else { return }
        change(&job.files[index])
    }
}
