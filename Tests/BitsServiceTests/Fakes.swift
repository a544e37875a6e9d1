import BitsCore
import BitsService
import BitsStore
import BitsSystem
import BitsTransfer
import Foundation
import Logging
import XCTest

// Fakes of the queue manager's collaborators: no bus, no root, no network, no user database.

/// A lock-protected value.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func with<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
    var current: Value { with { $0 } }
}

/// The durable queue in memory. Survives the queue manager, so a second one can restore from
/// it ("crash restore"). `failSaves` makes every transaction with a save fail as a full disk
/// would; `transactionDelay` makes each transaction take that long (an fsync), so concurrent
/// writes pile up behind it; `failJobs` fails every transaction that saves one of those jobs.
final class FakeStore: JobStoring, @unchecked Sendable {
    struct State {
        var jobs: [JobID: JobStore.StoredJob] = [:]
        var facts: [String: String] = [:]
        var pending: [JobStore.PendingTemporary] = []
        var saves = 0
        /// Transactions that wrote something, and the writes of each.
        var transactions: [Int] = []
        var failSaves = false
        var failJobs: Set<JobID> = []
        var transactionDelay: TimeInterval = 0
        /// Every version of each job saved, in order.
        var history: [JobID: [Job]] = [:]
    }
    let state = Locked(State())
    /// While closed, every transaction waits (on the writer's thread) until `openGate`.
    private let gate = Locked<DispatchSemaphore?>(nil)
    /// Transactions waiting at the closed gate.
    let waitingAtGate = Locked(0)

    func closeGate() { gate.with { $0 = DispatchSemaphore(value: 0) } }
    func openGate() {
        let closed = gate.with { g -> DispatchSemaphore? in defer { g = nil }; return g }
        closed?.signal()
    }

    func apply(_ batch: [StoreWrite]) throws {
        if let closed = gate.current {
            waitingAtGate.with { $0 += 1 }
            closed.wait()
            closed.signal()  // the next waiter, if any
        }
        let delay = state.with { $0.transactionDelay }
        if delay > 0 { Thread.sleep(forTimeInterval: delay) }
        try state.with { s in
            for item in batch {
                if case .save(let job, _, _) = item, s.failSaves || s.failJobs.contains(job.id) {
                    throw NSError(domain: "FakeStore", code: 1, userInfo: [NSLocalizedDescriptionKey: "database or disk is full"])
                }
            }
            var next = s  // all or nothing
            for item in batch {
                switch item {
                case .save(let job, let activity, let settling):
                    next.jobs[job.id] = JobStore.StoredJob(job: job, activity: activity)
                    next.history[job.id, default: []].append(job)
                    next.pending.removeAll { settling.contains($0.path) }
                    next.saves += 1
                case .delete(let id): next.jobs[id] = nil
                case .recordPendingTemporaries(let pending): next.pending += pending
                case .clearPendingTemporaries(let paths): next.pending.removeAll { paths.contains($0.path) }
                case .setFact(let name, let value): next.facts[name] = value
                }
            }
            next.transactions.append(batch.count)
            s = next
        }
    }
    func save(_ job: Job, activity: UInt64, settling: [String]) throws { try apply([.save(job, activity: activity, settling: settling)]) }
    func fact(_ name: String) throws -> String? { state.with { $0.facts[name] } }
    func recordPendingTemporaries(_ pending: [JobStore.PendingTemporary]) throws { try apply([.recordPendingTemporaries(pending)]) }

    var storedJobs: [JobStore.StoredJob] { state.with { Array($0.jobs.values) } }
    func stored(_ id: JobID) -> Job? { state.with { $0.jobs[id]?.job } }
}

/// A transfer engine that records what it is asked and emits the events a test scripts.
final class FakeEngine: TransferEngineProtocol, @unchecked Sendable {
    struct State {
        var downloads: [DownloadRequest] = []
        /// Requests queued behind another (`start(_:after:)`), by predecessor.
        var queuedAfter: [TransferID: TransferID] = [:]
        var exchanges: [ExchangeRequest] = []
        var cancelled: [TransferID] = []
        var ended: Set<TransferID> = []
        var rateLimits: [TransferID: UInt64] = [:]
    }
    let state = Locked(State())
    private(set) weak var delegate: (any TransferEngineDelegate)?

