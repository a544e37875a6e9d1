import BitsCore
import BitsTransfer

/// Per-job bookkeeping that is not part of the job's public state.
struct JobRuntime: Sendable {
    /// The job's requests to the engine: in flight, queued ahead, stopping; its running time.
    var requests = EngineRequests()
    /// Order in which the job was queued, for FIFO among equals.
    var queuedSequence: UInt64 = 0
    /// Progress not yet published (coalesced per MinimumNotificationInterval).
    var progress = ProgressCoalescer()
    /// The job's transfer rate, sampled at each progress publication (`measureRate`).
    var rateMeter = TransferRateMeter()
    /// MaximumDownloadTime, NoProgressTimeout and the retry timer.
    var timers = JobTimers()
    /// The system proxy (ProxyUsage preconfig/autodetect) last looked up for an origin,
    /// reused by the job's next files from that origin for a minute; `resolvingProxy`
    /// while a lookup runs.
    var systemProxy: QueueManager.ResolvedProxy?
    var resolvingProxy = false
    /// Wall-clock microseconds of the last stored change or progress (JobInactivityTimeout).
    var activity: UInt64 = 0
    /// When the job was last written to the database (progress checkpoints), when its
    /// file being downloaded was last fsynced for `durableBytes`, and whether that runs.
    var lastCheckpoint: ContinuousClock.Instant?
    var lastDurableCheckpoint: ContinuousClock.Instant?
    var syncingCheckpoint = false
    /// The upload in progress (upload jobs).
    var upload: QueueManager.UploadRun?
    /// Files opened ahead on the file workers (by index) for their transfers, the
    /// indices being opened now, and a counter that makes opens asked for before the
    /// last `closeOpenedFiles` stale.
    var opened: [Int: Result<QueueManager.OpenedFile, ServiceError>] = [:]
    var opening: Set<Int> = []
    var openGeneration = 0
    /// A Complete, Cancel or TakeOwnership is doing its file work (off this actor): the
    /// job is not scheduled and takes no other such call meanwhile.
    var busyWithFiles = false
    /// The job's next step waits for file work on the workers (an upload-reply job's reply
    /// file being opened, the upload source checked before a packet): no engine request is in flight, yet the job is running. The
    /// scheduler does not start it again meanwhile, and stopping it ends the step (its result
    /// is dropped when it arrives). `stepGeneration` tells a step's result from an older one's.
    var preparingStep = false
    var stepGeneration = 0
    /// The job reached a final state and no longer counts against the limits (`JobTable.retire`).
    var retired = false
}

/// The time of a transition: the monotonic clock (timers) and the wall clock (stored times).
struct Moment: Sendable, Equatable {
    let now: ContinuousClock.Instant
    let wall: UInt64
}

/// One job and its runtime, and the state transitions the queue manager makes on it. Each
/// transition changes only this value and returns what changed (`Transition`); the queue
/// manager's one commit step (`QueueManager.commit`) then keeps it, stores it and tells the
/// observer. Pure: no store, no engine, no observer, no clock of its own.
struct JobController: Sendable {
    var job: Job
    var runtime: JobRuntime

    /// What a transition changed.
    struct Transition: Equatable, Sendable {
        /// The job's properties that changed (for PropertiesChanged).
        var changed: Set<JobProperty> = []
        /// The job became active with a MaximumDownloadTime: check it after this long.
        var checkDownloadTimeAfter: Duration?

        mutating func formUnion(_ properties: Set<JobProperty>) { changed.formUnion(properties) }
    }

    /// Moves the job to `state`, keeping the derived bookkeeping: the MaximumDownloadTime
    /// clock (it runs only while the job connects or transfers), the queue order (`sequence`
    /// is the queue manager's counter) and the completion time.
    mutating func enter(_ state: JobState, at moment: Moment, sequence: inout UInt64) -> Transition {
        job.state = state
        var transition = Transition(changed: [.state])
        transition.checkDownloadTimeAfter = runtime.timers.setActive(state == .connecting || state == .transferring,
                                                                     now: moment.now, limit: job.maximumDownloadTime)
        if state == .queued {
            runtime.queuedSequence = sequence
            sequence += 1
        }
        if state == .transferred {
            job.transferCompletionTime = moment.wall
            transition.changed.insert(.transferCompletionTime)
        }
        // The rate is only that of a transfer: 0 / unknown outside `transferring`, in this
        // same PropertiesChanged. Its samples survive a `connecting` between two files.
        if state != .transferring, job.transferRate != .idle {
            job.transferRate = .idle
            transition.formUnion(JobProperty.rate)
        }
        if state != .transferring && state != .connecting { runtime.rateMeter.reset() }
        return transition
    }

