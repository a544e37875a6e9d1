/// One file of a job: where it comes from, where it goes, and how far it got.
public struct JobFile: Sendable, Equatable, Codable {
    /// The URL (download) — writable to fix a failed job.
    public var remoteName: String
    /// The absolute destination path; the data appears there at `Complete`.
    public let localName: String
    /// The absolute path of the temporary file being filled (in the destination directory).
    public var temporaryName: String
    /// Size in bytes once the server said it; nil while unknown.
    public var bytesTotal: UInt64?
    /// Bytes written to the temporary file so far.
    public var bytesTransferred: UInt64 = 0
    /// Bytes of the temporary file known to be on disk (fsynced before this was stored): what
    /// is trusted after a reboot. nil: none.
    public var durableBytes: UInt64?
    /// The whole file is on disk (and, after `Complete`, renamed).
    public var completed = false
    /// Server's Last-Modified as microseconds since the epoch; 0 when unknown.
    public var lastModified: UInt64 = 0
    /// Validator for resuming: the server's ETag, if any.
    public var entityTag: String?
    /// Validator for resuming: the server's Last-Modified text, if any.
    public var lastModifiedText: String?
    /// Header block of the last HTTP response.
    public var responseHeaders = ""
    /// Ranges requested with AddFileWithRanges (empty = the whole file).
    public var ranges: [FileRange] = []
    public var validationState = ValidationState.unknown
    /// The destination directory as it was when the file was added (device and inode):
    /// Complete renames only into that same directory, never into one swapped in since.
    public var directory: DirectoryIdentity?
    /// Upload jobs: the source as it was at AddFile and the server session.
    public var upload: UploadState?
    /// The umask of the process that added the file (read from /proc when it was added):
    /// the file is created as `curl -o` would create it from there. nil: 022.
    public var umask: UInt32?
    /// The digest the file must have (`ExpectedHash`); nil: none. Stored in its own column,
    /// not in the JSON document (`CodingKeys`).
    public var expectedHash: FileHash?
    /// The SHA-256 of the completed file (`Hash`); nil until it is transferred. Its own column.
    public var hash: FileHash?
    /// How many times the finished file did not match its expected digest (or the server's
    /// digest field) and was fetched again from 0: at the second mismatch the job fails
    /// with `hash-mismatch`. nil: none.
    public var hashMismatches: UInt8?

    /// Every stored property of the JSON document: all but the two hashes, which are columns
    /// of the file row (JobStore).
    enum CodingKeys: String, CodingKey {
        case remoteName, localName, temporaryName, bytesTotal, bytesTransferred, durableBytes, completed,
             lastModified, entityTag, lastModifiedText, responseHeaders, ranges, validationState, directory,
             upload, umask, hashMismatches
    }

    /// The umask new files of this entry are created with.
    public var creationMask: UInt32 { (umask ?? Self.defaultUmask) & 0o777 }
    /// The umask assumed when the caller's could not be read.
    public static let defaultUmask: UInt32 = 0o022

    public init(remoteName: String, localName: String, temporaryName: String) {
        self.remoteName = remoteName
        self.localName = localName
        self.temporaryName = temporaryName
    }

    /// Forget the progress and validators (the remote file changed or the URL was replaced).
    public mutating func restart() {
        bytesTotal = nil
        bytesTransferred = 0
        durableBytes = nil
        completed = false
        entityTag = nil
        lastModifiedText = nil
        lastModified = 0
        hash = nil
    }
}

/// A directory's identity on disk (`st_dev`, `st_ino`), stable across restarts.
public struct DirectoryIdentity: Sendable, Equatable, Codable {
    public let device: UInt64
    public let inode: UInt64
    public init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }
}

/// An upload file's protocol state, kept across restarts: the source's size and
/// modification time when it was added (a change is `local-file-changed`) and the server's
/// session.
public struct UploadState: Sendable, Equatable, Codable {
    public var sourceSize: UInt64
    public var sourceModified: Int64
    public var sessionID: String?
    /// The upload-reply job's reply URL, from the final fragment's Ack.
    public var replyURL: String?
    /// Web-farm affinity from Create-Session (`BITS-Host-Id`, its fallback timeout in
    /// seconds), and since when (wall-clock µs) packets to that host have been failing.
    public var hostID: String?
    public var hostIDFallbackTimeout: UInt32?
    public var hostFailingSince: UInt64?

    public init(sourceSize: UInt64, sourceModified: Int64) {
        self.sourceSize = sourceSize
        self.sourceModified = sourceModified
    }

    /// `sourceModified` of a file whose mtime is `seconds` + `nanoseconds`: exactly
    /// seconds × 10^9 + nanoseconds, clamped to Int64 (before 1677 or after 2262, e.g. `touch
    /// -d @100000000000000`) instead of trapping. Such times then all compare equal.
    public static func modifiedStamp(seconds: Int64, nanoseconds: Int64) -> Int64 {
        let billion: Int64 = 1_000_000_000
        // Whole seconds of `nanoseconds` go to `seconds`: the rest is below 10^9 in size.
        let whole = seconds.addingSaturating(nanoseconds / billion)
        let rest = nanoseconds % billion
        if whole == .max || whole == .min { return whole }  // out of range either way
        let (product, overflow) = whole.multipliedReportingOverflow(by: billion)
        if !overflow { return product.addingSaturating(rest) }
        // Just past the range, one second less in size plus a second's worth of `rest` may fit.
        let step: Int64 = whole > 0 ? 1 : -1
        let (nearer, still) = (whole - step).multipliedReportingOverflow(by: billion)
        if still { return whole > 0 ? .max : .min }
        return nearer.addingSaturating(rest + step * billion)
    }
}

/// How a job's local paths are looked up in the file system.
public enum PathResolution: Sendable, Equatable {
    /// As the kernel does for the owner: symbolic links in directory components are followed
    /// (the owner's own permissions apply); the final component never is.
    case standard
    /// No symbolic link in any component (openat2 `RESOLVE_NO_SYMLINKS`): for a job that
    /// changed owner, whose paths the previous owner may have rigged.
    case noSymlinks
}
