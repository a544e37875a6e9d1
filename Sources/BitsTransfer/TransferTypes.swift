import BitsCore
import BitsSystem

/// Identifies one transfer attempt inside the engine (chosen by the caller, unique while live).
public typealias TransferID = UInt64

/// Where the bytes of a download come from.
public enum TransferSource: Sendable, Equatable {
    /// An http:// or https:// URL fetched with libcurl.
    case url(String)
    /// A local source already opened for reading (with the job owner's rights) by the caller.
    /// The engine copies from it; it does not close it.
    case localFile(descriptor: Int32, size: UInt64)
}

/// One download attempt of one file. The destination descriptor is opened by the caller (as
/// the job owner); the engine writes with `pwrite` at absolute offsets and never closes it.
public struct DownloadRequest: Sendable, Equatable {
    public var id: TransferID
    public var source: TransferSource
    public var destinationDescriptor: Int32
    /// Bytes already on disk: the engine asks for the rest (`Range: bytes=N-`) and writes from
    /// this offset. If the server ignores the range (200), the engine truncates and restarts at 0.
    public var resumeOffset: UInt64
    /// Validator sent as `If-Range` when resuming (an ETag, or an HTTP date), if known.
    public var ifRange: String?
    /// Extra request headers, `Name: value`.
    public var headers: [String]
    /// Receive-rate cap in bytes per second; 0 = unlimited.
    public var maxBytesPerSecond: UInt64
    /// A transfer that receives nothing for this many seconds fails as `.stalled`.
    public var stallTimeoutSeconds: UInt32
    /// Connect timeout in seconds.
    public var connectTimeoutSeconds: UInt32
    /// HTTP behaviour: method, credentials, TLS, redirects, proxy, size cap, ranges.
    public var http: HTTPOptions
    /// Hashes the file as it is written (its prefix already hashed when resuming); its
    /// digests are reported with `didHash` before a finished transfer's `didEnd`. The engine
    /// finishes or cancels it when the transfer ends.
    public var hasher: StreamHasher?

    /// The destination, borrowed: the caller of the engine owns it (a raw descriptor, since
    /// the request is a Sendable value), and the engine never closes it.
    var destination: BorrowedDescriptor { BorrowedDescriptor(destinationDescriptor) }

    public init(id: TransferID, source: TransferSource, destinationDescriptor: Int32,
                resumeOffset: UInt64 = 0, ifRange: String? = nil, headers: [String] = [],
                maxBytesPerSecond: UInt64 = 0, stallTimeoutSeconds: UInt32 = 60,
                connectTimeoutSeconds: UInt32 = 30, http: HTTPOptions = HTTPOptions(),
                hasher: StreamHasher? = nil) {
        self.http = http
        self.hasher = hasher
        self.id = id
        self.source = source
        self.destinationDescriptor = destinationDescriptor
        self.resumeOffset = resumeOffset
        self.ifRange = ifRange
        self.headers = headers
        self.maxBytesPerSecond = maxBytesPerSecond
        self.stallTimeoutSeconds = stallTimeoutSeconds
        self.connectTimeoutSeconds = connectTimeoutSeconds
    }
}

/// What the server said about the body, reported once the final (non-redirect) response
/// headers arrived, before any body byte of that response is written.
public struct ResponseInfo: Sendable, Equatable {
    /// HTTP status (0 for local files).
    public var status: Int
    /// Total size of the remote file when known (from Content-Range's total, or Content-Length
    /// of a 200, or the local file size).
    public var totalSize: UInt64?
    /// Offset at which the body of this response is written: the resume offset for a 206,
    /// 0 when the server sent the whole file (and the engine truncated the destination).
    public var writeOffset: UInt64
    public var entityTag: String?
    /// Last-Modified header text, and its value in microseconds since the epoch (0 if absent).
    public var lastModifiedText: String?
    public var lastModifiedMicroseconds: UInt64
    /// `Accept-Ranges: bytes` was present, or the answer was a 206.
    public var acceptsRanges: Bool
    /// The effective URL after redirects.
    public var effectiveURL: String
    /// The raw header block of the final response (CRLF lines, without the body).
    public var headerBlock: String
    /// Retry-After in seconds when the server sent one.
    public var retryAfterSeconds: UInt32?
    /// The sha-256/sha-512 digests of the whole file announced by a complete (200) response
    /// in `Repr-Digest`/`Content-Digest` (RFC 9530); empty otherwise.
    public var digests: [FileHash] = []

