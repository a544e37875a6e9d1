/// The rules of the four state-changing methods and of the service's own transitions
/// (bits-reference §1.3). Each function either returns the new state or throws the error the
/// method answers with; it never touches files or the network.
public enum JobStateMachine {
    /// Final states refuse everything.
    public static func requireNotFinal(_ job: Job, doing what: String) throws {
        if job.state.isFinal {
            throw ServiceError.invalidState("Job \(job.id) is \(job.state.rawValue); it cannot \(what).")
        }
    }

    /// `Resume`: suspended/error/transient-error → queued; active states stay; transferred
    /// re-queues only when files were added since. No files → `Empty`.
    public static func resume(_ job: Job) throws -> JobState {
        try requireNotFinal(job, doing: "be resumed")
        if job.files.isEmpty {
            throw ServiceError(.empty, "Job \(job.id) has no files to transfer; add a file before Resume.")
        }
        switch job.state {
        case .suspended, .error, .transientError:
            return job.nextFileIndex == nil ? .transferred : .queued
        case .transferred:
            return job.nextFileIndex == nil ? .transferred : .queued
        case .queued, .connecting, .transferring:
            return job.state
        case .acknowledged, .cancelled:
            return job.state // unreachable: refused above
        }
    }

    /// `Suspend`: any non-final state → suspended.
    public static func suspend(_ job: Job) throws -> JobState {
        try requireNotFinal(job, doing: "be suspended")
        return .suspended
    }

    /// `Cancel`: any non-final state → cancelled.
    public static func cancel(_ job: Job) throws -> JobState {
        try requireNotFinal(job, doing: "be cancelled")
        return .cancelled
    }

    /// `Complete`: download jobs from any non-final state (partial files are dropped); upload
    /// jobs only from transferred.
    public static func complete(_ job: Job) throws -> JobState {
        try requireNotFinal(job, doing: "be completed")
        if job.type != .download && job.state != .transferred {
            throw ServiceError.invalidState(
                "Job \(job.id) is an \(job.type.rawValue) job in state \(job.state.rawValue); it can be completed only once transferred.")
        }
        return .acknowledged
    }

    /// Adding files: any non-final state; an upload job takes exactly one file.
    public static func checkAddFiles(_ job: Job, adding count: Int) throws {
        try requireNotFinal(job, doing: "take new files")
        if job.type != .download && job.files.count + count > 1 {
            throw ServiceError(.tooManyFiles,
                               "Job \(job.id) is an \(job.type.rawValue) job and takes exactly one file.")
        }
    }

    /// Setting a property: any non-final state.
    public static func checkSetProperty(_ job: Job, name: String) throws {
        try requireNotFinal(job, doing: "change \(name)")
    }

    /// Where a job goes after a transfer error: fatal errors and jobs that may not retry go
    /// to `error`, others to `transient-error`.
    public static func stateAfterFailure(_ disposition: FailureDisposition, noProgressTimeout: UInt32) -> JobState {
        if disposition == .fatal || noProgressTimeout == 0 { return .error }
        return .transientError
    }
}
