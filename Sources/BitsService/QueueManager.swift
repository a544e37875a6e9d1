import BitsCore
import BitsSystem
import BitsStore
import BitsTransfer
import Dispatch
import Logging

/// The queue manager: owns every job, enforces who may do what and the state rules, runs
/// the scheduler and the transfers, and reports every change to its observer. Transport-free:
/// the D-Bus layer decodes calls into these methods and publishes the observer's events.
public actor QueueManager {
    /// Per-job bookkeeping that is not part of the job's public state (`JobRuntime`).
    typealias Runtime = JobRuntime

    /// The system resolver's answer for one origin (`scheme://host:port`): a proxy URL or
    /// nil for a direct connection.
    struct ResolvedProxy {
        let origin: String
        let proxy: String?
        let at: ContinuousClock.Instant
    }

    /// A transfer in flight: which job and file it serves and the descriptors it uses (held
    /// until it ends).
    struct ActiveTransfer {
        let jobID: JobID
        let fileIndex: Int
        var files: HeldDescriptors?
        /// Added to the engine's progress (an upload fragment's offset).
        var progressBase: UInt64 = 0
        /// The download of an upload-reply job's reply.
        var isReply = false
        /// The digests the engine computed for the finished file (`didHash`).
        var digests: ComputedDigests?
        /// The digests the server announced for the whole file (`Repr-Digest`, `Content-Digest`).
        var announced: [FileHash] = []
    }

    public nonisolated let limits: JobLimits
    let config: ServiceConfig
    /// What the network monitor last said.
    var network = NetworkStatus(available: true, metered: false)
    /// What the power monitor last said (false without one, or without UPower).
    var onBattery = false
    let files: any OwnerFileAccess
    /// Where every blocking file operation of a job runs (never on this actor's executor).
    nonisolated let fileWorkers: FileWorkers
    let flusher: FileFlusher
    let logger: Logger
    nonisolated let clock: any ServiceClock
    /// The monotonic time at start (`monotonicMilliseconds`).
    let clockOrigin: ContinuousClock.Instant
    nonisolated let engine: any TransferEngineProtocol
    let crashPoints: any CrashPoints
    /// The monitors given to `watch`, kept for as long as the queue manager lives.
    private var monitors: [AnyObject] = []
    private nonisolated let bridge: EngineEventBridge
    weak var observerStorage: (any QueueObserver)?

    /// Recently looked-up owner identities (a job of many files would otherwise read the
    /// user and group databases for each file).
    var identities: [UInt32: (identity: OwnerIdentity, at: ContinuousClock.Instant)] = [:]
    /// Lookups of owner identities running on the file workers, by uid: concurrent misses for
    /// the same uid wait for the one lookup.
    var identityLookups: [UInt32: Task<OwnerIdentity, any Error>] = [:]
    /// Every job with its runtime, and the live-job counts the limits are checked against.
    var table = JobTable()
    /// Each job's client write turn and the service writes held meanwhile.
    var clientWrites = ClientWrites()
    /// The writer of the durable queue (nil: jobs live in memory only, as in unit tests).
    var store: StoreWriter?
    /// Wakes up when the next job would reach JobInactivityTimeout.
    var inactivityTask: Task<Void, Never>?
    /// The engine requests in flight (and Cancel-Sessions still owed).
    var transfers = TransferTable()
    var nextQueueSequence: UInt64 = 1
    /// How long a job in a final state stays readable before its object goes away.
    let finalStateGrace: Duration

    /// The daemon's queue manager: the real engine (libcurl), owner files, clock and crash
    /// points `crashPoints` (none unless a test armed one); the network and power monitors
    /// are given to `watch`.
    public init(config: ServiceConfig, userAgent: String, logger: Logger,
                finalStateGrace: Duration = .seconds(60),
                files: any OwnerFileAccess = OwnerFiles(),
                crashPoints: any CrashPoints = NoCrashPoints()) {
        self.init(config: config, logger: logger, engine: { TransferEngine(delegate: $0, userAgent: userAgent) },
                  files: files, clock: RealClock(), crashPoints: crashPoints, finalStateGrace: finalStateGrace)
    }

    /// A queue manager with the given collaborators (the unit tests pass fakes). The store is
    /// given with `restore` (without one, jobs live in memory only).
    public init(config: ServiceConfig, logger: Logger,
                engine makeEngine: TransferEngineFactory,
                files: any OwnerFileAccess,
                clock: any ServiceClock,
                crashPoints: any CrashPoints = NoCrashPoints(),
                fileWorkers: FileWorkers = FileWorkers(),
                finalStateGrace: Duration = .seconds(60)) {
        self.limits = config.limits
        self.config = config
        self.files = files
        self.logger = logger
        self.clock = clock
        self.clockOrigin = clock.now
        self.crashPoints = crashPoints
        self.fileWorkers = fileWorkers
        self.finalStateGrace = finalStateGrace
        self.flusher = FileFlusher(sync: { fd throws(SystemError) in try files.sync(fd) })
        let bridge = EngineEventBridge()
        self.bridge = bridge
        self.engine = makeEngine(bridge)
    }

    /// Runs `body` on this actor after `delay` of the clock's time, unless the task was
    /// cancelled meanwhile or the queue manager is gone. Every timer of the service is one.
    @discardableResult
    nonisolated func after(_ delay: Duration,
                           _ body: @escaping @Sendable (isolated QueueManager) -> Void) -> Task<Void, Never> {
        Task { [weak self, clock] in
            try? await clock.sleep(for: delay)
            guard !Task.isCancelled, let self else { return }
            await self.run(body)
        }
    }

    /// Runs `body` on this actor (for a closure that continues work later).
    func run(_ body: @Sendable (isolated QueueManager) -> Void) { body(self) }

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

    /// Starts the network monitor and (if any) the power monitor; their reports reach
    /// `networkChanged`/`powerChanged` in order. A network monitor that cannot start is
    /// logged and the network taken as available.
    public func watch(network: any NetworkMonitoring, power: (any PowerMonitoring)?) {
        monitors.append(network)
        do {
            try network.start(reporting: orderedReports { $0.networkChanged($1) })
        } catch {
            logger.error("the network monitor could not start: \(error)")
        }
        guard let power else { return }
        monitors.append(power)
        power.start(reporting: orderedReports { $0.powerChanged(onBattery: $1) })
    }

    /// A report function whose reports reach `handle` on this actor in order, the newest one
    /// kept while the actor is behind (so a quick flip never ends on a stale value).
    private func orderedReports<T: Sendable>(_ handle: @escaping @Sendable (isolated QueueManager, T) -> Void) -> @Sendable (T) -> Void {
        let reports = AsyncStream.makeStream(of: T.self, bufferingPolicy: .bufferingNewest(1))
        Task { [weak self] in
            for await value in reports.stream {
                guard let self else { return }
                await self.run { handle($0, value) }
            }
        }
        return { reports.continuation.yield($0) }
    }

    /// Handles engine events in order, on the actor itself: each event resumes this loop
    /// directly instead of a separate task hopping into the actor for every event.
    private func consume(_ events: AsyncStream<EngineEvent>) async {
        for await event in events { handle(event) }
    }

    /// The SIGTERM path: stops every transfer, then waits (at most `timeout`) until the store
    /// writer has written every change queued so far, so that a clean stop loses none of the
    /// service's own queued writes. Callable from any thread; blocks the caller.
    public nonisolated func stop(timeout: Duration = .seconds(5)) {
        engine.shutdown()
        let drained = DispatchSemaphore(value: 0)
        Task { await self.waitForQueuedWrites(); drained.signal() }
        _ = drained.wait(timeout: .now() + .seconds(Int(timeout.components.seconds)))
    }

    /// Returns when every store write queued so far is written (or failed); the actor stays
    /// free meanwhile (the wait runs off it).
    public func waitForQueuedWrites() async {
        guard let writer = store else { return }
        await Task.detached { writer.flush() }.value
    }

    var observer: (any QueueObserver)? { observerStorage }

    /// Wall-clock microseconds since the epoch.
    func wallNow() -> UInt64 { clock.wallMicroseconds() }

    /// Now, for a transition.
    var moment: Moment { Moment(now: clock.now, wall: wallNow()) }

    /// A job with its runtime, to make a transition on (then `commit`).
    func controller(_ id: JobID) -> JobController? { table[id] }

    /// The one commit step after a transition: keeps the job and its runtime, then
    /// `published`.
    func commit(_ controller: JobController, _ transition: JobController.Transition, persist: Bool) {
        table[controller.job.id] = controller
        published(controller.job.id, transition, persist: persist)
    }

    /// After a transition made on job `id` (in place in the table, or by `commit`): stores the
    /// job when `persist` (a failure is logged; the next change writes it again), arms the
    /// MaximumDownloadTime check the transition asks for and tells the observer what changed.
    func published(_ id: JobID, _ transition: JobController.Transition, persist: Bool) {
        if persist { persistQuietly(id) }
        if let wait = transition.checkDownloadTimeAfter { after(wait) { $0.checkDownloadTime(id) } }
        if !transition.changed.isEmpty, let job = table[id]?.job { observer?.jobChanged(job, properties: transition.changed) }
    }

    /// Makes `transition` on job `id` and commits it; false when there is no such job or the
    /// transition does not apply (it returned nil).
    @discardableResult
    func transition(_ id: JobID, persist: Bool,
                    _ body: (inout JobController, Moment, inout UInt64) -> JobController.Transition?) -> Bool {
        guard var controller = controller(id),
              let transition = body(&controller, moment, &nextQueueSequence) else { return false }
        commit(controller, transition, persist: persist)
        return true
    }

    /// The owner's identity, cached for 10 seconds. A miss reads the user database (NSS:
    /// files, but also LDAP or sssd, which can hang) on a file worker, never on this actor:
    /// the caller waits, the actor and other owners' jobs do not. Concurrent misses for the
    /// same uid share one lookup. Failures are not cached.
    func identity(of uid: UInt32) async throws -> OwnerIdentity {
        if let cached = identities[uid], cached.at.duration(to: clock.now) < .seconds(10) { return cached.identity }
        if let running = identityLookups[uid] { return try await running.value }
        let files = self.files
        let lookup = Task { [fileWorkers] in try await fileWorkers.run { try files.identity(of: uid) } }
        identityLookups[uid] = lookup
        do {
            let identity = try await lookup.value
            identityLookups[uid] = nil
            identities[uid] = (identity, clock.now)
            return identity
        } catch {
            identityLookups[uid] = nil
            throw error
        }
    }

    /// `identity(of:)` as a result, its failure as a `ServiceError` (access denied).
    func identityResult(of uid: UInt32) async -> Result<OwnerIdentity, ServiceError> {
        do {
            return .success(try await identity(of: uid))
        } catch {
            return .failure((error as? ServiceError) ?? ServiceError(.accessDenied, "\(error)"))
        }
    }

    // MARK: - Manager

    /// `CreateJob`: a new suspended job owned by the caller, within the limits. The job is
    /// counted against the limits at once (so concurrent creates cannot exceed them), stored
    /// by the store writer (grouped with concurrent writes) and only then published and
    /// returned: a reply means the job is on disk. A store failure gives its count back.
    public func createJob(caller: Caller, displayName: String, type: String) async throws -> Job {
        let name = try InputValidation.displayName(displayName)
        let jobType = try InputValidation.enumValue(JobType.self, type, what: "Job type")
        try limits.checkNewJob(ownerJobs: table.liveJobs(of: caller.uid),
                               machineJobs: table.liveCount, uid: caller.uid,
                               exempt: caller.exemptFromLimits)
        // Reserved before the await (counted, its id taken): the job is not visible (nobody
        // can see or change it) until it is stored.
        let id = table.reserve(owner: caller.uid)
        let job = Job(id: id, type: jobType, owner: caller.uid, displayName: name, now: wallNow())
        do {
            try await persistDurably(job)
        } catch {
            table.cancelReservation(id)
            throw error
        }
        table.publish(job)
        recordStored(id, at: wallNow())
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
        guard let job = table[id]?.job, job.owner == caller.uid || caller.isAdministrator else {
            throw ServiceError.notFound("No job \(id) exists for user \(caller.uid).")
        }
        return job
    }

    /// Looks a job up without an access check (for the transport's own bookkeeping).
    public func jobIfPresent(_ id: JobID) -> Job? { table[id]?.job }

    /// `ListJobs`: the caller's non-final jobs, or everyone's for `allUsers`.
    public func listJobs(caller: Caller, allUsers: Bool) throws -> [Job] {
        if allUsers && !caller.isAdministrator {
            throw ServiceError.accessDenied("Listing every user's jobs needs the org.example.bits.manage-all-jobs authorization.")
        }
        return table.jobs
            .filter { !$0.state.isFinal && (allUsers || $0.owner == caller.uid) }
            .sorted { $0.creationTime < $1.creationTime }
    }

    /// Every published (non-final) job object the caller may see (for GetManagedObjects).
    public func visibleJobs(caller: Caller) -> [Job] {
        table.jobs.filter { !$0.state.isFinal && (caller.isAdministrator || $0.owner == caller.uid) }
            .sorted { $0.creationTime < $1.creationTime }
    }
}
