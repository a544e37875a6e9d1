import BitsCore

/// What to do with the body of a final HTTP response, decided from its headers and the
/// resume offset of the request. Pure, so it is unit-tested without a network.
enum ResponseDecision: Equatable {
    /// Write the body at `writeOffset`; `truncate` when the server sent the whole file although
    /// a range was asked for (the destination restarts at 0).
    case body(writeOffset: UInt64, truncate: Bool, totalSize: UInt64?)
    /// 416 for a range starting exactly at the end: the file on disk is already complete.
    case alreadyComplete(size: UInt64)
    /// A non-success status: the body is not written.
    case httpError(Int, retryAfterSeconds: UInt32?)
    /// The response contradicts the request (e.g. a 206 for another range).
    case protocolError(String)

    /// Decides for a final (non-1xx, non-followed-redirect) response.
    static func decide(_ headers: HTTPHeaderBlock, resumeOffset: UInt64, url: String, now: Int64) -> ResponseDecision {
        let status = headers.status
        let contentRange = headers.value("Content-Range").flatMap(HeaderParsing.parseContentRange)
        switch status {
        case 206:
            guard let range = contentRange, let first = range.first else {
                return .protocolError("The server answered \(url) with 206 Partial Content but without a single byte range.")
            }
            guard first == resumeOffset else {
                return .protocolError("The server answered \(url) with bytes from offset \(first) instead of the requested offset \(resumeOffset).")
            }
            return .body(writeOffset: resumeOffset, truncate: false, totalSize: range.total)
        case 200..<300:
            let length = status == 204 ? 0 : HeaderParsing.parseContentLength(headers.value("Content-Length"))
            return .body(writeOffset: 0, truncate: resumeOffset > 0, totalSize: length)
        case 416 where resumeOffset > 0 && contentRange?.first == nil && contentRange?.total == resumeOffset:
            return .alreadyComplete(size: resumeOffset)
        case 100..<200:
            return .protocolError("The server answered \(url) with an unexpected interim status \(status).")
        default:
            let retryAfter = headers.value("Retry-After").flatMap { HeaderParsing.parseRetryAfter($0, now: now) }
            return .httpError(status, retryAfterSeconds: retryAfter)
        }
    }
}
