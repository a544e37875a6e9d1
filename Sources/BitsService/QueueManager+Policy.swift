import BitsCore
import BitsSystem

/// What the network monitor reports.
public struct NetworkStatus: Sendable, Equatable {
    public var available: Bool
    public var metered: Bool
    public init(available: Bool, metered: Bool) {
        self.available = available
        self.metered = metered
    }
}

/// Conditions that keep jobs waiting (BITS's event-driven waits): no network, a metered
/// network for an `unmetered` job, battery power for a `not-on-battery` job, a background
/// cap of 0 in the bandwidth window.
extension QueueManager {
    struct BlockReason {
        let code: ErrorCode
        let description: String
    }

    func blockReason(for job: Job) -> BlockReason? {
        if !network.available {
            return BlockReason(code: .networkDisconnected, description: "No network is available; the job continues when one is.")
        }
        if network.metered && job.options.transferPolicy == .unmetered {
            return BlockReason(code: .blockedByCost, description: "The network is metered and the job's TransferPolicy is 'unmetered'; it continues on an unmetered network.")
        }
        if onBattery && job.options.transferPolicy == .notOnBattery {
            return BlockReason(code: .blockedByBattery, description: "The machine runs on battery and the job's TransferPolicy is 'not-on-battery'; it continues on mains power.")
        }
        if job.priority.isBackground, currentBackgroundCap() == 0 {
            return BlockReason(code: .blockedByPolicy, description: "Background transfers are blocked in the current bandwidth window; the job continues when the window ends.")
        }
        return nil
    }

    /// Puts an active job into transient-error for `reason`; it is queued again when the
    /// condition ends (network, cost or window change), not by the retry timer.
    func block(_ id: JobID, _ reason: BlockReason) {
        stopTransfer(of: id)
        guard transition(id, persist: true, { $0.block(reason.code, reason.description, at: $1, sequence: &$2) }) else { return }
        logger.notice("job \(id) waits: \(reason.code.rawValue)")
    }

    /// The network monitor changed: losing the network moves every active job to
    /// transient-error; any change re-queues every waiting job, as BITS does.
    public func networkChanged(_ status: NetworkStatus) {
        guard status != network else { return }
        logger.info("network: available=\(status.available) metered=\(status.metered)")
        network = status
        if status.available { requeueWaitingJobs() }
        schedule()
    }

    /// The power monitor changed: going on battery stops every `not-on-battery` job (the next
    /// scheduling pass blocks it); back on mains power they are queued again.
    public func powerChanged(onBattery: Bool) {
        guard onBattery != self.onBattery else { return }
        logger.info("power: on battery=\(onBattery)")
        self.onBattery = onBattery
        if !onBattery { requeueBlocked(code: .blockedByBattery) }
        schedule()
    }

    /// Every job in transient-error is queued again at once (the reason may have gone).
    func requeueWaitingJobs() {
        for job in table.jobs where job.state == .transientError {
            transition(job.id, persist: false) { $0.requeue(at: $1, sequence: &$2) }
        }
    }

    // MARK: - Bandwidth

    /// The background cap now: nil = unlimited, 0 = blocked.
    func currentBackgroundCap() -> UInt64? {
        config.bandwidth.cap(atMinute: clock.localTime().minuteOfDay)
    }

    /// The engine's cap for a transfer of `job` (0 = unlimited).
    func rateLimit(for job: Job) -> UInt64 {
        job.priority.isBackground ? (currentBackgroundCap() ?? 0) : 0
    }

    /// Applies the cap to the running transfers (after a priority or window change).
    func applyRateLimits() {
        for (tid, active) in transfers.all where table[active.jobID]?.runtime.requests.isLive(tid) ?? false {
            if let job = table[active.jobID]?.job { engine.setRateLimit(id: tid, bytesPerSecond: rateLimit(for: job)) }
        }
    }

    /// Re-applies the cap at each edge of the daily bandwidth window.
    func watchBandwidthWindow() {
        let local = clock.localTime()
        guard let minutes = config.bandwidth.minutesUntilChange(from: local.minuteOfDay) else { return }
        let seconds = Int64(minutes * 60 - local.secondOfMinute)
        after(.seconds(max(seconds, 1))) {
            $0.bandwidthWindowChanged()
        }
    }

    func bandwidthWindowChanged() {
        logger.info("bandwidth window edge: background cap now \(currentBackgroundCap().map(String.init) ?? "unlimited")")
        applyRateLimits()
        requeueBlocked(code: .blockedByPolicy)
        schedule()
        watchBandwidthWindow()
    }

    func requeueBlocked(code: ErrorCode) {
        for job in table.jobs where job.state == .transientError && job.lastError?.code == code {
            transition(job.id, persist: false) { $0.requeue(at: $1, sequence: &$2) }
        }
    }
}
