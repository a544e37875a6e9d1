import BitsCore
import BitsStore
import BitsSystem
import BitsTransfer

// The queue manager's collaborators, injected as protocols: the daemon passes the real ones
// (`QueueManager.init(config:userAgent:logger:)`), the unit tests (`Tests/BitsServiceTests`)
// in-memory fakes. Fault injection for tests goes through these too (a store that fails, an
// owner-file access whose fsync fails, crash points), never through the environment.

/// What the queue manager needs of the durable queue (`BitsStore.JobStore`). Writes go
/// through the queue manager's `StoreWriter`, which calls `apply` on its own thread only,
/// one batch at a time.
public protocol JobStoring: AnyObject, Sendable {
    /// Applies `batch` in order in one transaction, durably: all or nothing (see
    /// `JobStore.apply`).
    func apply(_ batch: [StoreWrite]) throws
    func fact(_ name: String) throws -> String?
}

extension JobStore: JobStoring {}

/// What the queue manager needs of the transfer engine (`BitsTransfer.TransferEngine`).
/// Events come back through the `TransferEngineDelegate` the engine was made with.
public protocol TransferEngineProtocol: AnyObject, Sendable {
    func start(_ request: DownloadRequest)
    func start(_ request: DownloadRequest, after predecessor: TransferID)
    func exchange(_ request: ExchangeRequest)
    func cancel(id: TransferID)
    func setRateLimit(id: TransferID, bytesPerSecond: UInt64)
    func shutdown()
}

extension TransferEngine: TransferEngineProtocol {}

/// Makes the engine, given where its events go.
public typealias TransferEngineFactory = @Sendable (any TransferEngineDelegate) -> any TransferEngineProtocol

/// Every blocking operation on a user's files, as the owner (`OwnerFiles`), and the lookup
/// of owners' identities. Called on the file workers only, never on the queue manager's
/// executor.
public protocol OwnerFileAccess: Sendable {
    /// The owner's credentials (the user database, through NSS: it may block for as long as
    /// an LDAP or sssd server takes); throws for an unknown uid.
    func identity(of uid: UInt32) throws -> OwnerIdentity
    func prepareDestination(localPath: String, temporaryName: String, owner: OwnerIdentity,
                            umask: UInt32, resolution: PathResolution) throws -> OwnerFiles.Prepared
    func checkDestinations(_ localPaths: [String], owner: OwnerIdentity,
                           resolution: PathResolution) throws -> [DirectoryIdentity]
    func prepareDirectDestination(localPath: String, owner: OwnerIdentity, umask: UInt32,
                                  resolution: PathResolution) throws -> OwnerFiles.Prepared
    func openTemporary(_ path: String, owner: OwnerIdentity, umask: UInt32,
                       resolution: PathResolution) throws -> OwnerFiles.Opened
    func openSource(_ path: String, owner: OwnerIdentity,
                    resolution: PathResolution) throws -> OwnerFiles.Opened
    func readSmallFile(_ path: String, owner: OwnerIdentity, limit: Int,
                       resolution: PathResolution) throws -> [UInt8]
    func syncDirectories(of paths: [String], owner: OwnerIdentity, resolution: PathResolution)
    func commit(_ renames: [OwnerFiles.Rename], owner: OwnerIdentity, resolution: PathResolution,
                renamed: (Int) -> Void) throws
    func reconcileTemporary(_ path: String, keeping: UInt64, owner: OwnerIdentity,
                            resolution: PathResolution) -> UInt64?
    func remove(_ path: String, owner: OwnerIdentity, resolution: PathResolution)
    /// fsync of a descriptor the service opened (a finished file, a file being downloaded,
    /// a reply).
    func sync(_ descriptor: BorrowedDescriptor) throws(SystemError)
    /// fstat of a descriptor the service opened (an upload source, to notice changes).
    func status(_ descriptor: BorrowedDescriptor) throws(SystemError) -> FileStatus
    /// Closes a descriptor of a user's file (closing one on NFS or FUSE can block: it flushes).
    func close(_ descriptor: consuming FileDescriptor)
}

extension OwnerFileAccess {
    /// Moves one finished temporary file to its final name.
    func commit(temporary: String, to localPath: String, pinned: DirectoryIdentity?, owner: OwnerIdentity,
                resolution: PathResolution) throws {
        try commit([OwnerFiles.Rename(temporary: temporary, localPath: localPath, pinned: pinned)], owner: owner,
                   resolution: resolution) { _ in }
    }
}

extension OwnerFiles: OwnerFileAccess {
    public func identity(of uid: UInt32) throws -> OwnerIdentity { try OwnerIdentity.lookup(uid: uid) }
    public func sync(_ descriptor: BorrowedDescriptor) throws(SystemError) { try descriptor.sync() }
    public func status(_ descriptor: BorrowedDescriptor) throws(SystemError) -> FileStatus { try descriptor.status() }
    public func close(_ descriptor: consuming FileDescriptor) { _ = try? descriptor.close() }
}

/// Time as the queue manager sees it: a monotonic clock for timers and intervals, the wall
/// clock for stored times, the local time of day for bandwidth windows, and sleeping.
/// (Named `ServiceClock` so as not to shadow the standard library's `Clock`.)
public protocol ServiceClock: Sendable {
    /// Monotonic now.
    var now: ContinuousClock.Instant { get }
    /// Microseconds since the epoch (stored times: creation, modification, activity).
    func wallMicroseconds() -> UInt64
    /// The local time: minute of the day (0..<1440) and second of the minute.
    func localTime() -> (minuteOfDay: Int, secondOfMinute: Int)
    /// Sleeps for `duration` of this clock's time; throws `CancellationError` when the task
    /// is cancelled first.
    func sleep(for duration: Duration) async throws
}

/// The system's clocks (through `BitsSystem.SystemClock`).
public struct RealClock: ServiceClock {
    public init() {}
    public var now: ContinuousClock.Instant { ContinuousClock.now }
    public func wallMicroseconds() -> UInt64 { SystemClock.realtimeMicroseconds() }
    public func localTime() -> (minuteOfDay: Int, secondOfMinute: Int) {
        let parts = SystemClock.localFields()
        return (Int(parts.hour) * 60 + Int(parts.minute), Int(parts.second))
    }
    public func sleep(for duration: Duration) async throws {
        try await Task.sleep(for: duration)
    }
}

/// Reports whether a network is available and whether it is metered (the daemon's: GIO's
/// network monitor, or a state file for tests; given to `QueueManager.watch`).
public protocol NetworkMonitoring: AnyObject, Sendable {
    /// Starts watching; `report` gets the current status and every change, on any thread.
    func start(reporting report: @escaping @Sendable (NetworkStatus) -> Void) throws
}

/// Reports whether the machine runs on battery (the daemon's: UPower's `OnBattery`).
public protocol PowerMonitoring: AnyObject, Sendable {
    /// Starts watching; `report` gets the current state and every change, on any thread.
    func start(reporting report: @escaping @Sendable (Bool) -> Void)
}

/// Named points between the steps of AddFile, Complete and Cancel where the crash-consistency
/// tests stop the daemon. `reach` does nothing in the shipped daemon unless its hidden
/// `--crash-at` option armed one point.
public protocol CrashPoints: Sendable {
    func reach(_ point: String)
}

/// No crash points (the default).
public struct NoCrashPoints: CrashPoints {
    public init() {}
    public func reach(_ point: String) {}
}
