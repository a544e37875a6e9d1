import BitsCore
import CCurl
#if canImport(Glibc)
import Glibc
#endif

/// Maps libcurl result codes and local errno values to `TransferFailure` facts, each with a
/// one-sentence message that names the source.
enum FailureMapping {
    /// What is known about the transfer when curl ended with an error.
    struct CurlContext {
        var url: String
        /// curl's CURLOPT_ERRORBUFFER text (may be empty).
        var errorText: String
        /// A connection was established (or response bytes arrived) before the error.
        var connected: Bool
        /// At least one redirect was followed or announced.
        var redirected: Bool
        var bytesOnDisk: UInt64
        var totalSize: UInt64?
        var stallSeconds: UInt32
        var connectTimeoutSeconds: UInt32
    }

    /// The failure for a curl result other than CURLE_OK (CURLE_WRITE_ERROR and
    /// CURLE_ABORTED_BY_CALLBACK are only reached when no local failure was recorded).
    static func failure(for code: CURLcode, _ c: CurlContext) -> TransferFailure {
        let detail = describe(code, c.errorText)
        switch code {
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return .dnsFailure("The host name of \(c.url) could not be resolved (\(detail)).")
        case CURLE_COULDNT_CONNECT:
            return .connectionRefused("Could not connect to the server of \(c.url) (\(detail)).")
        case CURLE_OPERATION_TIMEDOUT:
            if c.connected {
                return .stalled("No data arrived from \(c.url) for \(c.stallSeconds) seconds (\(detail)).")
            }
            return .timeout("Connecting to the server of \(c.url) timed out after \(c.connectTimeoutSeconds) seconds (\(detail)).")
        case CURLE_PARTIAL_FILE, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING, CURLE_HTTP2_STREAM:
            let of = c.totalSize.map { " of \($0)" } ?? ""
            return .connectionReset("The connection to the server of \(c.url) broke after \(c.bytesOnDisk)\(of) bytes were on disk (\(detail)).")
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
             CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_ENGINE_INITFAILED,
             CURLE_SSL_CACERT_BADFILE, CURLE_SSL_SHUTDOWN_FAILED, CURLE_SSL_CRL_BADFILE, CURLE_SSL_ISSUER_ERROR,
             CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_CLIENTCERT, CURLE_USE_SSL_FAILED:
            return .tls("The secure connection to \(c.url) failed (\(detail)).")
        case CURLE_TOO_MANY_REDIRECTS:
            return .redirectDenied("Downloading \(c.url) was redirected too many times (\(detail)).")
        case CURLE_UNSUPPORTED_PROTOCOL where c.redirected:
            return .redirectDenied("Downloading \(c.url) was redirected to a protocol other than http or https (\(detail)).")
        default:
            var text = "curl error \(code.rawValue): \(strerror(code))"
            if !c.errorText.isEmpty { text += " \(c.errorText)" }
            return .other("\(text) (while downloading \(c.url)).")
        }
    }

    /// A failed write (or truncate) of the destination.
    static func writeFailure(errno code: Int32, destination: String, source: String) -> TransferFailure {
        let text = "Writing \(destination) failed: \(errnoText(code)) (while downloading \(source))."
        switch code {
        case ENOSPC, EDQUOT: return .diskFull(text)
        case EACCES, EPERM: return .localAccessDenied(text)
        default: return .localIO(text)
        }
    }

    /// A failed read of a local source.
    static func readFailure(errno code: Int32, source: String) -> TransferFailure {
        let text = "Reading \(source) failed: \(errnoText(code))."
        switch code {
        case EACCES, EPERM: return .localAccessDenied(text)
        default: return .localIO(text)
        }
    }

    static func errnoText(_ code: Int32) -> String {
        guard let text = Glibc.strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }

    /// curl's short text for a code.
    static func strerror(_ code: CURLcode) -> String {
        guard let text = curl_easy_strerror(code) else { return "error \(code.rawValue)" }
        return String(cString: text)
    }

    /// The error buffer when curl filled it, else the generic text of the code.
    private static func describe(_ code: CURLcode, _ errorText: String) -> String {
        errorText.isEmpty ? strerror(code) : errorText
    }
}

/// A readable name for a descriptor (its path via /proc/self/fd), for messages.
func descriptorName(_ fd: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let n = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
    guard n > 0 else { return "descriptor \(fd)" }
    buffer[n] = 0
    return String(cString: buffer)
}