    public init(status: Int, totalSize: UInt64?, writeOffset: UInt64, entityTag: String?,
                lastModifiedText: String?, lastModifiedMicroseconds: UInt64, acceptsRanges: Bool,
                effectiveURL: String, headerBlock: String, retryAfterSeconds: UInt32?) {
        self.status = status
        self.totalSize = totalSize
        self.writeOffset = writeOffset
        self.entityTag = entityTag
        self.lastModifiedText = lastModifiedText
        self.lastModifiedMicroseconds = lastModifiedMicroseconds
        self.acceptsRanges = acceptsRanges
        self.effectiveURL = effectiveURL
        self.headerBlock = headerBlock
        self.retryAfterSeconds = retryAfterSeconds
    }
}

/// How a transfer attempt ended.
public enum TransferOutcome: Sendable, Equatable {
    /// The whole body is on disk; `bytesOnDisk` is the file's final length.
    case finished(bytesOnDisk: UInt64)
    /// The attempt failed; `bytesOnDisk` is how far the destination got (valid prefix).
    case failed(TransferFailure, bytesOnDisk: UInt64)
    /// `cancel(id:)` was called; `bytesOnDisk` is the valid prefix length.
    case cancelled(bytesOnDisk: UInt64)
}

/// Events from the engine, delivered in order per transfer on the engine's own thread.
/// Implementations must return quickly (hand off to an actor/queue).
public protocol TransferEngineDelegate: AnyObject, Sendable {
    func transfer(_ id: TransferID, didReceive response: ResponseInfo)
    /// `bytesOnDisk` = valid prefix length of the destination. At most every ~100 ms per
    /// transfer; the final value is carried by the outcome.
    func transfer(_ id: TransferID, didProgress bytesOnDisk: UInt64)
    func transfer(_ id: TransferID, didEnd outcome: TransferOutcome)
    /// The digests of a finished download that has a hasher, right before its `didEnd`.
    func transfer(_ id: TransferID, didHash digests: ComputedDigests)
    /// The end of an `exchange` (a request/response pair such as an upload packet). Upload
    /// progress of its body comes as `didProgress` (bytes sent).
    func transfer(_ id: TransferID, didExchange outcome: ExchangeOutcome)
}

extension TransferEngineDelegate {
    /// Delegates that only download ignore exchanges.
    public func transfer(_ id: TransferID, didExchange outcome: ExchangeOutcome) {}
    /// Delegates that do not hash ignore digests.
    public func transfer(_ id: TransferID, didHash digests: ComputedDigests) {}
}

/// Per-request HTTP options (bits-reference §2.3, §2.7, §6.1). Defaults are BITS's.
public struct HTTPOptions: Sendable, Equatable {
    /// Request method; anything but GET is sent without Range (no resume) by the caller.
    public var method = "GET"
    public var credentials: [Credential] = []
    /// PEM certificate and private key bytes (read by the caller with the owner's rights).
    public var clientCertificatePEM: [UInt8]?
    public var clientKeyPEM: [UInt8]?
    public var verifyPeer = true
    public var verifyHost = true
    /// Require a good OCSP status for the server certificate (CURLOPT_SSL_VERIFYSTATUS).
    public var checkRevocation = false
    public var redirectPolicy = RedirectPolicy.allow
    public var allowHTTPSToHTTPRedirect = false
    public var proxy = ProxySetting.environment
    /// Abort with `.maximumDownloadSizeExceeded` once more than this many bytes of body
    /// would be on disk; 0 = no cap.
    public var maximumSize: UInt64 = 0
    /// Byte ranges of the remote file (offset, length; length UInt64.max = to EOF) written
    /// back to back into the destination, in order. Empty = the whole file. With ranges,
    /// `resumeOffset` counts destination bytes (across ranges).
    public var ranges: [ByteRange] = []

    public init() {}
}

/// A (target, scheme) credential for SetCredentials: the job model's type.
public typealias Credential = JobCredential

/// What to do with HTTP redirects (`RedirectPolicy` property): allow, allow-report (the
/// final URL is reported in `ResponseInfo.effectiveURL`), deny (`.redirectDenied`).
public typealias RedirectPolicy = JobRedirectPolicy

/// Which proxy a request uses.
public enum ProxySetting: Sendable, Equatable {
    /// libcurl's own handling of the environment (http_proxy, https_proxy, no_proxy).
    case environment
    /// No proxy at all, whatever the environment says.
    case none
    /// This proxy URL (e.g. `http://127.0.0.1:3128`), with hosts that bypass it
    /// (comma-separated, curl NOPROXY syntax).
    case explicit(url: String, bypass: String)
}

/// A byte range of a remote file.
public struct ByteRange: Sendable, Equatable {
    public var offset: UInt64
    /// UInt64.max = to the end of the file.
    public var length: UInt64
    public init(offset: UInt64, length: UInt64) {
        self.offset = offset
        self.length = length
    }
}
