/// A transfer job: identity, settings, files, progress and last error. Pure data; the rules
/// for changing it live in `JobStateMachine` and `JobSettings`.
public struct Job: Sendable, Equatable, Codable {
    public let id: JobID
    public let type: JobType
    /// uid of the owner.
    public var owner: UInt32
    public var displayName: String
    public var description = ""
    public var state: JobState = .suspended
    public var priority: JobPriority = .normal
    public var files: [JobFile] = []

    /// Microseconds since the Unix epoch; 0 = never.
    public var creationTime: UInt64
    public var modificationTime: UInt64
    public var transferCompletionTime: UInt64 = 0

    /// The last error (kept after a retry, as BITS does); nil when there was none.
    public var lastError: JobError?
    public var errorCount: UInt32 = 0

    public var minimumRetryDelay: UInt32 = JobDefaults.minimumRetryDelay
    public var noProgressTimeout: UInt32 = JobDefaults.noProgressTimeout
    public var maximumDownloadTime: UInt32 = JobDefaults.maximumDownloadTime
    public var minimumNotificationInterval: UInt32 = JobDefaults.minimumNotificationInterval
    public var options = JobOptions()
    public var secrets = JobSecrets()
    /// The job has been resumed at least once (some settings are fixed from then on).
    public var everResumed = false
    /// Upload-reply jobs: the server application's reply.
    public var reply: ReplyState?
    /// The owner before the last TakeOwnership, if the job changed hands: from then on no
    /// path of the job is resolved through a symbolic link (the previous owner could have
    /// planted one to turn the new owner's rights against a directory of its choice).
    public var previousOwner: UInt32?
    /// The live rate and time left while transferring (`TransferRate.idle` otherwise): a
    /// runtime value, never stored — the encoding skips it and decoding gives `.idle`.
    public var transferRate = TransferRate.idle

    /// How the job's paths are resolved (see `previousOwner`).
    public var pathResolution: PathResolution { previousOwner == nil ? .standard : .noSymlinks }

    public init(id: JobID, type: JobType, owner: UInt32, displayName: String, now: UInt64) {
        self.id = id
        self.type = type
        self.owner = owner
        self.displayName = displayName
        self.creationTime = now
        self.modificationTime = now
    }

    /// Sum of the file sizes, nil while any size is unknown (UINT64_MAX on the bus). The
    /// sizes are the servers' word: the sum stops at UInt64.max - 1 rather than wrapping
    /// around (or reading as "unknown").
    public var bytesTotal: UInt64? {
        var sum: UInt64 = 0
        for file in files {
            guard let total = file.bytesTotal else { return nil }
            sum = sum.addingSaturating(total)
        }
        return min(sum, UInt64.max - 1)
    }

    /// Sum of the files' progress, saturating at UInt64.max.
    public var bytesTransferred: UInt64 { files.lazy.map(\.bytesTransferred).saturatingSum() }
    public var filesTotal: UInt32 { UInt32(clamping: files.count) }
    public var filesTransferred: UInt32 { UInt32(clamping: files.filter(\.completed).count) }
    /// Index of the first file still to transfer (files of a job go in order).
    public var nextFileIndex: Int? { files.firstIndex { !$0.completed } }
}

/// Defaults and bounds of job settings (api.md, bits-reference §2.2).
public enum JobDefaults {
    public static let minimumRetryDelay: UInt32 = 600
    public static let minimumRetryDelayFloor: UInt32 = 5
    public static let noProgressTimeout: UInt32 = 1_209_600
    public static let maximumDownloadTime: UInt32 = 7_776_000
    public static let minimumNotificationInterval: UInt32 = 500
    public static let displayNameMaxLength = 256
    public static let descriptionMaxLength = 1024
    public static let urlMaxLength = 2200
    public static let pathMaxLength = 4096
    public static let customHeadersMaxLength = 16_384
    public static let proxyListMaxLength = 32_768
    public static let notifyCommandLineMaxLength = 4_000
    public static let userNameMaxLength = 300
    public static let passwordMaxLength = 65_535
}

/// The reply of an upload-reply job: where it goes (`ReplyFileName`; generated beside the
/// upload file when empty), the temporary file it is downloaded to (renamed at Complete), and
/// its progress. `bytesTotal` is nil until the reply download got its response, which tells
/// the upload half's errors from the reply half's (as BITS's reply progress does).
public struct ReplyState: Sendable, Equatable, Codable {
    public var fileName = ""
    public var temporaryName: String?
    public var directory: DirectoryIdentity?
    public var bytesTotal: UInt64?
    public var bytesTransferred: UInt64 = 0
    public var done = false
    public init() {}
}
