import BitsCore

/// Who is calling: the uid the bus vouched for, whether polkit (or uid 0) made the caller an
/// administrator of every job (`org.example.bits.manage-all-jobs`) and whether the caller is
/// exempt from the job, file and range limits (`org.example.bits.exceed-limits`).
public struct Caller: Sendable, Equatable {
    public let uid: UInt32
    public let isAdministrator: Bool
    public let exemptFromLimits: Bool
    /// The umask of the calling process, when the call adds files (nil: unknown, 022).
    public var umask: UInt32?

    public init(uid: UInt32, isAdministrator: Bool, exemptFromLimits: Bool? = nil, umask: UInt32? = nil) {
        self.uid = uid
        self.isAdministrator = isAdministrator
        self.exemptFromLimits = exemptFromLimits ?? isAdministrator
        self.umask = umask
    }
}

/// Receives everything the queue manager changes, in order, to publish it (D-Bus objects,
/// properties and signals). Called on the queue manager's executor; must not block.
public protocol QueueObserver: AnyObject, Sendable {
    func jobAdded(_ job: Job)
    /// A job taken over from the database at start-up (published without signals).
    func jobRestored(_ job: Job)
    func jobChanged(_ job: Job, properties: Set<JobProperty>)
    func filesAdded(_ job: Job, indices: Range<Int>)
    func fileChanged(_ job: Job, index: Int, properties: Set<FileProperty>)
    func fileTransferred(_ job: Job, index: Int)
    func jobTransferred(_ job: Job)
    func jobFailed(_ job: Job, error: JobError)
    func jobRemoved(_ job: Job)
}
