import BitsCore
import CCurl
import BitsSystem

/// The libcurl multi handle and the loop that drives it on the engine thread. Other threads
/// only enqueue commands (under a lock) and wake the loop with `curl_multi_wakeup`; every easy
/// handle is created, used, reset and cleaned up on the loop's thread.
final class CurlMultiLoop: @unchecked Sendable {
    enum Command {
        case start(DownloadRequest, url: String)
        /// Start the request the moment `after` finishes (at once if it is no longer running).
        case chain(DownloadRequest, url: String, after: TransferID)
        case exchange(ExchangeRequest)
        case cancel(TransferID)
        /// A new receive-rate cap (bytes per second, 0 = unlimited) for a running transfer.
        case setRate(TransferID, UInt64)
    }

    /// Idle easy handles kept for reuse (curl_easy_reset between transfers).
    static let maxIdleHandles = 8

    private let delegate: TransferEngineDelegate
    private let userAgent: String
    /// The CURLM* multi handle; its connection cache is shared by all transfers.
    private let multi: UnsafeMutableRawPointer

    // Shared with callers, under `lock`.
    private let lock = ConditionLock()
    private var pending: [Command] = []
    private var stopRequested = false
    private var closed = false

    // Engine thread only.
    private var active: [TransferID: CurlEasyTransfer] = [:]
    private var byHandle: [UnsafeMutableRawPointer: CurlEasyTransfer] = [:]
    private var idleHandles: [UnsafeMutableRawPointer] = []
    private var exchanges: [TransferID: CurlExchange] = [:]
    private var exchangeByHandle: [UnsafeMutableRawPointer: CurlExchange] = [:]
    /// Requests waiting for their predecessor (the key) to finish.
    private var chained: [TransferID: (request: DownloadRequest, url: String)] = [:]

    /// curl_global_init, once per process, before any engine thread exists.
    private static let globalInit: CURLcode = bits_curl_global_init_all()

    /// Initializes libcurl (once per process; later calls do nothing). Call before the first
    /// loop's thread starts.
    static func initializeCurl() {
        let code = globalInit
        precondition(code == CURLE_OK, "curl_global_init failed with \(code.rawValue)")
    }

    init(delegate: TransferEngineDelegate, userAgent: String) {
        guard let multi = curl_multi_init() else { fatalError("curl_multi_init failed") }
        self.multi = multi
        self.delegate = delegate
        self.userAgent = userAgent
    }

    // MARK: - Any thread

    /// Queues a command and wakes the loop. False once the loop was asked to stop.
    func enqueue(_ command: Command) -> Bool {
        lock.withLock {
            guard !stopRequested else { return false }
            pending.append(command)
            curl_multi_wakeup(multi)
            return true
        }
    }

    /// Asks the loop to cancel everything and return.
    func requestStop() {
        lock.withLock {
            guard !stopRequested else { return }
            stopRequested = true
            curl_multi_wakeup(multi)
        }
    }

    /// Frees the multi handle; call after the loop's thread was joined.
    func close() {
        lock.withLock {
            guard !closed else { return }
            closed = true
            curl_multi_cleanup(multi)
        }
    }

    // MARK: - Engine thread

    /// Runs until `requestStop()`; every started transfer gets its didEnd before this returns.
    func run() {
        while true {
            let (commands, stop) = lock.withLock { () -> ([Command], Bool) in
                defer { pending = [] }
                return (pending, stopRequested)
            }
            for command in commands {
                if stop {
                    switch command {
                    case .start(let request, _), .chain(let request, _, _):
                        end(request, .cancelled(bytesOnDisk: request.resumeOffset))
                    case .exchange(let request):
                        delegate.transfer(request.id, didExchange: .cancelled)
                    case .cancel, .setRate:
                        break
                    }
                } else {
                    apply(command)
                }
            }
            if stop { break }
            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            collectFinished()
            let now = SystemClock.monotonicNanoseconds()
            // Idle: sleep until a command wakes the loop (curl_multi_wakeup) or curl's own
            // timers (e.g. closing cached connections) are due; no polling.
            var timeout: UInt64 = active.isEmpty && exchanges.isEmpty ? UInt64(Int32.max) : 100
            for exchange in exchanges.values { exchange.reportProgressIfDue(now: now) }
            for transfer in active.values {
                transfer.resumeIfDue(now: now)
                transfer.reportProgressIfDue(now: now)
                if let due = transfer.resumeAt {
                    timeout = min(timeout, due > now ? (due - now).addingSaturating(999_999) / 1_000_000 : 0)
                }
            }
            if !active.isEmpty { collectFinished() }  // an unpause may have ended a transfer
            // 100 ms while transfers run so progress is reported on time (less while one is
            // paused for its rate cap); curl shortens the wait further for its own timers.
            curl_multi_poll(multi, nil, 0, Int32(timeout), nil)
        }
        for id in Array(active.keys) + Array(exchanges.keys) + chained.values.map(\.request.id) { cancel(id) }
        for handle in idleHandles { curl_easy_cleanup(handle) }
        idleHandles = []
    }

