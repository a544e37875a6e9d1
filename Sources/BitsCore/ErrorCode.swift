/// The stable symbolic error codes a job can report in `ErrorCode` (the README's catalog).
/// `http-NNN` codes are built from the status; the rest are fixed words.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static func http(_ status: Int) -> ErrorCode { .init(rawValue: "http-\(status)") }

    public static let none = ErrorCode(rawValue: "")
    public static let dnsFailure = ErrorCode(rawValue: "dns-failure")
    public static let connectionRefused = ErrorCode(rawValue: "connection-refused")
    public static let connectionReset = ErrorCode(rawValue: "connection-reset")
    public static let timeout = ErrorCode(rawValue: "timeout")
    public static let stalled = ErrorCode(rawValue: "stalled")
    public static let tls = ErrorCode(rawValue: "tls")
    public static let rangeUnsupported = ErrorCode(rawValue: "range-unsupported")
    public static let remoteChanged = ErrorCode(rawValue: "remote-changed")
    public static let remoteNotFound = ErrorCode(rawValue: "remote-not-found")
    public static let accessDenied = ErrorCode(rawValue: "access-denied")
    public static let diskFull = ErrorCode(rawValue: "disk-full")
    public static let localIO = ErrorCode(rawValue: "local-io")
    public static let noProgress = ErrorCode(rawValue: "no-progress")
    public static let maxDownloadTime = ErrorCode(rawValue: "max-download-time")
    public static let redirectDenied = ErrorCode(rawValue: "redirect-denied")
    public static let maxDownloadSize = ErrorCode(rawValue: "max-download-size")
    public static let authentication = ErrorCode(rawValue: "authentication")
    public static let validationFailed = ErrorCode(rawValue: "validation-failed")
    public static let blockedByCost = ErrorCode(rawValue: "blocked-by-cost")
    public static let blockedByBattery = ErrorCode(rawValue: "blocked-by-battery")
    public static let notifyFailed = ErrorCode(rawValue: "notify-failed")
    public static let blockedByPolicy = ErrorCode(rawValue: "blocked-by-policy")
    public static let networkDisconnected = ErrorCode(rawValue: "network-disconnected")
    public static let protocolError = ErrorCode(rawValue: "protocol-error")
    public static let transport = ErrorCode(rawValue: "transport")
    public static let internalError = ErrorCode(rawValue: "internal")
    public static let uploadProtocolMismatch = ErrorCode(rawValue: "upload-protocol-mismatch")
    public static let uploadTooLarge = ErrorCode(rawValue: "upload-too-large")
    public static let uploadNotEnabled = ErrorCode(rawValue: "upload-not-enabled")
    public static let uploadSessionNotFound = ErrorCode(rawValue: "upload-session-not-found")
    public static let localFileChanged = ErrorCode(rawValue: "local-file-changed")
    public static let notARegularFile = ErrorCode(rawValue: "not-a-regular-file")
    public static let hashMismatch = ErrorCode(rawValue: "hash-mismatch")
    /// The server application of an upload answered HTTP `status` (context remote-application).
    public static func remoteApplication(_ status: Int) -> ErrorCode { .init(rawValue: "remote-application-http-\(status)") }

    public var description: String { rawValue }

    /// Every fixed code with its meaning, for documentation and `bitsctl`.
    public static let catalog: [(ErrorCode, String)] = [
        (.dnsFailure, "the server name could not be resolved (transient)"),
        (.connectionRefused, "the server refused the connection (transient)"),
        (.connectionReset, "the connection broke before the body was complete (transient)"),
        (.timeout, "connecting or receiving timed out (transient)"),
        (.stalled, "the server sent no data for too long (transient)"),
        (.tls, "TLS handshake or certificate verification failed (fatal)"),
        (.rangeUnsupported, "the server cannot send the requested byte ranges (fatal)"),
        (.remoteChanged, "the remote file changed while it was being transferred"),
        (.remoteNotFound, "a file:// source does not exist (fatal)"),
        (.accessDenied, "the owner may not read the source or write the destination (fatal)"),
        (.diskFull, "no space left on the destination file system (transient)"),
        (.localIO, "reading or writing a local file failed (fatal)"),
        (.noProgress, "no progress for NoProgressTimeout seconds after a transient error (fatal)"),
        (.maxDownloadTime, "the job was active longer than MaximumDownloadTime (fatal)"),
        (.maxDownloadSize, "the download grew beyond MaximumDownloadSize (fatal)"),
        (.authentication, "the server or proxy refused the credentials (fatal)"),
        (.validationFailed, "the owner marked a file invalid (fatal)"),
        (.blockedByCost, "the job's TransferPolicy forbids the current metered network (waits)"),
        (.blockedByBattery, "the job's TransferPolicy is not-on-battery and the machine runs on battery (waits)"),
        (.notifyFailed, "NotifyCommandLine could not be run as the owner (the job's state is unchanged)"),
        (.blockedByPolicy, "background transfers are blocked by the bandwidth window (waits)"),
        (.networkDisconnected, "no network is available (waits until one is)"),
        (.redirectDenied, "the server redirected and the redirect policy forbids it (fatal)"),
        (.protocolError, "the server's answer broke the protocol (fatal)"),
        (.transport, "another transport failure (transient)"),
        (.internalError, "an internal error of the service (fatal)"),
        (.uploadProtocolMismatch, "the upload server supports no common BITS upload protocol (fatal)"),
        (.uploadTooLarge, "the upload, or even the smallest fragment, is larger than the server accepts (fatal)"),
        (.uploadNotEnabled, "BITS uploads are not enabled for the URL on the server (fatal)"),
        (.uploadSessionNotFound, "the server lost the upload session; the upload starts a new one (transient)"),
        (.localFileChanged, "the upload's source file changed during the upload (fatal)"),
        (.notARegularFile, "a local path is a FIFO, socket, device, directory or link, not a regular file (fatal)"),
        (.hashMismatch, "a downloaded file did not match its ExpectedHash or the server's digest, twice (fatal)"),
    ]

    /// Code patterns, for documentation: `http-NNN` (the server answered HTTP NNN) and
    /// `remote-application-http-NNN` (an upload's server application answered HTTP NNN; fatal
    /// or transient per bits-reference §3.1).
    public static let patterns: [(String, String)] = [
        ("http-NNN", "the server answered HTTP status NNN (4xx fatal except 408/429; 5xx transient)"),
        ("remote-application-http-NNN", "the upload's server application answered HTTP NNN (3xx transient except 300-305/307; 4xx fatal except 408/409; 5xx transient except 501/505)"),
    ]
}