    func factory() -> TransferEngineFactory {
        { [self] delegate in
            self.delegate = delegate
            return self
        }
    }

    func start(_ request: DownloadRequest) { state.with { $0.downloads.append(request) } }
    func start(_ request: DownloadRequest, after predecessor: TransferID) {
        state.with {
            $0.downloads.append(request)
            $0.queuedAfter[request.id] = predecessor
        }
    }
    func exchange(_ request: ExchangeRequest) { state.with { $0.exchanges.append(request) } }
    func cancel(id: TransferID) {
        let first = state.with { s -> Bool in
            s.cancelled.append(id)
            return s.ended.insert(id).inserted
        }
        guard first else { return }
        let isExchange = state.with { s in s.exchanges.contains { $0.id == id } }
        if isExchange { delegate?.transfer(id, didExchange: .cancelled) } else { delegate?.transfer(id, didEnd: .cancelled(bytesOnDisk: 0)) }
    }
    func setRateLimit(id: TransferID, bytesPerSecond: UInt64) { state.with { $0.rateLimits[id] = bytesPerSecond } }
    func shutdown() {}

    var downloads: [DownloadRequest] { state.current.downloads }
    var exchanges: [ExchangeRequest] { state.current.exchanges }
    /// Downloads started and not ended (queued ones included).
    var running: [DownloadRequest] { state.with { s in s.downloads.filter { !s.ended.contains($0.id) } } }

    // Scripted events.
    func respond(_ id: TransferID, size: UInt64?, offset: UInt64 = 0, entityTag: String? = "\"v1\"") {
        delegate?.transfer(id, didReceive: ResponseInfo(status: offset > 0 ? 206 : 200, totalSize: size, writeOffset: offset,
                                                        entityTag: entityTag, lastModifiedText: nil,
                                                        lastModifiedMicroseconds: 0, acceptsRanges: true,
                                                        effectiveURL: "", headerBlock: "HTTP/1.1 200 OK", retryAfterSeconds: nil))
    }
    func progress(_ id: TransferID, _ bytes: UInt64) { delegate?.transfer(id, didProgress: bytes) }
    func end(_ id: TransferID, _ outcome: TransferOutcome) {
        guard state.with({ $0.ended.insert(id).inserted }) else { return }
        delegate?.transfer(id, didEnd: outcome)
    }
    func answer(_ id: TransferID, status: Int = 200, _ headers: [String: String]) {
        guard state.with({ $0.ended.insert(id).inserted }) else { return }
        let fields = headers.sorted { $0.key < $1.key }.map { ExchangeResponse.HeaderField(name: $0.key, value: $0.value) }
        delegate?.transfer(id, didExchange: .response(ExchangeResponse(status: status, headers: fields)))
    }
}

/// The owner's files without changing identity: plain files under a test directory, the
/// identity made up from the uid. `failingFsync` makes the fsync of matching paths fail (EIO).
struct FakeOwnerFiles: OwnerFileAccess {
    let failingFsync = Locked<String?>(nil)
    let unknownUsers = Locked<Set<UInt32>>([])
    /// Every identity lookup, by uid, in order.
    let identityLookups = Locked<[UInt32]>([])
    /// Runs (on the calling thread) at each identity lookup: a test makes one slow or hang.
    let identityHook = Locked<(@Sendable (UInt32) -> Void)?>(nil)
    /// Runs (on the calling thread, with the path) before each `openTemporary` and
    /// `openSource`: a test makes an open slow or hang.
    let openHook = Locked<(@Sendable (String) -> Void)?>(nil)
    /// Runs (on the calling thread) before each fstat (`status`): a test makes one hang.
    let statusHook = Locked<(@Sendable () -> Void)?>(nil)
    /// Runs (on the calling thread, with the descriptor) before each `close`: a test makes
    /// one hang.
    let closeHook = Locked<(@Sendable (Int32) -> Void)?>(nil)
    /// Every descriptor closed through `close`, in order.
    let closed = Locked<[Int32]>([])
    /// Every `openSource`, by path, in order.
    let sourceOpens = Locked<[String]>([])
    /// Every descriptor `openTemporary` and `openSource` returned, in order.
    let opened = Locked<[Int32]>([])

