import BitsCore
import CCurl
import BitsSystem

/// One HTTP(S) download on a libcurl easy handle: options, the header and write callbacks,
/// and the outcome. Created, driven and released on the engine thread only.
///
/// A file with byte ranges takes one HTTP request per range on the same handle: when curl is
/// done with one, `finish(result:)` answers `.again`, the loop calls `prepareNextRequest()` and
/// adds the handle to the multi again.
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

    /// What the loop does once curl is done with the handle's current request.
    enum Step: Equatable {
        /// The transfer ended.
        case done(TransferOutcome)
        /// Another request follows (the next range, or a restart): prepare and re-add the handle.
        case again
    }

    let request: DownloadRequest
    let url: String
    /// The CURL* easy handle.
    let handle: UnsafeMutableRawPointer
    private let delegate: TransferEngineDelegate
    private let buffers = CurlRequestBuffers()
    private let options: HTTPOptions
    /// `url` without its password (if it carries one), for messages.
    private let displayURL: String
    /// GET is the only method that resumes and asks for ranges.
    private let isGet: Bool
    private let isHead: Bool
    /// Valid destination bytes the transfer starts from (the request's resume offset for GET,
    /// else 0); becomes 0 when a resumed range download restarts.
    private var resumeOffset: UInt64
    /// The byte ranges of the file (GET with `http.ranges` only).
    private var plan: RangePlan?

    private enum Phase { case awaitingResponse, challenged, writing, discarding, alreadyComplete, replanned }
    // Per request.
    private var phase = Phase.awaitingResponse
    /// The header block being received, capped at `HeaderParsing.maxHeaderBlockBytes`.
    private var headers = HeaderCollector()
    private var sawRedirect = false
    private var redirectTarget: String?
    /// The 401/407 answer while `phase == .challenged`: curl may retry with credentials.
    private var challenge: TransferFailure?
    private var sawResponseBytes = false
    private var requestWritten: UInt64 = 0
    private var discarded = 0
    /// A range download decided to start over from 0 (the file changed); the current request
    /// was aborted for it.
    private var restartRequested = false
    // Per transfer.
    private var didReport = false
    /// ETag and file size of the first range response, to notice a change between ranges.
    private var firstEntityTag: String?
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

    static func hasLineBreak(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0 == "\r" || $0 == "\n" || $0 == "\0" }
    }

    init(request: DownloadRequest, url: String, handle: UnsafeMutableRawPointer, delegate: TransferEngineDelegate) {
        self.request = request
        self.url = url
        self.handle = handle
        self.delegate = delegate
        self.options = request.http
        self.displayURL = redactingPassword(url)
        self.isGet = request.http.method == "GET"
        self.isHead = request.http.method == "HEAD"
        self.resumeOffset = isGet ? request.resumeOffset : 0
        if isGet && !request.http.ranges.isEmpty {
            plan = RangePlan(ranges: request.http.ranges, resumeOffset: request.resumeOffset)
        }
        self.bytesOnDisk = request.resumeOffset
        self.pacer = request.maxBytesPerSecond > 0 ? RatePacer(cap: request.maxBytesPerSecond) : nil
    }

    /// Sets all options on the (fresh or reset) handle. Returns a failure when curl refuses one.
    /// The handle keeps pointers to this object and its buffers: keep it alive until the handle
    /// is reset.
    func configure(userAgent: String) -> TransferFailure? {
        let h = handle
        let me = Unmanaged.passUnretained(self).toOpaque()
        let method = options.method
        guard !method.isEmpty, method.utf8.allSatisfy(Self.isTokenCharacter) else {
            return .protocolError("\"\(method)\" is not a valid HTTP method (while downloading \(displayURL)).")
        }
        // Scalars, not Characters: "\r\n" is a single Character and would pass contains("\r").
        for header in request.headers where !Self.hasLineBreak(header) {
            buffers.appendHeader(header)
        }
        if plan == nil && resumeOffset > 0, let validator = request.ifRange,
           !Self.hasLineBreak(validator) {
            buffers.appendHeader("If-Range: \(validator)")
        }
        let secure = FailureMapping.isSecure(url)
        // An https download may only be redirected to https unless the job allows downgrades.
        let redirectProtocols = secure && !options.allowHTTPSToHTTPRedirect ? "https" : "http,https"
        var codes = CurlConnectionOptions.apply(to: h, url: url, options: options, userAgent: userAgent,
                                                errorBuffer: buffers.error,
                                                connectTimeoutSeconds: request.connectTimeoutSeconds,
                                                stallTimeoutSeconds: request.stallTimeoutSeconds)
        codes += [
            ("BUFFERSIZE", bits_curl_setopt_long(h, CURLOPT_BUFFERSIZE, Self.receiveBufferSize(cap: request.maxBytesPerSecond))),
            ("FOLLOWLOCATION", bits_curl_setopt_long(h, CURLOPT_FOLLOWLOCATION, options.redirectPolicy == .deny ? 0 : 1)),
            ("MAXREDIRS", bits_curl_setopt_long(h, CURLOPT_MAXREDIRS, 10)),
            ("REDIR_PROTOCOLS_STR", bits_curl_setopt_str(h, CURLOPT_REDIR_PROTOCOLS_STR, redirectProtocols)),
            ("WRITEFUNCTION", bits_curl_setopt_callback(h, CURLOPT_WRITEFUNCTION, curlWriteCallback)),
            ("WRITEDATA", bits_curl_setopt_ptr(h, CURLOPT_WRITEDATA, me)),
            ("HEADERFUNCTION", bits_curl_setopt_callback(h, CURLOPT_HEADERFUNCTION, curlHeaderCallback)),
            ("HEADERDATA", bits_curl_setopt_ptr(h, CURLOPT_HEADERDATA, me)),
        ]
        switch method {
        case "GET":
            break
        case "HEAD":
            codes.append(("NOBODY", bits_curl_setopt_long(h, CURLOPT_NOBODY, 1)))
        case "POST":
            // An empty body: POSTFIELDSIZE 0 keeps curl from reading one with its read callback.
            codes.append(("POST", bits_curl_setopt_long(h, CURLOPT_POST, 1)))
            codes.append(("POSTFIELDSIZE", bits_curl_setopt_long(h, CURLOPT_POSTFIELDSIZE, 0)))
        default:
            codes.append(("CUSTOMREQUEST", bits_curl_setopt_str(h, CURLOPT_CUSTOMREQUEST, method)))
        }
        if request.maxBytesPerSecond > 0 {
            let cap = curl_off_t(clamping: request.maxBytesPerSecond)
            codes.append(("MAX_RECV_SPEED_LARGE", bits_curl_setopt_off_t(h, CURLOPT_MAX_RECV_SPEED_LARGE, cap)))
        }
        if let headerList = buffers.headers {
            codes.append(("HTTPHEADER", bits_curl_setopt_slist(h, CURLOPT_HTTPHEADER, headerList)))
        }
        if let plan {
            codes.append(("RANGE", bits_curl_setopt_str(h, CURLOPT_RANGE, plan.rangeSpec)))
        } else if resumeOffset > 0 {
            // CURLOPT_RANGE rather than RESUME_FROM_LARGE: with RESUME_FROM, curl itself fails a
            // 200 answer with CURLE_RANGE_ERROR, and the engine wants to restart from 0 instead.
            codes.append(("RANGE", bits_curl_setopt_str(h, CURLOPT_RANGE, "\(resumeOffset)-")))
        }
        if let (name, code) = codes.first(where: { $0.1 != CURLE_OK }) {
            return optionFailure(name, code)
        }
        return nil
    }

    /// The failure for an option curl refused (never naming credentials).
    private func optionFailure(_ name: String, _ code: CURLcode) -> TransferFailure {
        let text = "curl error \(code.rawValue): \(FailureMapping.curlText(code))"
        switch name {
        case "HTTPAUTH", "PROXYAUTH":
            let target: Credential.Target = name == "HTTPAUTH" ? .server : .proxy
            let schemes = options.credentials.filter { $0.target == target }.map(\.scheme.rawValue)
            return .authentication("This libcurl cannot use the \(target.rawValue) authentication scheme(s) \(schemes.joined(separator: ", ")) (\(text), while downloading \(displayURL)).")
        case "SSL_VERIFYSTATUS":
            return .tls("This libcurl cannot check the revocation status of server certificates (\(text), while downloading \(displayURL)).")
        case "SSLCERT_BLOB", "SSLKEY_BLOB", "SSLCERTTYPE", "SSLKEYTYPE":
            return .tls("The client certificate could not be used (\(text), while downloading \(displayURL)).")
        default:
            return .other("\(text) setting CURLOPT_\(name) (while downloading \(displayURL)).")
        }
    }

    /// The transfer needs no request at all: every range is already on disk. Returns its
    /// outcome (the destination is cut to the ranges' total when longer), else nil.
    func immediateOutcome() -> TransferOutcome? {
        guard let plan, plan.isComplete, let total = plan.totalLength else { return nil }
        if request.resumeOffset > total {
            guard let length = Int64(exactly: total) else {
                let failure = FailureMapping.writeFailure(errno: Errno.fileTooLarge, destination: destinationName, source: displayURL)
                return .failed(failure, bytesOnDisk: request.resumeOffset)
            }
            do throws(SystemError) {
                try request.destination.truncate(to: length)
            } catch {
                let failure = FailureMapping.writeFailure(errno: error.code, destination: destinationName, source: displayURL)
                return .failed(failure, bytesOnDisk: request.resumeOffset)
            }
        }
        return .finished(bytesOnDisk: total)
    }

    /// Sets up the handle (no longer in the multi) for the next request of the transfer.
    func prepareNextRequest() -> TransferFailure? {
        phase = .awaitingResponse
        headers.reset()
        sawRedirect = false
        redirectTarget = nil
        challenge = nil
        sawResponseBytes = false
        requestWritten = 0
        discarded = 0
        buffers.error[0] = 0
        guard let plan else { return nil }
        let code = bits_curl_setopt_str(handle, CURLOPT_RANGE, plan.rangeSpec)
        return code == CURLE_OK ? nil : optionFailure("RANGE", code)
    }

    // MARK: - Callbacks (engine thread, inside curl_multi_perform)

    fileprivate func receiveHeader(_ buffer: UnsafeMutablePointer<CChar>?, count: Int) -> Int {
        guard phase == .awaitingResponse || phase == .challenged, let buffer else { return count }  // trailers
        sawResponseBytes = true
        let line = String(decoding: UnsafeRawBufferPointer(start: buffer, count: count), as: UTF8.self)
        if HeaderParsing.statusCode(ofStatusLine: line) != nil {
            // After a 401/407, curl answered the challenge: the next response counts.
            phase = .awaitingResponse
            challenge = nil
            discarded = 0
            headers.start(line)
        } else if phase == .challenged {
            return count  // trailers of the challenge
        } else if HeaderParsing.trimmingLineEnding(line).isEmpty {
            return endOfHeaders() ? count : 0
        } else {
            headers.append(line)
        }
        return count
    }

    /// A blank line ended a header block: skip interim and followed responses, decide on the
    /// final one. Returns false to abort the request (with `failure` or `restartRequested` set).
    private func endOfHeaders() -> Bool {
        defer { headers.reset() }
        guard let block = HTTPHeaderBlock(lines: headers.lines) else { return true }
        if block.status >= 100 && block.status < 200 { return true }
        if block.status >= 300 && block.status < 400 && block.status != 304, let location = block.value("Location") {
            let target = resolve(location: location)
            if options.redirectPolicy == .deny {
                failure = .redirectDenied("Downloading \(displayURL) was redirected to \(HeaderParsing.clipped(redactingPassword(target))) and the job's RedirectPolicy is deny.")
                return false
            }
            sawRedirect = true  // FOLLOWLOCATION: curl goes on to the next response
            redirectTarget = target
            return true
        }
        let now = Int64(time(nil))
        if block.status == 401 || block.status == 407 {
            // Final unless curl retries with credentials (a digest or NTLM challenge): decided
            // when the request ends or the next response starts.
            let retryAfter = block.value("Retry-After").flatMap { HeaderParsing.parseRetryAfter($0, now: now) }
            phase = .challenged
            challenge = .httpStatus(block.status, retryAfterSeconds: retryAfter)
            return true
        }
        if plan != nil { return rangeResponse(block, now: now) }
        switch ResponseDecision.decide(block, resumeOffset: resumeOffset, url: displayURL, now: now) {
        case let .body(offset, truncate, total):
            if !isHead, options.maximumSize > 0, let total, total > options.maximumSize {
                failure = .maximumDownloadSizeExceeded("The file at \(displayURL) is \(total) bytes, more than the job's maximum download size of \(options.maximumSize) bytes.")
                return false
            }
            // A new temporary file is empty already: no truncate. On ext4 that costs far more
            // than the fstat, and marks the file for writeback at close.
            if offset == 0 && (truncate || resumeOffset == 0) && !destinationIsEmpty() {
                if let error = truncateDestination(), truncate {
                    failure = FailureMapping.writeFailure(errno: error.code, destination: destinationName, source: displayURL)
                    return false
                }
            }
            phase = .writing
            // A HEAD response has no body: the file is empty.
            totalSize = isHead ? 0 : total
            bytesOnDisk = offset
            report(block, totalSize: totalSize, writeOffset: offset, now: now)
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

    private func destinationIsEmpty() -> Bool {
        (try? request.destination.status())?.size == 0
    }

    /// Empties the destination; the error when it could not be.
    private func truncateDestination() -> SystemError? {
        do throws(SystemError) {
            try request.destination.truncate(to: 0)
            return nil
        } catch {
            return error
        }
    }

    /// The final response to one range request: a 206 for exactly the range asked for.
    private func rangeResponse(_ block: HTTPHeaderBlock, now: Int64) -> Bool {
        guard var plan else { return false }
        let asked = "\(plan.rangeDescription) of \(displayURL)"
        func unsupported(_ text: String) -> Bool {
            failure = .rangeUnsupported(text)
            return false
        }
        let contentRange = block.value("Content-Range").flatMap(HeaderParsing.parseContentRange)
        switch block.status {
        case 206:
            break
        case 416:
            return rangeNotSatisfiable(block, contentRange: contentRange, now: now)
        case 200..<300:
            return unsupported("The server ignored the request for \(asked): it answered \(block.status) instead of 206 Partial Content.")
        default:
            let retryAfter = block.value("Retry-After").flatMap { HeaderParsing.parseRetryAfter($0, now: now) }
            phase = .discarding
            failure = .httpStatus(block.status, retryAfterSeconds: retryAfter)
            return true
        }
        guard let range = contentRange, let first = range.first, let last = range.last else {
            return unsupported("The server answered the request for \(asked) with 206 Partial Content but without a single byte range.")
        }
        guard first == plan.requestStart else {
            return unsupported("The server answered the request for \(asked) with bytes from offset \(first) instead.")
        }
        if !didReport {
            if resumeOffset > 0, let validator = request.ifRange,
               !Self.validatorMatches(validator, entityTag: block.value("ETag"), lastModified: block.value("Last-Modified")) {
                return restartFromZero()
            }
            if let problem = plan.resolve(fileSize: range.total) {
                return unsupported("Downloading the ranges of \(displayURL) failed: \(problem).")
            }
        } else if (range.total != nil && plan.fileSize != nil && range.total != plan.fileSize)
                    || (firstEntityTag != nil && block.value("ETag") != nil && block.value("ETag") != firstEntityTag) {
            failure = .remoteChanged("The file at \(displayURL) changed while its ranges were being downloaded.")
            return false
        }
        guard let end = plan.requestEnd, last == end else {
            return unsupported("The server answered the request for \(asked) with bytes \(first)-\(last) instead.")
        }
        self.plan = plan
        if !didReport {
            let total = plan.totalLength ?? 0
            if options.maximumSize > 0 && total > options.maximumSize {
                failure = .maximumDownloadSizeExceeded("The ranges of \(displayURL) add up to \(total) bytes, more than the job's maximum download size of \(options.maximumSize) bytes.")
                return false
            }
            if resumeOffset == 0, let error = truncateDestination() {
                failure = FailureMapping.writeFailure(errno: error.code, destination: destinationName, source: displayURL)
                return false
            }
            totalSize = total
            firstEntityTag = block.value("ETag")
            bytesOnDisk = resumeOffset
            report(block, totalSize: total, writeOffset: resumeOffset, now: now)
        }
        bytesOnDisk = plan.requestDestinationOffset
        phase = .writing
        return true
    }

    /// 416 to a range request: beyond the end of the file, unless resuming found a to-EOF range
    /// (or everything) already complete once the file's size is known.
    private func rangeNotSatisfiable(_ block: HTTPHeaderBlock, contentRange: ContentRange?, now: Int64) -> Bool {
        guard let plan else { return false }
        let asked = "\(plan.rangeDescription) of \(displayURL)"
        if !didReport, plan.fileSize == nil, let size = contentRange?.total, contentRange?.first == nil {
            var known = RangePlan(ranges: request.http.ranges, resumeOffset: 0)
            if known.resolve(fileSize: size) == nil {
                known.position(at: resumeOffset)
                if known.isComplete {
                    let total = known.totalLength ?? 0
                    if resumeOffset == total {
                        self.plan = known
                        phase = .alreadyComplete
                        totalSize = total
                        report(block, totalSize: total, writeOffset: total, now: now)
                        return true
                    }
                } else if known.index != plan.index || known.requestStart != plan.requestStart {
                    self.plan = known
                    phase = .replanned
                    return true
                }
            }
        }
        let size = contentRange?.total.map { " (\($0) bytes)" } ?? ""
        failure = .rangeUnsupported("The request for \(asked) failed: the range lies beyond the end of the file\(size).")
        return false
    }

    /// The file changed since the part on disk was downloaded: start over with the first range.
    private func restartFromZero() -> Bool {
        if let error = truncateDestination() {
            failure = FailureMapping.writeFailure(errno: error.code, destination: destinationName, source: displayURL)
            return false
        }
        resumeOffset = 0
        bytesOnDisk = 0
        plan = RangePlan(ranges: request.http.ranges, resumeOffset: 0)
        restartRequested = true
        return false
    }

    private func report(_ block: HTTPHeaderBlock, totalSize: UInt64?, writeOffset: UInt64, now: Int64) {
        // Validators are stored with the file: an oversized one counts as absent.
        let lastModified = HeaderParsing.boundedValue(block.value("Last-Modified"), limit: HeaderParsing.maxLastModifiedBytes)
        var info = ResponseInfo(
            status: block.status, totalSize: totalSize, writeOffset: writeOffset,
            entityTag: HeaderParsing.boundedValue(block.value("ETag"), limit: HeaderParsing.maxEntityTagBytes),
            lastModifiedText: lastModified,
            lastModifiedMicroseconds: HeaderParsing.lastModifiedMicroseconds(lastModified),
            acceptsRanges: block.status == 206 || HeaderParsing.acceptsByteRanges(block.value("Accept-Ranges")),
            effectiveURL: reportableEffectiveURL(), headerBlock: block.raw,
            retryAfterSeconds: block.value("Retry-After").flatMap { HeaderParsing.parseRetryAfter($0, now: now) })
        // The digest fields are checked for a complete response only (the whole file from 0).
        if plan == nil, !isHead, block.status == 200, writeOffset == 0 {
            info.digests = DigestFields.digests(reprDigest: block.value("Repr-Digest"),
                                                contentDigest: block.value("Content-Digest"))
            if !info.digests.isEmpty, !info.digests.contains(where: { $0.algorithm == .sha256 }) {
                request.hasher?.enableSHA512()
            }
        }
        didReport = true
        lastProgressAt = SystemClock.monotonicNanoseconds()
        lastReported = bytesOnDisk
        delegate.transfer(request.id, didReceive: info)
    }

    fileprivate func receiveBody(_ buffer: UnsafeMutablePointer<CChar>?, count: Int) -> Int {
        switch phase {
        case .writing:
            guard let buffer else { return count }
            if options.maximumSize > 0 && bytesOnDisk.addingSaturating(UInt64(count)) > options.maximumSize {
                failure = .maximumDownloadSizeExceeded("Downloading \(displayURL) went beyond the job's maximum download size of \(options.maximumSize) bytes.")
                return 0
            }
            if let readyAt = pacer?.admit(count, now: SystemClock.monotonicNanoseconds()) {
                resumeAt = readyAt
                return bits_curl_writefunc_pause()  // curl keeps the data and re-delivers it
            }
            if let length = plan?.requestLength, requestWritten.addingSaturating(UInt64(count)) > length {
                failure = .rangeUnsupported("The server sent more than the \(length) bytes of \(plan!.rangeDescription) of \(displayURL).")
                return 0
            }
            let start = bytesOnDisk
            var done = 0
            while done < count {
                // Past the largest file offset the kernel would refuse the write anyway.
                guard let position = Int64(exactly: bytesOnDisk) else {
                    failure = FailureMapping.writeFailure(errno: Errno.fileTooLarge, destination: destinationName, source: displayURL)
                    return 0
                }
                let n: Int
                do throws(SystemError) {
                    n = try request.destination.writeUnprivileged(buffer + done, count: count - done, at: position)
                } catch {
                    failure = FailureMapping.writeFailure(errno: error.code, destination: destinationName, source: displayURL)
                    return 0
                }
                guard n > 0 else {
                    failure = FailureMapping.writeFailure(errno: Errno.io, destination: destinationName, source: displayURL)
                    return 0
                }
                done += n
                requestWritten += UInt64(n)
                bytesOnDisk += UInt64(n)
            }
            // The hash thread reads what was written back: the digest rides along with the write.
            request.hasher?.written(buffer, count: count, at: start, descriptor: request.destinationDescriptor)
            startWritebackIfDue()
            return count
        case .discarding, .alreadyComplete, .replanned, .challenged:
            discarded += count
            return discarded > Self.maxDiscardedBody ? 0 : count
        case .awaitingResponse:
            return count  // body of a followed redirect
        }
    }

    /// What to hand to the kernel's writeback next.
    private var writeback = WritebackWindow(chunk: WritebackWindow.downloadChunk)

    /// Asks the kernel to start writing out the last `writeback.chunk` bytes written, so the
    /// data goes to disk while the download goes on. Best effort: errors show at fsync.
    private func startWritebackIfDue() {
        guard let range = writeback.advance(writtenTo: bytesOnDisk, requestStart: bytesOnDisk.subtractingSaturating(requestWritten)) else { return }
        try? request.destination.startWriteback(offset: Int64(clamping: range.lowerBound), length: Int64(clamping: range.count))
    }

    // MARK: - Loop hooks

    /// Ends a rate-cap pause that is due (curl may deliver the held data right away).
    func resumeIfDue(now: UInt64) {
        guard let due = resumeAt, now >= due else { return }
        resumeAt = nil
        _ = bits_curl_unpause(handle)
    }

    /// Follows a new receive-rate cap (0 = unlimited) from now on, without a burst. curl's own
    /// limit is switched off: it measures from the start of its window, so a lower cap would
    /// stall the transfer to make up for the bytes received under the old one.
    func setRateLimit(_ cap: UInt64, now: UInt64) {
        if cap == 0 {
            pacer = nil
        } else if pacer != nil {
            pacer!.retarget(cap: cap, now: now)
        } else {
            pacer = RatePacer(cap: cap, emptyAt: now)
        }
        _ = bits_curl_setopt_off_t(handle, CURLOPT_MAX_RECV_SPEED_LARGE, 0)
        if resumeAt != nil { resumeAt = now }  // offer the held data to the new pacer
    }

    /// Reports progress when bytes changed and 100 ms passed since the last report.
    func reportProgressIfDue(now: UInt64) {
        guard didReport, bytesOnDisk != lastReported, now &- lastProgressAt >= 100_000_000 else { return }
        lastProgressAt = now
        lastReported = bytesOnDisk
        delegate.transfer(request.id, didProgress: bytesOnDisk)
    }

    /// What follows once curl finished the current request with `result` (call before
    /// removing the handle from the multi).
    func finish(result: CURLcode) -> Step {
        if restartRequested && failure == nil {
            restartRequested = false
            return .again
        }
        if let failure { return .done(.failed(failure, bytesOnDisk: bytesOnDisk)) }
        if phase == .challenged, let challenge {
            // curl did not (or could not) answer the challenge: the 401/407 is final, even if
            // reading its body failed.
            return .done(.failed(challenge, bytesOnDisk: bytesOnDisk))
        }
        if result != CURLE_OK, headers.isCut {
            // The block being received outgrew the 64 KiB kept and never ended: libcurl gives
            // up on a header block over 300 KiB. A broken or hostile server, not a network fault.
            let text = buffers.errorText.isEmpty ? FailureMapping.curlText(result) : buffers.errorText
            let message = "The server of \(displayURL) sent a response header block of more than \(HeaderParsing.maxHeaderBlockBytes) bytes that did not end (\(text))."
            return .done(.failed(.protocolError(message), bytesOnDisk: bytesOnDisk))
        }
        if result != CURLE_OK { return .done(.failed(curlFailure(result), bytesOnDisk: bytesOnDisk)) }
        switch phase {
        case .writing:
            if var plan {
                let expected = plan.requestLength ?? requestWritten
                if requestWritten != expected {
                    let message = "The server of \(displayURL) ended \(plan.rangeDescription) after \(requestWritten) of \(expected) bytes."
                    return .done(.failed(.connectionReset(message), bytesOnDisk: bytesOnDisk))
                }
                plan.advance()
                self.plan = plan
                return plan.isComplete ? .done(.finished(bytesOnDisk: bytesOnDisk)) : .again
            }
            if !isHead, let total = totalSize, total != bytesOnDisk {
                let message = "The server of \(displayURL) ended the body with \(bytesOnDisk) of \(total) bytes on disk."
                return .done(.failed(.connectionReset(message), bytesOnDisk: bytesOnDisk))
            }
            return .done(.finished(bytesOnDisk: bytesOnDisk))
        case .alreadyComplete:
            return .done(.finished(bytesOnDisk: resumeOffset))
        case .replanned:
            return .again
        case .awaitingResponse, .discarding, .challenged:
            return .done(.failed(.protocolError("The server of \(displayURL) sent no final response."), bytesOnDisk: bytesOnDisk))
        }
    }

    /// The failure for a curl error that no callback explained.
    private func curlFailure(_ result: CURLcode) -> TransferFailure {
        var connectCode = 0
        if bits_curl_getinfo_long(handle, CURLINFO_HTTP_CONNECTCODE, &connectCode) == CURLE_OK, connectCode >= 400 {
            return .httpStatus(connectCode, retryAfterSeconds: nil)  // the proxy refused the tunnel (e.g. 407)
        }
        var connectMicros: curl_off_t = 0
        _ = bits_curl_getinfo_off_t(handle, CURLINFO_CONNECT_TIME_T, &connectMicros)
        let text = buffers.errorText
        let context = FailureMapping.CurlContext(
            url: displayURL, errorText: text, connected: connectMicros > 0 || sawResponseBytes,
            redirected: sawRedirect, redirectTarget: redirectTarget.map { HeaderParsing.clipped(redactingPassword($0)) },
            receivedResponse: sawResponseBytes, bytesOnDisk: bytesOnDisk, totalSize: totalSize,
            stallSeconds: request.stallTimeoutSeconds, connectTimeoutSeconds: request.connectTimeoutSeconds)
        return FailureMapping.failure(for: result, context)
    }

    private func effectiveURL() -> String {
        var pointer: UnsafePointer<CChar>?
        guard bits_curl_getinfo_str(handle, CURLINFO_EFFECTIVE_URL, &pointer) == CURLE_OK, let pointer else { return url }
        return String(cString: pointer)
    }

    /// The effective URL as reported (RedirectPolicy allow-report makes it the file's
    /// RemoteName): only a URL AddFile would take (`InputValidation.downloadURL`: at most
    /// 2,200 characters, no spaces or control characters), else "" (not reported).
    private func reportableEffectiveURL() -> String {
        let url = effectiveURL()
        return (try? InputValidation.downloadURL(url)) == nil ? "" : url
    }

    /// A Location value made absolute against the URL of the response that carried it.
    private func resolve(location: String) -> String {
        guard let u = curl_url() else { return location }
        defer { curl_url_cleanup(u) }
        let flags = UInt32(CURLU_NON_SUPPORT_SCHEME)
        guard curl_url_set(u, CURLUPART_URL, effectiveURL(), flags) == CURLUE_OK,
              curl_url_set(u, CURLUPART_URL, location, flags) == CURLUE_OK else { return location }
        var out: UnsafeMutablePointer<CChar>?
        guard curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK, let out else { return location }
        defer { curl_free(out) }
        return String(cString: out)
    }

    /// An If-Range validator still matches a response: the same strong ETag, or the same
    /// Last-Modified second for a date.
    static func validatorMatches(_ validator: String, entityTag: String?, lastModified: String?) -> Bool {
        let value = validator.trimmingASCIIWhitespace()
        if value.hasPrefix("\"") || value.hasPrefix("W/") {
            return !value.hasPrefix("W/") && entityTag?.trimmingASCIIWhitespace() == value
        }
        guard let date = HeaderParsing.parseHTTPDate(value),
              let modified = lastModified.flatMap(HeaderParsing.parseHTTPDate) else { return false }
        return date == modified
    }

    /// RFC 9110 token characters (a method name).
    static func isTokenCharacter(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(c)
        }
    }
}