    /// Samples the job's progress for its rate at monotonic millisecond `now` (each progress
    /// publication) and updates `job.transferRate`; only while transferring.
    mutating func measureRate(now: UInt64) {
        guard job.state == .transferring else { return }
        let transferred = job.bytesTransferred
        runtime.rateMeter.record(bytes: transferred, at: now)
        job.transferRate = runtime.rateMeter.rate(total: job.bytesTotal, transferred: transferred)
    }

    /// What a failed attempt led to.
    struct Failure: Sendable {
        var transition: Transition
        /// The attempt's error, and the error recorded (LastError: no-progress when
        /// NoProgressTimeout ran out).
        var attempt: JobError
        var error: JobError
        /// When to retry or give up in `transient-error`; nil when the job is in `error`.
        var plan: JobTimers.RetryPlan?
    }

    /// Records a failed attempt: the last error, the count, and `error` or `transient-error`
    /// with a retry after MinimumRetryDelay (or the server's Retry-After when longer), or
    /// `error` (no-progress) once NoProgressTimeout has run out.
    mutating func fail(_ failure: TransferFailure, fileIndex: Int?, at moment: Moment, sequence: inout UInt64) -> Failure {
        let classified = FailureClassifier.classify(failure)
        let attempt = JobError(context: classified.context, code: classified.code,
                               description: classified.description, fileIndex: fileIndex)
        job.lastError = attempt
        job.errorCount = job.errorCount.addingSaturating(1)
        let disposition = job.options.usesCustomMethod ? .fatal : classified.disposition
        var next = JobStateMachine.stateAfterFailure(disposition, noProgressTimeout: job.noProgressTimeout)
        var plan: JobTimers.RetryPlan?
        if next == .transientError {
            let delay = Duration.seconds(Int64(max(job.minimumRetryDelay, classified.retryAfterSeconds ?? 0)))
            plan = runtime.timers.transientFailure(now: moment.now, noProgressTimeout: job.noProgressTimeout, retryDelay: delay)
            if plan == .timedOut {
                next = .error
                job.lastError = JobError(context: classified.context, code: .noProgress,
                                         description: "No progress for \(job.noProgressTimeout) seconds; the last error was: \(classified.description)",
                                         fileIndex: fileIndex)
            }
        }
        var transition = enter(next, at: moment, sequence: &sequence)
        transition.formUnion(JobProperty.errorProperties.union([.bytesTransferred, .modificationTime]))
        job.modificationTime = moment.wall
        return Failure(transition: transition, attempt: attempt, error: job.lastError ?? attempt,
                       plan: next == .error ? nil : plan)
    }

    /// NoProgressTimeout ran out while the job waited to retry: the last error becomes fatal.
    /// Nil when the job is no longer waiting.
    mutating func giveUp(at moment: Moment, sequence: inout UInt64) -> Transition? {
        guard job.state == .transientError else { return nil }
        let last = job.lastError
        job.lastError = JobError(context: last?.context ?? .unknown, code: .noProgress,
                                 description: "No progress for \(job.noProgressTimeout) seconds; the last error was: \(last?.description ?? "unknown")",
                                 fileIndex: last?.fileIndex)
        var transition = enter(.error, at: moment, sequence: &sequence)
        transition.formUnion(JobProperty.errorProperties)
        return transition
    }

    /// A job waiting in transient-error is queued again (its retry is due, or what blocked it
    /// may have gone). Nil when it is not waiting.
    mutating func requeue(at moment: Moment, sequence: inout UInt64) -> Transition? {
        guard job.state == .transientError else { return nil }
        runtime.timers.cancelRetry()
        return enter(.queued, at: moment, sequence: &sequence)
    }

    /// Puts an active job into transient-error for `code`: it is queued again when the
    /// condition ends (network, cost or window change), not by the retry timer.
    mutating func block(_ code: ErrorCode, _ description: String, at moment: Moment, sequence: inout UInt64) -> Transition {
        job.lastError = JobError(context: .generalTransport, code: code, description: description)
        job.errorCount = job.errorCount.addingSaturating(1)
        var transition = enter(.transientError, at: moment, sequence: &sequence)
        transition.formUnion(JobProperty.errorProperties)
        runtime.timers.cancelRetry()
        return transition
    }
}
