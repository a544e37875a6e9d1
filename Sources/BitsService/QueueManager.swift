import BitsCore
import BitsSystem
import BitsStore
import BitsTransfer
import Foundation
import Logging

/// The queue manager: owns every job, enforces who may do what and the state rules, runs
/// the scheduler and the transfers, and reports every change to its observer. Transport-free:
/// the D-Bus layer decodes calls into these methods and publishes the observer's events.
public actor QueueManager {
    /// Per-job bookkeeping that is not part of the job's public state.
    struct Runtime {
        /// Transfer in flight for this job, if any.
        var transfer: TransferID?
        /// The job's next files, handed to the engine to start one after the other when
        /// `transfer` finishes (at most `filesQueuedAhead`).
        var queued: [TransferID] = []
        /// Transfers told to stop whose end has not arrived yet (they may still write).
        var stopping: Set<TransferID> = []
        /// Order in which the job was queued, for FIFO among equals.
        var queuedSequence: UInt64 = 0
        var throttle = NotificationThrottle()
        /// Files whose progress changed since the last progress notification, with other
        /// properties published along with it (a response's LastModified, ResponseHeaders).
        var dirtyFiles: [Int: Set<FileProperty>] = [:]
        /// The job's progress counters changed since the last progress notification.
        var progressChanged = false
        var retryTask: Task<Void, Never>?
        /// Monotonic time of the first transient error since the last progress.
        var noProgressSince: ContinuousClock.Instant?
        /// Time spent connecting or transferring since the last Resume (MaximumDownloadTime),
        /// and since when the current active stretch runs.
        var activeTime: Duration = .zero
        var activeSince: ContinuousClock.Instant?
        /// When the current transfer started (time slices among equal background jobs).
        var runningSince: ContinuousClock.Instant?
        /// The system proxy (ProxyUsage preconfig/autodetect) last looked up for an origin,
        /// reused by the job's next files from that origin for a minute; `resolvingProxy`
        /// while a lookup runs.
        var systemProxy: ResolvedProxy?
        var resolvingProxy = false
        /// Wall-clock microseconds of the last stored change or progress (JobInactivityTimeout).
        var activity: UInt64 = 0
        /// When the job was last written to the database (progress checkpoints), when its
        /// file being downloaded was last fsynced for `durableBytes`, and whether that runs.
        var lastCheckpoint: ContinuousClock.Instant?
        var lastDurableCheckpoint: ContinuousClock.Instant?
        var syncingCheckpoint = false
        /// The upload in progress (upload jobs).
        var upload: UploadRun?
        /// Files opened ahead on the file workers (by index) for their transfers, the
        /// indices being opened now, and a counter that makes opens asked for before the
        /// last `closeOpenedFiles` stale.
        var opened: [Int: Result<OpenedFile, ServiceError>] = [:]
        var opening: Set<Int> = []
        var openGeneration = 0
        /// A Complete, Cancel or TakeOwnership is doing its file work (off this actor): the
        /// job is not scheduled and takes no other such call meanwhile.
        var busyWithFiles = false
        /// An upload-reply job's reply file is being made ready on the file workers.
        var openingReply = false
    }

    /// The system resolver's answer for one origin (`scheme://host:port`): a proxy URL or
    /// nil for a direct connection.
    struct ResolvedProxy {
        let origin: String
        let proxy: String?
        let at: ContinuousClock.Instant
    }

    /// A transfer in flight: which job and file it serves and the descriptors it uses.
    struct ActiveTransfer {
        let jobID: JobID
        let fileIndex: Int
        let descriptors: [Int32]
        /// Added to the engine's progress (an upload fragment's offset).
        var progressBase: UInt64 = 0
        /// The download of an upload-reply job's reply.
        var isReply = false
    }

    public nonisolated let limits: JobLimits
    let config: ServiceConfig
    /// What the network monitor last said.
    var network = NetworkStatus(available: true, metered: false)
    let files: OwnerFiles
    /// Where every blocking file operation of a job runs (never on this actor's executor).
    nonisolated let fileWorkers = FileWorkers()
    let flusher = FileFlusher(sync: FsyncFault.sync)
    let logger: Logger
    let clock = ContinuousClock()
    nonisolated let engine: TransferEngine
    private nonisolated let bridge: EngineEventBridge
    weak var observerStorage: (any QueueObserver)?

    /// Recently looked-up owner identities (a job of many files would otherwise read the
    /// user and group databases for each file).
    var identities: [UInt32: (identity: OwnerIdentity, at: ContinuousClock.Instant)] = [:]
    var jobs: [JobID: Job] = [:]
    /// The durable queue (nil: jobs live in memory only, as in unit tests).
    var store: JobStore?
    /// Wakes up when the next job would reach JobInactivityTimeout.
    var inactivityTask: Task<Void, Never>?
    var runtime: [JobID: Runtime] = [:]
    var transfers: [TransferID: ActiveTransfer] = [:]
    /// Cancel-Session packets of cancelled upload jobs still being delivered.
    var cancelSessions: [TransferID: PendingCancel] = [:]
    /// Non-final jobs per owner, kept with every create and retire (limits are checked on
    /// every CreateJob; counting them anew would be O(jobs)).
    var liveJobsByOwner: [UInt32: Int] = [:]
    var liveJobs = 0
    var nextTransferID: TransferID = 1
    var nextQueueSequence: UInt64 = 1
    /// How long a job in a final state stays readable before its object goes away.
    let finalStateGrace: Duration

    public init(config: ServiceConfig, userAgent: String, logger: Logger,
                finalStateGrace: Duration = .seconds(60)) {
        self.limits = config.limits
        self.config = config
        self.files = OwnerFiles()
        self.logger = logger
        self.finalStateGrace = finalStateGrace
        let bridge = EngineEventBridge()
        self.bridge = bridge
        self.engine = TransferEngine(delegate: bridge, userAgent: userAgent)
    }

    /// Looks up the system proxy for a URL (nil = none known: use the environment rules).
    var proxyResolver: (@Sendable (String) async -> String?)?

    /// Installs the system proxy resolver (GIO's, from the transport layer).
    public func setProxyResolver(_ resolver: @escaping @Sendable (String) async -> String?) {
        proxyResolver = resolver
    }

    /// Connects the observer and starts consuming engine events. Call once before serving.
    public func start(observer: any QueueObserver) {
        observerStorage = observer
        watchBandwidthWindow()
        flusher.onFailure { [weak self] in Task { await self?.collectUndurableFiles() } }
        let events = bridge.events
        Task { await self.consume(events) }
    }

    /// Handles engine events in order, on the actor itself: each event resumes this loop
    /// directly instead of a separate task hopping into the actor for every event.
    private func consume(_ events: AsyncStream<EngineEvent>) async {
        for await event in events { handle(event) }
    }

    /// Stops every transfer (SIGTERM path); callable from any thread.
    public nonisolated func stopTransfers() {
        engine.shutdown()
    }

    var observer: (any QueueObserver)? { observerStorage }

    static func now() -> UInt64 {
        SystemClock.realtimeMicroseconds()
    }

    /// The owner's identity, cached for 10 seconds.
    func identity(of uid: UInt32) throws -> OwnerIdentity {
        let now = clock.now
        if let cached = identities[uid], cached.at.duration(to: now) < .seconds(10) { return cached.identity }
        let identity = try OwnerIdentity.lookup(uid: uid)
        identities[uid] = (identity, now)
        return identity
    }

    // MARK: - Manager

    /// `CreateJob`: a new suspended job owned by the caller, within the limits.
    public func createJob(caller: Caller, displayName: String, type: String) throws -> Job {
        let name = try InputValidation.displayName(displayName)
        let jobType = try InputValidation.enumValue(JobType.self, type, what: "Job type")
        try limits.checkNewJob(ownerJobs: liveJobsByOwner[caller.uid] ?? 0,
                               machineJobs: liveJobs, uid: caller.uid,
                               exempt: caller.exemptFromLimits)
        var id = JobID.random()
        while jobs[id] != nil { id = JobID.random() }
        let job = Job(id: id, type: jobType, owner: caller.uid, displayName: name, now: Self.now())
        runtime[id] = Runtime()
        do { try persist(job) } catch { runtime[id] = nil; throw error }
        jobs[id] = job
        liveJobsByOwner[caller.uid, default: 0] += 1
        liveJobs += 1
        logger.info("job \(id) created by uid \(caller.uid) (\(jobType.rawValue))")
        observer?.jobAdded(job)
        return job
    }

    /// A job the caller may see: its own, or any for an administrator. Others are NotFound
    /// (their existence is not revealed).
    /// `GetJob`: like `job(_:caller:)`, but final jobs are gone from the queue (NotFound).
    public func lookUp(_ id: JobID, caller: Caller) throws -> Job {
        let job = try job(id, caller: caller)
        guard !job.state.isFinal else {
            throw ServiceError.notFound("Job \(id) is \(job.state.rawValue); it is no longer in the queue.")
        }
        return job
    }

    public func job(_ id: JobID, caller: Caller) throws -> Job {
        guard let job = jobs[id], job.owner == caller.uid || caller.isAdministrator else {
            throw ServiceError.notFound("No job \(id) exists for user \(caller.uid).")
        }
        return job
    }

    /// Looks a job up without an access check (for the transport's own bookkeeping).
    public func jobIfPresent(_ id: JobID) -> Job? { jobs[id] }

    /// `ListJobs`: the caller's non-final jobs, or everyone's for `allUsers`.
    public func listJobs(caller: Caller, allUsers: Bool) throws -> [Job] {
        if allUsers && !caller.isAdministrator {
            throw ServiceError.accessDenied("Listing every user's jobs needs the org.example.bits.manage-all-jobs authorization.")
        }
        return jobs.values
            .filter { !$0.state.isFinal && (allUsers || $0.owner == caller.uid) }
            .sorted { $0.creationTime < $1.creationTime }
    }

    /// Every published (non-final) job object the caller may see (for GetManagedObjects).
    public func visibleJobs(caller: Caller) -> [Job] {
        jobs.values.filter { !$0.state.isFinal && (caller.isAdministrator || $0.owner == caller.uid) }
            .sorted { $0.creationTime < $1.creationTime }
    }
}