/// Which credential of a target (server or proxy) curl gets, and the schemes it may use.
struct CredentialChoice: Equatable {
    /// CURLAUTH_* bits of every scheme given for the target.
    var mask: UInt
    var userName: String
    var password: String

    /// Strongest first: the user name and password come from the strongest scheme's entry.
    static let strength: [Credential.Scheme] = [.negotiate, .ntlm, .digest, .basic]

    static func bit(_ scheme: Credential.Scheme) -> UInt {
        switch scheme {
        case .basic: UInt(BITS_CURLAUTH_BASIC)
        case .digest: UInt(BITS_CURLAUTH_DIGEST)
        case .ntlm: UInt(BITS_CURLAUTH_NTLM)
        case .negotiate: UInt(BITS_CURLAUTH_NEGOTIATE)
        }
    }

    /// Nil when no credential is for `target`. NTLM and Negotiate without a user name are
    /// never used: libcurl would take the daemon's own (root's) Kerberos or NTLM identity.
    static func choose(_ credentials: [Credential], for target: Credential.Target) -> CredentialChoice? {
        let mine = credentials.filter {
            $0.target == target && !(($0.scheme == .ntlm || $0.scheme == .negotiate) && $0.userName.isEmpty)
        }
        guard let chosen = strength.lazy.compactMap({ scheme in mine.first { $0.scheme == scheme } }).first else {
            return nil
        }
        let mask = mine.reduce(UInt(0)) { $0 | bit($1.scheme) }
        return CredentialChoice(mask: mask, userName: chosen.userName, password: chosen.password)
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
