import BitsCore
import CCurl

/// The options every request of the engine sets, downloads and upload packets alike: URL,
/// user agent, timeouts and stall detection, TLS checks and client certificate, proxy, and
/// server/proxy credentials. Returns each option's name with curl's answer.
enum CurlConnectionOptions {
    static func apply(to h: UnsafeMutableRawPointer, url: String, options: HTTPOptions, userAgent: String,
                      errorBuffer: UnsafeMutablePointer<CChar>, connectTimeoutSeconds: UInt32,
                      stallTimeoutSeconds: UInt32) -> [(String, CURLcode)] {
        var codes: [(String, CURLcode)] = [
            ("URL", bits_curl_setopt_str(h, CURLOPT_URL, url)),
            ("NOSIGNAL", bits_curl_setopt_long(h, CURLOPT_NOSIGNAL, 1)),
            ("PROTOCOLS_STR", bits_curl_setopt_str(h, CURLOPT_PROTOCOLS_STR, "http,https")),
            ("USERAGENT", bits_curl_setopt_str(h, CURLOPT_USERAGENT, userAgent)),
            ("TCP_KEEPALIVE", bits_curl_setopt_long(h, CURLOPT_TCP_KEEPALIVE, 1)),
            ("SUPPRESS_CONNECT_HEADERS", bits_curl_setopt_long(h, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1)),
            ("CONNECTTIMEOUT", bits_curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT, Int(connectTimeoutSeconds))),
            ("ERRORBUFFER", bits_curl_setopt_ptr(h, CURLOPT_ERRORBUFFER, errorBuffer)),
            ("SSL_VERIFYPEER", bits_curl_setopt_long(h, CURLOPT_SSL_VERIFYPEER, options.verifyPeer ? 1 : 0)),
            ("SSL_VERIFYHOST", bits_curl_setopt_long(h, CURLOPT_SSL_VERIFYHOST, options.verifyHost ? 2 : 0)),
        ]
        if options.checkRevocation {
            codes.append(("SSL_VERIFYSTATUS", bits_curl_setopt_long(h, CURLOPT_SSL_VERIFYSTATUS, 1)))
        }
        if let certificate = options.clientCertificatePEM {
            codes.append(("SSLCERTTYPE", bits_curl_setopt_str(h, CURLOPT_SSLCERTTYPE, "PEM")))
            codes.append(("SSLCERT_BLOB", certificate.withUnsafeBytes {
                bits_curl_setopt_blob(h, CURLOPT_SSLCERT_BLOB, $0.baseAddress, $0.count)
            }))
        }
        if let key = options.clientKeyPEM {
            codes.append(("SSLKEYTYPE", bits_curl_setopt_str(h, CURLOPT_SSLKEYTYPE, "PEM")))
            codes.append(("SSLKEY_BLOB", key.withUnsafeBytes {
                bits_curl_setopt_blob(h, CURLOPT_SSLKEY_BLOB, $0.baseAddress, $0.count)
            }))
        }
        switch options.proxy {
        case .environment:
            break  // libcurl reads http_proxy, https_proxy, no_proxy at each transfer
        case .none:
            codes.append(("PROXY", bits_curl_setopt_str(h, CURLOPT_PROXY, "")))
        case let .explicit(proxyURL, bypass):
            codes.append(("PROXY", bits_curl_setopt_str(h, CURLOPT_PROXY, proxyURL)))
            codes.append(("NOPROXY", bits_curl_setopt_str(h, CURLOPT_NOPROXY, bypass)))
        }
        if let auth = CredentialChoice.choose(options.credentials, for: .server) {
            codes.append(("HTTPAUTH", bits_curl_setopt_long(h, CURLOPT_HTTPAUTH, Int(bitPattern: auth.mask))))
            codes.append(("USERNAME", bits_curl_setopt_str(h, CURLOPT_USERNAME, auth.userName)))
            codes.append(("PASSWORD", bits_curl_setopt_str(h, CURLOPT_PASSWORD, auth.password)))
        }
        if let auth = CredentialChoice.choose(options.credentials, for: .proxy) {
            codes.append(("PROXYAUTH", bits_curl_setopt_long(h, CURLOPT_PROXYAUTH, Int(bitPattern: auth.mask))))
            codes.append(("PROXYUSERNAME", bits_curl_setopt_str(h, CURLOPT_PROXYUSERNAME, auth.userName)))
            codes.append(("PROXYPASSWORD", bits_curl_setopt_str(h, CURLOPT_PROXYPASSWORD, auth.password)))
        }
        if stallTimeoutSeconds > 0 {
            codes.append(("LOW_SPEED_LIMIT", bits_curl_setopt_long(h, CURLOPT_LOW_SPEED_LIMIT, 1)))
            codes.append(("LOW_SPEED_TIME", bits_curl_setopt_long(h, CURLOPT_LOW_SPEED_TIME, Int(stallTimeoutSeconds))))
        }
        return codes
    }
}

/// The C memory an easy handle points into while a request runs: curl's error buffer and the
/// request's header list. Freed with the object, so keep it alive until the handle is reset.
final class CurlRequestBuffers {
    let error: UnsafeMutablePointer<CChar>
    private(set) var headers: UnsafeMutablePointer<curl_slist>?

    init() {
        error = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        error.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        if let headers { curl_slist_free_all(headers) }
        error.deallocate()
    }

    func appendHeader(_ line: String) { headers = curl_slist_append(headers, line) }

    /// curl's message for the last error, trimmed.
    var errorText: String { String(cString: error).trimmingASCIIWhitespace() }
}
