import BitsCore
import CCurl
import BitsSystem

/// One exchange (see `ExchangeRequest`) on an easy handle of the engine thread: the body is
/// read with `pread` from the caller's descriptor as curl sends it, every header block is
/// collected (interim 100 and answered 401/407 challenges are replaced by the next one), and
/// the final response's body is kept in memory up to the request's limit.
final class CurlExchange {
    let request: ExchangeRequest
    let handle: UnsafeMutableRawPointer
    private let delegate: TransferEngineDelegate
    private let buffers = CurlRequestBuffers()
    private let displayURL: String

    /// The header block being received, capped at `HeaderParsing.maxHeaderBlockBytes`.
    private var headers = HeaderCollector()
    private var finalBlock: HTTPHeaderBlock?
    private var body: [UInt8] = []
    private var truncated = false
    private var readFailure: TransferFailure?
    private var sawResponse = false
    private(set) var bytesSent: UInt64 = 0
    private var lastReported: UInt64 = 0
    private var lastProgressAt: UInt64 = 0

    init(request: ExchangeRequest, handle: UnsafeMutableRawPointer, delegate: TransferEngineDelegate) {
        self.request = request
        self.handle = handle
        self.delegate = delegate
        displayURL = redactingPassword(request.url)
    }

    /// Sets every option; a failure when curl refuses one or the request is malformed.
    func configure(userAgent: String) -> TransferFailure? {
        let h = handle
        let me = Unmanaged.passUnretained(self).toOpaque()
        guard !request.method.isEmpty, request.method.utf8.allSatisfy(CurlEasyTransfer.isTokenCharacter) else {
            return .protocolError("\"\(request.method)\" is not a valid HTTP method (while sending to \(displayURL)).")
        }
        // curl sets Content-Length from the body; no Expect: 100-continue round trip and no
        // form content type for the BITS packets.
        for header in request.headers where !CurlEasyTransfer.hasLineBreak(header)
            && !header.lowercased().hasPrefix("content-length:") {
            buffers.appendHeader(header)
        }
        buffers.appendHeader("Expect:")
        buffers.appendHeader("Content-Type:")
        var codes = CurlConnectionOptions.apply(to: h, url: request.url, options: request.http, userAgent: userAgent,
                                                errorBuffer: buffers.error,
                                                connectTimeoutSeconds: request.connectTimeoutSeconds,
                                                stallTimeoutSeconds: request.stallTimeoutSeconds)
        let length = request.body?.length ?? 0
        codes += [
            ("FOLLOWLOCATION", bits_curl_setopt_long(h, CURLOPT_FOLLOWLOCATION, 0)),
            ("CUSTOMREQUEST", bits_curl_setopt_str(h, CURLOPT_CUSTOMREQUEST, request.method)),
            ("POST", bits_curl_setopt_long(h, CURLOPT_POST, 1)),
            ("POSTFIELDSIZE_LARGE", bits_curl_setopt_off_t(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(clamping: length))),
            ("READFUNCTION", bits_curl_setopt_callback(h, CURLOPT_READFUNCTION, curlExchangeReadCallback)),
            ("READDATA", bits_curl_setopt_ptr(h, CURLOPT_READDATA, me)),
            ("SEEKFUNCTION", bits_curl_setopt_seek_callback(h, curlExchangeSeekCallback)),
            ("SEEKDATA", bits_curl_setopt_ptr(h, CURLOPT_SEEKDATA, me)),
            ("WRITEFUNCTION", bits_curl_setopt_callback(h, CURLOPT_WRITEFUNCTION, curlExchangeWriteCallback)),
            ("WRITEDATA", bits_curl_setopt_ptr(h, CURLOPT_WRITEDATA, me)),
            ("HEADERFUNCTION", bits_curl_setopt_callback(h, CURLOPT_HEADERFUNCTION, curlExchangeHeaderCallback)),
            ("HEADERDATA", bits_curl_setopt_ptr(h, CURLOPT_HEADERDATA, me)),
        ]
        if request.maxBytesPerSecond > 0 {
            codes.append(("MAX_SEND_SPEED_LARGE", bits_curl_setopt_off_t(h, CURLOPT_MAX_SEND_SPEED_LARGE,
                                                                        curl_off_t(clamping: request.maxBytesPerSecond))))
        }
        if let headerList = buffers.headers {
            codes.append(("HTTPHEADER", bits_curl_setopt_slist(h, CURLOPT_HTTPHEADER, headerList)))
        }
        if let (name, code) = codes.first(where: { $0.1 != CURLE_OK }) {
            return .other("curl error \(code.rawValue): \(FailureMapping.curlText(code)) setting CURLOPT_\(name) (while sending to \(displayURL)).")
        }
        return nil
    }

    // MARK: - Callbacks (engine thread)