    func identity(of uid: UInt32) throws -> OwnerIdentity {
        identityLookups.with { $0.append(uid) }
        identityHook.current?(uid)
        if unknownUsers.current.contains(uid) { throw ServiceError.accessDenied("User \(uid) is unknown.") }
        return OwnerIdentity(uid: uid, gid: uid, groups: [])
    }
    private func directoryIdentity(_ path: String) throws -> DirectoryIdentity {
        var st = stat()
        guard stat((path as NSString).deletingLastPathComponent, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw ServiceError.invalidArgs("The directory of '\(path)' does not exist.")
        }
        return DirectoryIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }
    private func open(_ path: String, _ flags: Int32) throws -> (Int32, UInt64) {
        let fd = Glibc.open(path, flags | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ServiceError(errno == ENOENT ? .invalidArgs : .accessDenied, "'\(path)': \(String(cString: strerror(errno))).") }
        var st = stat()
        fstat(fd, &st)
        return (fd, UInt64(st.st_size))
    }
    func prepareDestination(localPath: String, temporaryName: String, owner: OwnerIdentity,
                            umask: UInt32, resolution: PathResolution) throws -> OwnerFiles.Prepared {
        let path = OwnerFiles.temporaryPath(for: localPath, name: temporaryName)
        let (fd, _) = try open(path, O_RDWR | O_CREAT)
        Glibc.close(fd)
        return OwnerFiles.Prepared(path: path, directory: try directoryIdentity(localPath))
    }
    func checkDestinations(_ localPaths: [String], owner: OwnerIdentity,
                           resolution: PathResolution) throws -> [DirectoryIdentity] {
        try localPaths.map(directoryIdentity)
    }
    func prepareDirectDestination(localPath: String, owner: OwnerIdentity, umask: UInt32,
                                  resolution: PathResolution) throws -> OwnerFiles.Prepared {
        let (fd, _) = try open(localPath, O_RDWR | O_CREAT)
        Glibc.close(fd)
        return OwnerFiles.Prepared(path: localPath, directory: try directoryIdentity(localPath))
    }
    func openTemporary(_ path: String, owner: OwnerIdentity, umask: UInt32,
                       resolution: PathResolution) throws -> OwnerFiles.Opened {
        openHook.current?(path)
        let (fd, length) = try open(path, O_RDWR | O_CREAT)
        opened.with { $0.append(fd) }
        return OwnerFiles.Opened(descriptor: FileDescriptor(adopting: fd), length: length)
    }
    func openSource(_ path: String, owner: OwnerIdentity, resolution: PathResolution) throws -> OwnerFiles.Opened {
        sourceOpens.with { $0.append(path) }
        openHook.current?(path)
        let (fd, length) = try open(path, O_RDONLY)
        opened.with { $0.append(fd) }
        return OwnerFiles.Opened(descriptor: FileDescriptor(adopting: fd), length: length)
    }
    func readSmallFile(_ path: String, owner: OwnerIdentity, limit: Int, resolution: PathResolution) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ServiceError.invalidArgs("'\(path)' cannot be read.") }
        return Array(data.prefix(limit))
    }
    func syncDirectories(of paths: [String], owner: OwnerIdentity, resolution: PathResolution) {}
    func commit(_ renames: [OwnerFiles.Rename], owner: OwnerIdentity, resolution: PathResolution,
                renamed: (Int) -> Void) throws {
        for (i, rename) in renames.enumerated() {
            guard Glibc.rename(rename.temporary, rename.localPath) == 0 else {
                throw ServiceError(.failed, "rename '\(rename.temporary)': \(String(cString: strerror(errno))).")
            }
            renamed(i)
        }
    }
    func reconcileTemporary(_ path: String, keeping: UInt64, owner: OwnerIdentity, resolution: PathResolution) -> UInt64? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        if UInt64(st.st_size) > keeping {
            truncate(path, off_t(keeping))
            return keeping
        }
        return UInt64(st.st_size)
    }
    func remove(_ path: String, owner: OwnerIdentity, resolution: PathResolution) { unlink(path) }
    func status(_ descriptor: BorrowedDescriptor) throws(SystemError) -> FileStatus {
        statusHook.current?()
        return try descriptor.status()
    }
    func close(_ descriptor: consuming FileDescriptor) {
        let raw = descriptor.raw
        closeHook.current?(raw)
        _ = try? descriptor.close()
        closed.with { $0.append(raw) }
    }
    func sync(_ descriptor: BorrowedDescriptor) throws(SystemError) {
        if let text = failingFsync.current, descriptorName(descriptor.raw).contains(text) {
            throw SystemError(code: Errno.io, operation: "fsync")
        }
    }
}

