import BitsCore
import CCurl
#if canImport(Glibc)
import Glibc
#endif

/// One HTTP(S) download on a libcurl easy handle: options, the header and write callbacks,
/// and the outcome. Created, driven and released on the engine thread only.
final class CurlEasyTransfer {
    /// Receive buffer size (CURLOPT_BUFFERSIZE): curl's 16 KiB default is measurably slower
    /// than `curl -o`. A variable only so the benchmark can compare sizes.
    static var bufferSize = 512 * 1024
    /// Largest error-status body read (and dropped) to keep the connection reusable.
    static let maxDiscardedBody = 64 * 1024

    /// The buffer under a rate cap: at most a quarter second of the cap per read, so pauses
    /// stay short and pacing smooth (1 KiB is curl's minimum).
    static func receiveBufferSize(cap: UInt64) -> Int {
        guard cap > 0 else { return bufferSize }
        return Int(min(UInt64(bufferSize), max(1024, cap / 4)))
    }

    let request: DownloadRequest
    let url: String
    /// The CURL* easy handle.
    let handle: UnsafeMutableRawPointer
    private let delegate: TransferEngineDelegate
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer: UnsafeMutablePointer<CChar>

    private enum Phase { case awaitingResponse, writing, discarding, alreadyComplete }
    private var phase = Phase.awaitingResponse
    private var headerLines: [String] = []
    private var sawRedirect = false
    private var sawResponseBytes = false
    private var writeOffset: UInt64 = 0
    private var written: UInt64 = 0
    private var discarded = 0
    private var totalSize: UInt64?
    /// A failure decided by a callback (local write error, HTTP status, protocol error).
    private var failure: TransferFailure?
    /// Valid prefix length of the destination.
    private(set) var bytesOnDisk: UInt64
    private var pacer: RatePacer?
    /// While paused for the rate cap: when the loop should resume the transfer (monotonic ns).
    private(set) var resumeAt: UInt64?
    private var lastProgressAt: UInt64 = 0
    private var lastReported: UInt64 = 0
    private lazy var destinationName = descriptorName(request.destinationDescriptor)

    init(request: DownloadRequest, url: String, handle: UnsafeMutableRawPointer, delegate: TransferEngineDelegate) {
        self.request = request
        self.url = url
        self.handle = handle
        self.delegate = delegate
        self.bytesOnDisk = request.resumeOffset
        self.pacer = request.maxBytesPerSecond > 0 ? RatePacer(cap: request.maxBytesPerSecond) : nil
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        if let headerList { curl_slist_free_all(headerList) }
        errorBuffer.deallocate()
    }

