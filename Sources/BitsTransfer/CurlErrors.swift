import BitsCore
import CCurl

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
        /// The absolute URL of the last redirect announced (Location), if any.
        var redirectTarget: String? = nil
        /// Bytes of an HTTP response arrived.
        var receivedResponse: Bool = false
        var bytesOnDisk: UInt64
        var totalSize: UInt64?
        var stallSeconds: UInt32
        var connectTimeoutSeconds: UInt32
    }

    /// The failure for a curl result other than CURLE_OK (CURLE_WRITE_ERROR and
    /// CURLE_ABORTED_BY_CALLBACK are only reached when no local failure was recorded).
    static func failure(for code: CURLcode, _ c: CurlContext) -> TransferFailure {
        let detail = describe(code, c.errorText)
        if code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR || code == CURLE_GOT_NOTHING,
           !c.receivedResponse, isSecure(c.url), c.errorText.lowercased().contains("alert") {
            // A TLS alert right after the handshake: with TLS 1.3 the server checks the client
            // certificate after the client considers the handshake done.
            return .tls("The secure connection to \(c.url) failed (\(detail)).")
        }
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
            guard let target = c.redirectTarget else {
                return .redirectDenied("Downloading \(c.url) was redirected to a protocol other than http or https (\(detail)).")
            }
            if isSecure(c.url) && target.lowercased().hasPrefix("http://") {
                return .redirectDenied("Downloading \(c.url) was redirected from HTTPS to HTTP (to \(target)), and the job does not allow HTTPS-to-HTTP redirects.")
            }
            return .redirectDenied("Downloading \(c.url) was redirected to \(target), which is not an http or https URL (\(detail)).")
        default:
            var text = "curl error \(code.rawValue): \(curlText(code))"
            if !c.errorText.isEmpty { text += " \(c.errorText)" }
            return .other("\(text) (while downloading \(c.url)).")
        }
    }

    static func isSecure(_ url: String) -> Bool { url.lowercased().hasPrefix("https://") }

    /// curl's short text for a code.
    static func curlText(_ code: CURLcode) -> String {
        guard let text = curl_easy_strerror(code) else { return "error \(code.rawValue)" }
        return String(cString: text)
    }

    /// The error buffer when curl filled it, else the generic text of the code.
    private static func describe(_ code: CURLcode, _ errorText: String) -> String {
        errorText.isEmpty ? curlText(code) : errorText
    }
}

/// `url` with the password of its user information (if any) masked, for messages
/// (`RemoteURL.redactingPassword`).
func redactingPassword(_ url: String) -> String { RemoteURL.redactingPassword(url) }