/// A clock that moves only when the test says so. Sleepers wake when `advance` passes their
/// deadline.
final class ManualClock: ServiceClock, @unchecked Sendable {
    private struct Sleeper {
        let deadline: Duration
        let continuation: CheckedContinuation<Void, Error>
    }
    private struct State {
        var elapsed: Duration = .zero
        var sleepers: [UInt64: Sleeper] = [:]
        var nextID: UInt64 = 0
    }
    private let state = Locked(State())
    private let origin = ContinuousClock.now
    private let wallOrigin: UInt64 = 1_700_000_000_000_000
    /// Local time of day at the start (minutes since midnight).
    let startMinute: Int

    init(startMinute: Int = 12 * 60) { self.startMinute = startMinute }

    var elapsed: Duration { state.current.elapsed }
    var now: ContinuousClock.Instant { origin + elapsed }
    func wallMicroseconds() -> UInt64 {
        let c = elapsed.components
        return wallOrigin + UInt64(c.seconds) * 1_000_000 + UInt64(c.attoseconds / 1_000_000_000_000)
    }
    func localTime() -> (minuteOfDay: Int, secondOfMinute: Int) {
        let seconds = Int(elapsed.components.seconds) + startMinute * 60
        return ((seconds / 60) % 1440, seconds % 60)
    }
    var sleepers: Int { state.current.sleepers.count }