    private func apply(_ command: Command) {
        switch command {
        case let .start(request, url): start(request, url: url)
        case let .chain(request, url, predecessor):
            if active[predecessor] != nil || chainedKey(of: predecessor) != nil {
                chained[predecessor] = (request, url)
            } else {
                start(request, url: url)
            }
        case .exchange(let request): startExchange(request)
        case .cancel(let id): cancel(id)
        case let .setRate(id, bytesPerSecond):
            if let transfer = active[id] {
                transfer.setRateLimit(bytesPerSecond, now: SystemClock.monotonicNanoseconds())
            } else if let key = chainedKey(of: id) {
                chained[key]?.request.maxBytesPerSecond = bytesPerSecond
            }
        }
    }

    /// The predecessor a queued (chained) request waits for.
    private func chainedKey(of id: TransferID) -> TransferID? {
        chained.first { $0.value.request.id == id }?.key
    }

    /// Reports a transfer's end, then starts the request chained to it if it finished, or
    /// ends that one unstarted (and so on down the chain).
    private func end(_ request: DownloadRequest, _ outcome: TransferOutcome) {
        let id = request.id
        let outcome = concludeHash(of: request, outcome, delegate: delegate)
        delegate.transfer(id, didEnd: outcome)
        guard let next = chained.removeValue(forKey: id) else { return }
        if case .finished = outcome {
            start(next.request, url: next.url)
        } else {
            end(next.request, .cancelled(bytesOnDisk: next.request.resumeOffset))
        }
    }