    /// Sets all options on the (fresh or reset) handle. Returns a failure when curl refuses one.
    /// The handle keeps pointers to this object and its buffers: keep it alive until the handle
    /// is reset.
    func configure(userAgent: String) -> TransferFailure? {
        let h = handle
        let me = Unmanaged.passUnretained(self).toOpaque()
        for header in request.headers where !header.contains("\r") && !header.contains("\n") {
            headerList = curl_slist_append(headerList, header)
        }
        if request.resumeOffset > 0, let validator = request.ifRange,
           !validator.contains("\r"), !validator.contains("\n") {
            headerList = curl_slist_append(headerList, "If-Range: \(validator)")
        }
        var codes: [(String, CURLcode)] = [
            ("URL", bits_curl_setopt_str(h, CURLOPT_URL, url)),
            ("NOSIGNAL", bits_curl_setopt_long(h, CURLOPT_NOSIGNAL, 1)),
            ("BUFFERSIZE", bits_curl_setopt_long(h, CURLOPT_BUFFERSIZE, Self.receiveBufferSize(cap: request.maxBytesPerSecond))),
            ("FOLLOWLOCATION", bits_curl_setopt_long(h, CURLOPT_FOLLOWLOCATION, 1)),
            ("MAXREDIRS", bits_curl_setopt_long(h, CURLOPT_MAXREDIRS, 10)),
            ("PROTOCOLS_STR", bits_curl_setopt_str(h, CURLOPT_PROTOCOLS_STR, "http,https")),
            ("REDIR_PROTOCOLS_STR", bits_curl_setopt_str(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https")),
            ("USERAGENT", bits_curl_setopt_str(h, CURLOPT_USERAGENT, userAgent)),
            ("TCP_KEEPALIVE", bits_curl_setopt_long(h, CURLOPT_TCP_KEEPALIVE, 1)),
            ("SUPPRESS_CONNECT_HEADERS", bits_curl_setopt_long(h, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1)),
            ("CONNECTTIMEOUT", bits_curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT, Int(request.connectTimeoutSeconds))),
            ("ERRORBUFFER", bits_curl_setopt_ptr(h, CURLOPT_ERRORBUFFER, errorBuffer)),
            ("WRITEFUNCTION", bits_curl_setopt_callback(h, CURLOPT_WRITEFUNCTION, curlWriteCallback)),
            ("WRITEDATA", bits_curl_setopt_ptr(h, CURLOPT_WRITEDATA, me)),
            ("HEADERFUNCTION", bits_curl_setopt_callback(h, CURLOPT_HEADERFUNCTION, curlHeaderCallback)),
            ("HEADERDATA", bits_curl_setopt_ptr(h, CURLOPT_HEADERDATA, me)),
        ]
        if request.stallTimeoutSeconds > 0 {
            codes.append(("LOW_SPEED_LIMIT", bits_curl_setopt_long(h, CURLOPT_LOW_SPEED_LIMIT, 1)))
            codes.append(("LOW_SPEED_TIME", bits_curl_setopt_long(h, CURLOPT_LOW_SPEED_TIME, Int(request.stallTimeoutSeconds))))
        }
        if request.maxBytesPerSecond > 0 {
            let cap = curl_off_t(clamping: request.maxBytesPerSecond)
            codes.append(("MAX_RECV_SPEED_LARGE", bits_curl_setopt_off_t(h, CURLOPT_MAX_RECV_SPEED_LARGE, cap)))
        }
        if let headerList {
            codes.append(("HTTPHEADER", bits_curl_setopt_slist(h, CURLOPT_HTTPHEADER, headerList)))
        }
        if request.resumeOffset > 0 {
            // CURLOPT_RANGE rather than RESUME_FROM_LARGE: with RESUME_FROM, curl itself fails a
            // 200 answer with CURLE_RANGE_ERROR, and the engine wants to restart from 0 instead.
            codes.append(("RANGE", bits_curl_setopt_str(h, CURLOPT_RANGE, "\(request.resumeOffset)-")))
        }
        if let (name, code) = codes.first(where: { $0.1 != CURLE_OK }) {
            return .other("curl error \(code.rawValue): \(FailureMapping.strerror(code)) setting CURLOPT_\(name) (while downloading \(url)).")
        }
        return nil
    }

    // MARK: - Callbacks (engine thread, inside curl_multi_perform)

    fileprivate func receiveHeader(_ buffer: UnsafeMutablePointer<CChar>?, count: Int) -> Int {
        guard phase == .awaitingResponse, let buffer else { return count }  // trailers
        sawResponseBytes = true
        let line = String(decoding: UnsafeRawBufferPointer(start: buffer, count: count), as: UTF8.self)
        if HeaderParsing.statusCode(ofStatusLine: line) != nil {
            headerLines = [line]
        } else if HeaderParsing.trimmingLineEnding(line).isEmpty {
            return endOfHeaders() ? count : 0
        } else {
            headerLines.append(line)
        }
        return count
    }

    /// A blank line ended a header block: skip interim and followed responses, decide on the
    /// final one. Returns false to abort the transfer (with `failure` set).
    private func endOfHeaders() -> Bool {
        defer { headerLines = [] }
        guard let block = HTTPHeaderBlock(lines: headerLines) else { return true }
        if block.status >= 100 && block.status < 200 { return true }
        if block.status >= 300 && block.status < 400 && block.status != 304 && block.value("Location") != nil {
            sawRedirect = true  // FOLLOWLOCATION: curl goes on to the next response
            return true
        }
        let now = Int64(time(nil))
        switch ResponseDecision.decide(block, resumeOffset: request.resumeOffset, url: url, now: now) {
        case let .body(offset, truncate, total):
            if offset == 0 && (truncate || request.resumeOffset == 0) {
                if ftruncate(request.destinationDescriptor, 0) != 0 && truncate {
                    failure = FailureMapping.writeFailure(errno: errno, destination: destinationName, source: url)
                    return false
                }
            }
            phase = .writing
            writeOffset = offset
            totalSize = total
            bytesOnDisk = offset
            report(block, totalSize: total, writeOffset: offset, now: now)
        case .alreadyComplete(let size):
            phase = .alreadyComplete
            totalSize = size
            report(block, totalSize: size, writeOffset: size, now: now)
        case let .httpError(status, retryAfter):
            phase = .discarding
            failure = .httpStatus(status, retryAfterSeconds: retryAfter)
        case .protocolError(let message):
            failure = .protocolError(message)
            return false
        }
        return true
    }

    private func report(_ block: HTTPHeaderBlock, totalSize: UInt64?, writeOffset: UInt64, now: Int64) {
        let lastModified = block.value("Last-Modified")
        let info = ResponseInfo(
            status: block.status, totalSize: totalSize, writeOffset: writeOffset,
            entityTag: block.value("ETag"), lastModifiedText: lastModified,
            lastModifiedMicroseconds: HeaderParsing.lastModifiedMicroseconds(lastModified),
            acceptsRanges: block.status == 206 || HeaderParsing.acceptsByteRanges(block.value("Accept-Ranges")),
            effectiveURL: effectiveURL(), headerBlock: block.raw,
            retryAfterSeconds: block.value("Retry-After").flatMap { HeaderParsing.parseRetryAfter($0, now: now) })
        lastProgressAt = monotonicNanoseconds()
        lastReported = bytesOnDisk
        delegate.transfer(request.id, didReceive: info)
    }

    fileprivate func receiveBody(_ buffer: UnsafeMutablePointer<CChar>?, count: Int) -> Int {
        switch phase {
        case .writing:
            guard let buffer else { return count }
            if let readyAt = pacer?.admit(count, now: monotonicNanoseconds()) {
                resumeAt = readyAt
                return bits_curl_writefunc_pause()  // curl keeps the data and re-delivers it
            }
            var done = 0
            while done < count {
                let n = pwrite(request.destinationDescriptor, buffer + done, count - done, off_t(bytesOnDisk))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    failure = FailureMapping.writeFailure(errno: n == 0 ? EIO : errno, destination: destinationName, source: url)
                    return 0
                }
                done += n
                written += UInt64(n)
                bytesOnDisk = writeOffset + written
            }
            return count
        case .discarding, .alreadyComplete:
            discarded += count
            return discarded > Self.maxDiscardedBody ? 0 : count
        case .awaitingResponse:
            return count  // body of a followed redirect
        }
    }