    func sleep(for duration: Duration) async throws {
        let id = state.with { s -> UInt64 in s.nextID += 1; return s.nextID }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                let resumeNow = state.with { s -> Bool in
                    let deadline = s.elapsed + duration
                    if duration <= .zero || Task.isCancelled { return true }
                    s.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let sleeper = state.with { $0.sleepers.removeValue(forKey: id) }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time on and wakes every sleeper whose deadline passed.
    func advance(by duration: Duration) {
        let due = state.with { s -> [Sleeper] in
            s.elapsed += duration
            let due = s.sleepers.filter { $0.value.deadline <= s.elapsed }
            for key in due.keys { s.sleepers[key] = nil }
            return due.values.sorted { $0.deadline < $1.deadline }
        }
        for sleeper in due { sleeper.continuation.resume() }
    }
}

/// Records what the queue manager reports.
final class RecordingObserver: QueueObserver, @unchecked Sendable {
    enum Event: Equatable {
        case added(JobID), restored(JobID), changed(JobID, JobState), filesAdded(JobID, Range<Int>)
        case fileChanged(JobID, Int), fileTransferred(JobID, Int), transferred(JobID), failed(JobID, ErrorCode), removed(JobID)
    }
    let events = Locked<[Event]>([])
    /// Every `jobChanged`: the properties named and the job's rate then.
    let changes = Locked<[(id: JobID, properties: Set<JobProperty>, rate: TransferRate)]>([])
    func jobAdded(_ job: Job) { events.with { $0.append(.added(job.id)) } }
    func jobRestored(_ job: Job) { events.with { $0.append(.restored(job.id)) } }
    func jobChanged(_ job: Job, properties: Set<JobProperty>) {
        events.with { $0.append(.changed(job.id, job.state)) }
        changes.with { $0.append((job.id, properties, job.transferRate)) }
    }
    func filesAdded(_ job: Job, indices: Range<Int>) { events.with { $0.append(.filesAdded(job.id, indices)) } }
    func fileChanged(_ job: Job, index: Int, properties: Set<FileProperty>) { events.with { $0.append(.fileChanged(job.id, index)) } }
    func fileTransferred(_ job: Job, index: Int) { events.with { $0.append(.fileTransferred(job.id, index)) } }
    func jobTransferred(_ job: Job) { events.with { $0.append(.transferred(job.id)) } }
    func jobFailed(_ job: Job, error: JobError) { events.with { $0.append(.failed(job.id, error.code)) } }
    func jobRemoved(_ job: Job) { events.with { $0.append(.removed(job.id)) } }
}

/// A network or power monitor whose reports the test makes (`report`), from any thread.
final class FakeMonitor<Status: Sendable>: @unchecked Sendable {
    private let reporter = Locked<(@Sendable (Status) -> Void)?>(nil)
    private let initial: Status
    init(initial: Status) { self.initial = initial }
    func begin(_ report: @escaping @Sendable (Status) -> Void) {
        reporter.with { $0 = report }
        report(initial)
    }
    func report(_ status: Status) { reporter.current?(status) }
}

extension FakeMonitor: NetworkMonitoring where Status == NetworkStatus {
    func start(reporting report: @escaping @Sendable (NetworkStatus) -> Void) throws { begin(report) }
}

extension FakeMonitor: PowerMonitoring where Status == Bool {
    func start(reporting report: @escaping @Sendable (Bool) -> Void) { begin(report) }
}

/// A queue manager on fakes, with helpers to drive it.
final class Rig: @unchecked Sendable {
    let store: FakeStore
    let engine = FakeEngine()
    let files = FakeOwnerFiles()
    let clock: ManualClock
    let observer = RecordingObserver()
    let manager: QueueManager
    let directory: String
    static let workers = FileWorkers(threads: 2)

    let alice = Caller(uid: 1000, isAdministrator: false)

    init(store: FakeStore = FakeStore(), clock: ManualClock = ManualClock(), directory: String? = nil,
         config: ServiceConfig = ServiceConfig()) async {
        self.store = store
        self.clock = clock
        if let directory {
            self.directory = directory
        } else {
            let dir = NSTemporaryDirectory() + "bits-service-tests-" + UUID().uuidString
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            self.directory = dir
        }
        var logger = Logger(label: "bitsd-test")
        logger.logLevel = .critical
        manager = QueueManager(config: config, logger: logger, engine: engine.factory(), files: files, clock: clock,
                               fileWorkers: Self.workers, finalStateGrace: .seconds(5))
        await manager.start(observer: observer)
    }

    /// A new queue manager on the same store and directory, as after a crash of the daemon
    /// that came after the store writer had written what was queued (a queued write lost to
    /// a crash is a separate case: the service never acknowledged it as stored).
    func reopened(bootID: String = "boot-1") async -> Rig {
        await manager.waitForQueuedWrites()
        let rig = await Rig(store: store, clock: clock, directory: directory)
        await rig.manager.restore(store: store, jobs: store.storedJobs, pendingTemporaries: store.state.current.pending,
                                  bootID: bootID)
        return rig
    }

    func restoreEmpty(bootID: String = "boot-1") async {
        await manager.restore(store: store, jobs: [], pendingTemporaries: [], bootID: bootID)
    }

    /// A download job of `files` files with `settings`, not resumed.
    func downloadJob(files count: Int = 1, _ settings: [JobSetting] = []) async throws -> JobID {
        let job = try await manager.createJob(caller: alice, displayName: "test", type: "download")
        for setting in settings { try await manager.set(setting, on: job.id, caller: alice) }
        let entries = (0..<count).map { (remote: "https://example.invalid/f\($0)", local: "\(directory)/\(job.id.hex)-\($0).bin") }
        if count > 0 { _ = try await manager.addFiles(job.id, caller: alice, files: entries) }
        return job.id
    }

    func state(_ id: JobID) async -> JobState? { await manager.jobIfPresent(id)?.state }
    func job(_ id: JobID) async -> Job? { await manager.jobIfPresent(id) }

    /// Waits (real time, at most 5 s) until `condition` holds; the actor, its tasks and the
    /// file workers run meanwhile.
    func waitUntil(_ what: String = "condition", file: StaticString = #filePath, line: UInt = #line,
                   _ condition: () async -> Bool) async {
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if await condition() { return }
            try? await Task.sleep(for: .milliseconds(2))
        }
        XCTFail("timed out waiting for \(what)", file: file, line: line)
    }

    /// The download request for file `index` of `id`, once the engine has it.
    func waitForDownload(of id: JobID, count: Int = 1, file: StaticString = #filePath, line: UInt = #line) async -> DownloadRequest? {
        await waitUntil("\(count) download request(s)", file: file, line: line) { self.engine.running.count >= count }
        return engine.running.last
    }

    /// Lets the actor's timers register, then moves the clock on and lets what woke up run.
    func advance(by duration: Duration) async {
        try? await Task.sleep(for: .milliseconds(20))
        clock.advance(by: duration)
        try? await Task.sleep(for: .milliseconds(20))
    }
}