    private func start(_ request: DownloadRequest, url: String) {
        let id = request.id
        func fail(_ failure: TransferFailure) {
            end(request, .failed(failure, bytesOnDisk: request.resumeOffset))
        }
        guard active[id] == nil else {
            return fail(.other("Transfer \(id) is already running in the engine (while starting \(redactingPassword(url)))."))
        }
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
            return fail(.protocolError("\(redactingPassword(url)) is not an http or https URL."))
        }
        var reused = idleHandles.popLast()
        guard var handle = reused ?? curl_easy_init() else {
            return fail(.other("curl_easy_init failed (while starting \(redactingPassword(url)))."))
        }
        var transfer = CurlEasyTransfer(request: request, url: url, handle: handle, delegate: delegate)
        while let failure = transfer.configure(userAgent: userAgent) {
            // libcurl 7.88 keeps the receive buffer of some failed transfers across
            // curl_easy_reset and then refuses CURLOPT_BUFFERSIZE: retry on a fresh handle.
            withExtendedLifetime(transfer) { curl_easy_reset(handle) }
            guard reused != nil, let fresh = curl_easy_init() else {
                recycle(handle)
                return fail(failure)
            }
            curl_easy_cleanup(handle)
            reused = nil
            handle = fresh
            transfer = CurlEasyTransfer(request: request, url: url, handle: handle, delegate: delegate)
        }
        if let outcome = transfer.immediateOutcome() {
            withExtendedLifetime(transfer) { recycle(handle) }
            return end(request, outcome)
        }
        let code = curl_multi_add_handle(multi, handle)
        guard code == CURLM_OK else {
            withExtendedLifetime(transfer) { recycle(handle) }
            let text = curl_multi_strerror(code).map { String(cString: $0) } ?? "error \(code.rawValue)"
            return fail(.other("curl multi error \(code.rawValue): \(text) (while starting \(redactingPassword(url)))."))
        }
        active[id] = transfer
        byHandle[handle] = transfer
    }

    private func startExchange(_ request: ExchangeRequest) {
        let id = request.id
        guard active[id] == nil, exchanges[id] == nil else {
            return delegate.transfer(id, didExchange: .failed(.other("Transfer \(id) is already running in the engine."), bytesSent: 0))
        }
        let lower = request.url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
            return delegate.transfer(id, didExchange: .failed(.protocolError("\(redactingPassword(request.url)) is not an http or https URL."), bytesSent: 0))
        }
        guard let handle = idleHandles.popLast() ?? curl_easy_init() else {
            return delegate.transfer(id, didExchange: .failed(.other("curl_easy_init failed."), bytesSent: 0))
        }
        let exchange = CurlExchange(request: request, handle: handle, delegate: delegate)
        if let failure = exchange.configure(userAgent: userAgent) {
            withExtendedLifetime(exchange) { recycle(handle) }
            return delegate.transfer(id, didExchange: .failed(failure, bytesSent: 0))
        }
        let code = curl_multi_add_handle(multi, handle)
        guard code == CURLM_OK else {
            withExtendedLifetime(exchange) { recycle(handle) }
            let text = curl_multi_strerror(code).map { String(cString: $0) } ?? "error \(code.rawValue)"
            return delegate.transfer(id, didExchange: .failed(.other("curl multi error \(code.rawValue): \(text)."), bytesSent: 0))
        }
        exchanges[id] = exchange
        exchangeByHandle[handle] = exchange
    }

    private func cancel(_ id: TransferID) {
        if let exchange = exchanges.removeValue(forKey: id) {
            exchangeByHandle[exchange.handle] = nil
            curl_multi_remove_handle(multi, exchange.handle)
            withExtendedLifetime(exchange) { recycle(exchange.handle) }
            delegate.transfer(id, didExchange: .cancelled)
            return
        }
        if let key = chainedKey(of: id), let waiting = chained.removeValue(forKey: key) {
            return end(waiting.request, .cancelled(bytesOnDisk: waiting.request.resumeOffset))
        }
        guard let transfer = active.removeValue(forKey: id) else { return }
        byHandle[transfer.handle] = nil
        curl_multi_remove_handle(multi, transfer.handle)
        withExtendedLifetime(transfer) { recycle(transfer.handle) }
        end(transfer.request, .cancelled(bytesOnDisk: transfer.bytesOnDisk))
    }

    private func collectFinished() {
        var done: [(UnsafeMutableRawPointer, CURLcode)] = []
        var queued: Int32 = 0
        while let message = curl_multi_info_read(multi, &queued) {
            if message.pointee.msg == CURLMSG_DONE, let handle = message.pointee.easy_handle {
                done.append((handle, bits_curl_msg_result(message)))
            }
        }
        for (handle, result) in done {
            if let exchange = exchangeByHandle.removeValue(forKey: handle) {
                let outcome = exchange.finish(result: result)
                curl_multi_remove_handle(multi, handle)
                exchanges[exchange.request.id] = nil
                withExtendedLifetime(exchange) { recycle(handle) }
                delegate.transfer(exchange.request.id, didExchange: outcome)
                continue
            }
            guard let transfer = byHandle[handle] else { continue }
            let step = transfer.finish(result: result)
            curl_multi_remove_handle(multi, handle)
            let outcome: TransferOutcome
            switch step {
            case .done(let final):
                outcome = final
            case .again:
                // The next request of the same transfer (another range, or a restart).
                if let failure = transfer.prepareNextRequest() {
                    outcome = .failed(failure, bytesOnDisk: transfer.bytesOnDisk)
                } else {
                    let code = curl_multi_add_handle(multi, handle)
                    if code == CURLM_OK { continue }
                    let text = curl_multi_strerror(code).map { String(cString: $0) } ?? "error \(code.rawValue)"
                    outcome = .failed(.other("curl multi error \(code.rawValue): \(text) (while downloading \(redactingPassword(transfer.url)))."),
                                      bytesOnDisk: transfer.bytesOnDisk)
                }
            }
            byHandle[handle] = nil
            active[transfer.request.id] = nil
            withExtendedLifetime(transfer) { recycle(handle) }
            end(transfer.request, outcome)
        }
    }

    /// Resets a handle no longer in the multi (dropping its pointers into the transfer) and
    /// keeps it for reuse, or frees it when the pool is full.
    private func recycle(_ handle: UnsafeMutableRawPointer) {
        curl_easy_reset(handle)
        if idleHandles.count < Self.maxIdleHandles {
            idleHandles.append(handle)
        } else {
            curl_easy_cleanup(handle)
        }
    }
}