    // MARK: - Loop hooks

    /// Ends a rate-cap pause that is due (curl may deliver the held data right away).
    func resumeIfDue(now: UInt64) {
        guard let due = resumeAt, now >= due else { return }
        resumeAt = nil
        _ = bits_curl_unpause(handle)
    }

    /// Reports progress when bytes changed and 100 ms passed since the last report.
    func reportProgressIfDue(now: UInt64) {
        guard phase == .writing, bytesOnDisk != lastReported, now &- lastProgressAt >= 100_000_000 else { return }
        lastProgressAt = now
        lastReported = bytesOnDisk
        delegate.transfer(request.id, didProgress: bytesOnDisk)
    }

    /// The outcome once curl finished the handle with `result` (call before resetting it).
    func outcome(result: CURLcode) -> TransferOutcome {
        if let failure { return .failed(failure, bytesOnDisk: bytesOnDisk) }
        if result != CURLE_OK {
            var connectMicros: curl_off_t = 0
            _ = bits_curl_getinfo_off_t(handle, CURLINFO_CONNECT_TIME_T, &connectMicros)
            let text = String(cString: errorBuffer).trimmingASCIIWhitespace()
            let context = FailureMapping.CurlContext(
                url: url, errorText: text, connected: connectMicros > 0 || sawResponseBytes,
                redirected: sawRedirect, bytesOnDisk: bytesOnDisk, totalSize: totalSize,
                stallSeconds: request.stallTimeoutSeconds, connectTimeoutSeconds: request.connectTimeoutSeconds)
            return .failed(FailureMapping.failure(for: result, context), bytesOnDisk: bytesOnDisk)
        }
        switch phase {
        case .writing:
            if let total = totalSize, total != bytesOnDisk {
                let message = "The server of \(url) ended the body with \(bytesOnDisk) of \(total) bytes on disk."
                return .failed(.connectionReset(message), bytesOnDisk: bytesOnDisk)
            }
            return .finished(bytesOnDisk: bytesOnDisk)
        case .alreadyComplete:
            return .finished(bytesOnDisk: request.resumeOffset)
        case .awaitingResponse, .discarding:
            return .failed(.protocolError("The server of \(url) sent no final response."), bytesOnDisk: bytesOnDisk)
        }
    }

    private func effectiveURL() -> String {
        var pointer: UnsafePointer<CChar>?
        guard bits_curl_getinfo_str(handle, CURLINFO_EFFECTIVE_URL, &pointer) == CURLE_OK, let pointer else { return url }
        return String(cString: pointer)
    }
}

/// CURLOPT_WRITEFUNCTION: userdata is an unretained `CurlEasyTransfer`.
private let curlWriteCallback: bits_curl_data_callback = { buffer, size, count, userdata in
    guard let userdata else { return 0 }
    return Unmanaged<CurlEasyTransfer>.fromOpaque(userdata).takeUnretainedValue()
        .receiveBody(buffer, count: size * count)
}

/// CURLOPT_HEADERFUNCTION: userdata is an unretained `CurlEasyTransfer`.
private let curlHeaderCallback: bits_curl_data_callback = { buffer, size, count, userdata in
    guard let userdata else { return 0 }
    return Unmanaged<CurlEasyTransfer>.fromOpaque(userdata).takeUnretainedValue()
        .receiveHeader(buffer, count: size * count)
}
