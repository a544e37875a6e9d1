import BitsCore

/// A job's clocks: the MaximumDownloadTime budget (time spent connecting or transferring
/// since the last Resume), the NoProgressTimeout window (from the first transient error
/// without progress since) and the pending retry. The decisions are pure functions of the
/// time given; the queue manager arms the timers they ask for (`QueueManager.after`).
struct JobTimers: Sendable {
    /// Time spent connecting or transferring since the last Resume, before `activeSince`.
    private(set) var activeTime: Duration = .zero
    /// Since when the current active stretch runs (nil: not active).
    private(set) var activeSince: ContinuousClock.Instant?
    /// Monotonic time of the first transient error since the last progress.
    private(set) var noProgressSince: ContinuousClock.Instant?
    /// The retry (or give-up) timer of a job in transient-error.
    private var retry: Task<Void, Never>?

    /// What to do after a transient error.
    enum RetryPlan: Equatable {
        /// NoProgressTimeout has run out: the job fails now (no-progress).
        case timedOut
        /// Queue the job again after this delay.
        case retry(after: Duration)
        /// NoProgressTimeout runs out before the retry would come: fail (no-progress) then.
        case giveUp(after: Duration)
    }

    /// What a MaximumDownloadTime check finds.
    enum DownloadTimeCheck: Equatable {
        case exceeded
        case checkAgain(after: Duration)
    }

    // MARK: - MaximumDownloadTime

    /// The job starts or stops connecting/transferring at `now`. When it starts and has a
    /// limit, returns when to check it (`checkDownloadTime`).
    mutating func setActive(_ active: Bool, now: ContinuousClock.Instant, limit: UInt32) -> Duration? {
        if active, activeSince == nil {
            activeSince = now
            guard limit > 0 else { return nil }
            return max(.seconds(Int64(limit)) - activeTime, .milliseconds(1))
        }
        if !active, let since = activeSince {
            activeTime += since.duration(to: now)
            activeSince = nil
        }
        return nil
    }

    /// Whether a job active since `activeSince` has used up `limit` seconds at `now`; nil
    /// when it is not active or has no limit.
    func checkDownloadTime(now: ContinuousClock.Instant, limit: UInt32) -> DownloadTimeCheck? {
        guard limit > 0, let since = activeSince else { return nil }
        let used = activeTime + since.duration(to: now)
        let budget = Duration.seconds(Int64(limit))
        return used >= budget ? .exceeded : .checkAgain(after: budget - used)
    }

    // MARK: - NoProgressTimeout and retries

    /// Resume: the budgets start again (a running stretch counts from `now`) and a pending
    /// retry is dropped.
    mutating func resumed(now: ContinuousClock.Instant) {
        cancelRetry()
        noProgressSince = nil
        activeTime = .zero
        if activeSince != nil { activeSince = now }
    }

    /// Bytes arrived (or a file or fragment was done): the NoProgressTimeout window closes.
    mutating func progressed() {
        noProgressSince = nil
    }

    /// A transient error at `now`: whether NoProgressTimeout has run out, else when to retry
    /// (`retryDelay`: MinimumRetryDelay or the server's Retry-After) or give up.
    mutating func transientFailure(now: ContinuousClock.Instant, noProgressTimeout: UInt32,
                                   retryDelay: Duration) -> RetryPlan {
        let since = noProgressSince ?? now
        noProgressSince = since
        let remaining = Duration.seconds(Int64(noProgressTimeout)) - since.duration(to: now)
        if remaining <= .zero { return .timedOut }
        return remaining <= retryDelay ? .giveUp(after: remaining) : .retry(after: retryDelay)
    }

    /// Holds the job's retry timer (cancelling the previous one).
    mutating func armRetry(_ task: Task<Void, Never>) {
        retry?.cancel()
        retry = task
    }

    mutating func cancelRetry() {
        retry?.cancel()
        retry = nil
    }
}

/// JobInactivityTimeout over all jobs: which jobs have had no change or progress for the
/// timeout, and when the next one would reach it (one timer, no polling).
enum InactivityDeadlines {
    /// `activity` and `now` in wall-clock microseconds; `timeout` in seconds (0: never).
    static func evaluate(_ activity: [(id: JobID, at: UInt64)], now: UInt64, timeout: UInt32)
        -> (expired: [JobID], next: UInt64?) {
        guard timeout > 0 else { return ([], nil) }
        let limit = UInt64(timeout) * 1_000_000
        var expired: [JobID] = []
        var next: UInt64?
        for (id, at) in activity {
            let deadline = at.addingSaturating(limit)
            if deadline <= now {
                expired.append(id)
            } else {
                next = min(next ?? deadline, deadline)
            }
        }
        return (expired, next)
    }
}
