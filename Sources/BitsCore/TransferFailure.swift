/// What went wrong in one transfer attempt, as facts reported by the transfer engine.
/// `FailureClassifier` turns these into a job error (bits-reference §3.1).
public enum TransferFailure: Error, Sendable, Equatable {
    /// The server answered with an HTTP status that is not a success.
    case httpStatus(Int, retryAfterSeconds: UInt32?)
    case dnsFailure(String)
    case connectionRefused(String)
    /// The connection broke mid-transfer (reset, closed before the announced length).
    case connectionReset(String)
    case timeout(String)
    /// No bytes arrived for the stall window.
    case stalled(String)
    case tls(String)
    case redirectDenied(String)
    case rangeUnsupported(String)
    case remoteChanged(String)
    /// A file:// source that does not exist.
    case sourceNotFound(String)
    case localAccessDenied(String)
    /// A local path (destination, temporary file, source) is a FIFO, socket, device,
    /// directory or link instead of a regular file.
    case notRegularFile(String)
    case diskFull(String)
    case localIO(String)
    case protocolError(String)
    /// More bytes than the job's MaximumDownloadSize.
    case maximumDownloadSizeExceeded(String)
    /// Authentication failed or credentials are missing (server 401 / proxy 407 are
    /// reported as `.httpStatus`; this is for schemes the engine could not use).
    case authentication(String)
    /// The owner marked a file invalid (ValidationState).
    case validationFailed(String)
    /// A downloaded file did not match its ExpectedHash or the server's digest field, after
    /// it had been fetched again once.
    case hashMismatch(String)
    /// The job was connecting or transferring longer than its MaximumDownloadTime.
    case maximumDownloadTimeExceeded(String)
    /// Anything else the transport reported.
    case other(String)
    /// Already classified by the protocol that saw it (the BITS upload protocol's answers).
    case classified(ClassifiedFailure)
}

/// Whether a failure is retried by the service.
public enum FailureDisposition: Sendable, Equatable {
    case transient
    case fatal
}

/// The classification of a failure: where, which code, and whether it is retried.
public struct ClassifiedFailure: Sendable, Equatable {
    public var disposition: FailureDisposition
    public var context: ErrorContext
    public var code: ErrorCode
    public var description: String
    /// Server-requested delay before the next attempt.
    public var retryAfterSeconds: UInt32?

    public init(disposition: FailureDisposition, context: ErrorContext, code: ErrorCode, description: String,
                retryAfterSeconds: UInt32? = nil) {
        self.disposition = disposition
        self.context = context
        self.code = code
        self.description = description
        self.retryAfterSeconds = retryAfterSeconds
    }
}

/// Transient vs fatal, as BITS: DNS, refused/reset connections, timeouts, stalls, 5xx, 408 and
/// 429 are transient; other 4xx, TLS, redirects, ranges and local problems are fatal.
public enum FailureClassifier {
    public static func classify(_ failure: TransferFailure) -> ClassifiedFailure {
        func make(_ d: FailureDisposition, _ c: ErrorContext, _ code: ErrorCode, _ text: String,
                  _ retryAfter: UInt32? = nil) -> ClassifiedFailure {
            ClassifiedFailure(disposition: d, context: c, code: code, description: text, retryAfterSeconds: retryAfter)
        }
        switch failure {
        case .classified(let classified): return classified
        case .httpStatus(let status, let retryAfter):
            let transient = status >= 500 || status == 408 || status == 429
            return make(transient ? .transient : .fatal, .remoteFile, .http(status),
                        "The server answered HTTP \(status) (\(httpReason(status))).", retryAfter)
        case .dnsFailure(let m): return make(.transient, .generalTransport, .dnsFailure, m)
        case .connectionRefused(let m): return make(.transient, .generalTransport, .connectionRefused, m)
        case .connectionReset(let m): return make(.transient, .generalTransport, .connectionReset, m)
        case .timeout(let m): return make(.transient, .generalTransport, .timeout, m)
        case .stalled(let m): return make(.transient, .generalTransport, .stalled, m)
        case .tls(let m): return make(.fatal, .generalTransport, .tls, m)
        case .redirectDenied(let m): return make(.fatal, .remoteFile, .redirectDenied, m)
        case .rangeUnsupported(let m): return make(.fatal, .remoteFile, .rangeUnsupported, m)
        case .remoteChanged(let m): return make(.fatal, .remoteFile, .remoteChanged, m)
        case .sourceNotFound(let m): return make(.fatal, .remoteFile, .remoteNotFound, m)
        case .localAccessDenied(let m): return make(.fatal, .localFile, .accessDenied, m)
        case .notRegularFile(let m): return make(.fatal, .localFile, .notARegularFile, m)
        case .diskFull(let m): return make(.transient, .localFile, .diskFull, m)
        case .localIO(let m): return make(.fatal, .localFile, .localIO, m)
        case .protocolError(let m): return make(.fatal, .remoteFile, .protocolError, m)
        case .maximumDownloadSizeExceeded(let m): return make(.fatal, .remoteFile, .maxDownloadSize, m)
        case .validationFailed(let m): return make(.fatal, .localFile, .validationFailed, m)
        case .hashMismatch(let m): return make(.fatal, .remoteFile, .hashMismatch, m)
        case .authentication(let m): return make(.fatal, .remoteFile, .authentication, m)
        case .maximumDownloadTimeExceeded(let m): return make(.fatal, .generalQueueManager, .maxDownloadTime, m)
        case .other(let m): return make(.transient, .generalTransport, .transport, m)
        }
    }

    /// A few words for an HTTP status, for error descriptions.
    static func httpReason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 300...399: "redirect"
        case 400: "bad request"
        case 401: "authentication required"
        case 403: "forbidden"
        case 404: "not found"
        case 407: "proxy authentication required"
        case 408: "request timeout"
        case 409: "conflict"
        case 410: "gone"
        case 411: "length required"
        case 413: "request too large"
        case 416: "range not satisfiable"
        case 429: "too many requests"
        case 500: "internal server error"
        case 501: "not implemented"
        case 502: "bad gateway"
        case 503: "service unavailable"
        case 504: "gateway timeout"
        case 505: "HTTP version not supported"
        case 400...499: "client error"
        case 500...599: "server error"
        default: "unexpected status"
        }
    }
}