    fileprivate func read(_ buffer: UnsafeMutablePointer<CChar>?, count: Int) -> Int {
        guard let body = request.body, let buffer else { return 0 }
        let remaining = body.length - min(bytesSent, body.length)
        let wanted = Int(min(UInt64(count), remaining))
        guard wanted > 0 else { return 0 }
        let (position, overflow) = body.offset.addingReportingOverflow(bytesSent)
        guard !overflow, let offset = Int64(exactly: position) else {
            readFailure = .localIO("The upload fragment at offset \(body.offset) lies beyond the largest file offset.")
            return Int(CURL_READFUNC_ABORT)
        }
        let got: Int
        do throws(SystemError) {
            // The caller's descriptor (ExchangeRequest.Body), borrowed: never closed here.
            got = try BorrowedDescriptor(body.descriptor).read(into: buffer, count: wanted, at: offset)
        } catch {
            readFailure = FailureMapping.readFailure(errno: error.code, source: "the upload source")
            return Int(CURL_READFUNC_ABORT)
        }
        if got == 0 {
            readFailure = .localIO("The upload source ended at \(position) bytes, before the \(body.length) bytes of this fragment were read (it was changed).")
            return Int(CURL_READFUNC_ABORT)
        }
        bytesSent += UInt64(got)
        return got
    }

    /// curl sends the body again (a retry on a new connection after a reused one died, or an
    /// authentication round): reads restart at `offset` within the body.
    fileprivate func seek(to offset: Int64, origin: Int32) -> Int32 {
        guard origin == SEEK_SET, offset >= 0, UInt64(offset) <= request.body?.length ?? 0 else {
            return Int32(CURL_SEEKFUNC_CANTSEEK)
        }
        bytesSent = UInt64(offset)
        return Int32(CURL_SEEKFUNC_OK)
    }

    fileprivate func receiveHeader(_ buffer: UnsafeMutablePointer<CChar>?, count: Int) -> Int {
        guard let buffer else { return count }
        sawResponse = true
        let line = String(decoding: UnsafeRawBufferPointer(start: buffer, count: count), as: UTF8.self)
        if HeaderParsing.statusCode(ofStatusLine: line) != nil {
            headers.start(line)
        } else if HeaderParsing.trimmingLineEnding(line).isEmpty {
            if let block = HTTPHeaderBlock(lines: headers.lines), block.status >= 200 { finalBlock = block }
            headers.reset()
        } else {
            headers.append(line)
        }
        return count
    }

    fileprivate func receiveBody(_ buffer: UnsafeMutablePointer<CChar>?, count: Int) -> Int {
        guard let buffer else { return count }
        let room = max(0, request.maxResponseBytes.subtractingSaturating(body.count))
        if count > room { truncated = true }
        body.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: min(count, room)))
        return count
    }

    /// Reports bytes sent when they changed and 100 ms passed.
    func reportProgressIfDue(now: UInt64) {
        guard bytesSent != lastReported, now &- lastProgressAt >= 100_000_000 else { return }
        lastProgressAt = now
        lastReported = bytesSent
        delegate.transfer(request.id, didProgress: bytesSent)
    }

    /// The outcome once curl finished with `result`.
    func finish(result: CURLcode) -> ExchangeOutcome {
        if let readFailure { return .failed(readFailure, bytesSent: bytesSent) }
        guard result == CURLE_OK, let block = finalBlock else {
            var connectMicros: curl_off_t = 0
            _ = bits_curl_getinfo_off_t(handle, CURLINFO_CONNECT_TIME_T, &connectMicros)
            let context = FailureMapping.CurlContext(
                url: displayURL, errorText: buffers.errorText,
                connected: connectMicros > 0 || sawResponse, redirected: false, receivedResponse: sawResponse,
                bytesOnDisk: bytesSent, totalSize: request.body?.length,
                stallSeconds: request.stallTimeoutSeconds, connectTimeoutSeconds: request.connectTimeoutSeconds)
            let failure = result == CURLE_OK
                ? TransferFailure.protocolError("The server of \(displayURL) sent no final response.")
                : FailureMapping.failure(for: result, context)
            return .failed(failure, bytesSent: bytesSent)
        }
        return .response(ExchangeResponse(status: block.status,
                                          headers: block.fields.map { .init(name: $0.name, value: $0.value) },
                                          body: body, truncated: truncated, bytesSent: bytesSent))
    }
}

private let curlExchangeReadCallback: bits_curl_data_callback = { buffer, size, count, userdata in
    guard let userdata else { return Int(CURL_READFUNC_ABORT) }
    return Unmanaged<CurlExchange>.fromOpaque(userdata).takeUnretainedValue().read(buffer, count: size * count)
}

private let curlExchangeWriteCallback: bits_curl_data_callback = { buffer, size, count, userdata in
    guard let userdata else { return 0 }
    return Unmanaged<CurlExchange>.fromOpaque(userdata).takeUnretainedValue().receiveBody(buffer, count: size * count)
}

private let curlExchangeHeaderCallback: bits_curl_data_callback = { buffer, size, count, userdata in
    guard let userdata else { return 0 }
    return Unmanaged<CurlExchange>.fromOpaque(userdata).takeUnretainedValue().receiveHeader(buffer, count: size * count)
}

private let curlExchangeSeekCallback: bits_curl_seek_callback = { userdata, offset, origin in
    guard let userdata else { return Int32(CURL_SEEKFUNC_FAIL) }
    return Unmanaged<CurlExchange>.fromOpaque(userdata).takeUnretainedValue().seek(to: Int64(offset), origin: origin)
}
