import CCurl

/// HTTP dates are parsed by libcurl (`curl_getdate`), the same parser the transfers use.
extension HeaderParsing {
    /// Seconds since the epoch of an HTTP date (RFC 7231 IMF-fixdate, RFC 850, asctime), via
    /// `curl_getdate`. Nil when unparseable or outside `httpDateRange` (a year after 9999 is
    /// no HTTP date, and its microseconds may not even fit 64 bits).
    static func parseHTTPDate(_ value: String) -> Int64? {
        let seconds = curl_getdate(value, nil)
        guard seconds != -1, let date = Int64(exactly: seconds), httpDateRange.contains(date) else { return nil }
        return date
    }
}
