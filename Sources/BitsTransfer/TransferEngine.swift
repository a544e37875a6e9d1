import BitsCore
import BitsSystem

/// Downloads files: HTTP(S) sources with libcurl's multi interface on one dedicated engine
/// thread, local sources with pread/pwrite on a thread per copy.
///
/// `start`, `cancel` and `shutdown` may be called from any thread. Every started request gets
/// exactly one `didEnd`, preceded by at most one `didReceive` (for a response whose body is the
/// file: 2xx, or 416 meaning "already complete") and any number of `didProgress`, in that order.
/// HTTP transfers report on the engine thread, local copies on their copy thread. Requests
/// started after `shutdown()` end at once, on the caller's thread, as `.cancelled`.
///
/// `DownloadRequest.http` selects the method, credentials, TLS checks, redirect policy, proxy,
/// size cap and byte ranges. A file with ranges takes one request per range on the same
/// transfer (its didReceive comes with the first range's response and counts destination
/// bytes); a method other than GET never resumes and ignores ranges.
public final class TransferEngine: @unchecked Sendable {
    private let delegate: TransferEngineDelegate
    private let loop: CurlMultiLoop
    private var thread: JoinableThread?

    private let lock = ConditionLock()
    private var localCopies: [TransferID: LocalFileCopy] = [:]
    private var shutdownStarted = false
    private var shutdownDone = false

    /// Starts the engine thread. `userAgent` is sent with every HTTP request.
    public init(delegate: TransferEngineDelegate, userAgent: String) {
        CurlMultiLoop.initializeCurl()
        self.delegate = delegate
        let loop = CurlMultiLoop(delegate: delegate, userAgent: userAgent)
        self.loop = loop
        // The engine thread reads and writes only descriptors the file workers opened: it
        // needs none of root's file-system rights, so it gives them up once instead of
        // around each write of a download (issue 16's reserved-blocks rule).
        guard let thread = JoinableThread(name: "bits-transfer", {
            ThreadIdentity.dropWritePrivileges()
            loop.run()
        }) else {
            fatalError("could not start the transfer engine thread")
        }
        self.thread = thread
    }

    deinit { shutdown() }

    /// Starts one download attempt. The descriptors stay open; the engine never closes them.
    public func start(_ request: DownloadRequest) {
        switch request.source {
        case .url(let url):
            if !loop.enqueue(.start(request, url: url)) {
                request.hasher?.cancel()
                delegate.transfer(request.id, didEnd: .cancelled(bytesOnDisk: request.resumeOffset))
            }
        case let .localFile(descriptor, size):
            startCopy(request, descriptor: descriptor, size: size)
        }
    }

    /// Starts an HTTP(S) download the moment transfer `predecessor` finishes, on the engine
    /// thread, with no round trip through the caller in between (consecutive files of a job
    /// follow each other as closely as curl's own loop would). If `predecessor` ends any other
    /// way, `request` ends `.cancelled` unstarted right after it; if `predecessor` is not
    /// running any more, `request` starts at once. `cancel(id:)` and `setRateLimit` apply to a
    /// waiting request too. A local-file request starts at once.
    public func start(_ request: DownloadRequest, after predecessor: TransferID) {
        guard case .url(let url) = request.source else { return start(request) }
        if !loop.enqueue(.chain(request, url: url, after: predecessor)) {
            request.hasher?.cancel()
            delegate.transfer(request.id, didEnd: .cancelled(bytesOnDisk: request.resumeOffset))
        }
    }

    /// Sends one request (an upload packet) and reports its response with `didExchange`
    /// (and the body's progress with `didProgress`). `cancel(id:)` stops it (`.cancelled`).
    public func exchange(_ request: ExchangeRequest) {
        if !loop.enqueue(.exchange(request)) {
            delegate.transfer(request.id, didExchange: .cancelled)
        }
    }

    /// Stops a transfer; it ends with `.cancelled(bytesOnDisk:)`. Unknown or finished ids are
    /// ignored.
    public func cancel(id: TransferID) {
        if let copy = lock.withLock({ localCopies[id] }) {
            copy.cancel()
        } else {
            _ = loop.enqueue(.cancel(id))
        }
    }

    /// Changes the receive-rate cap of a running HTTP transfer (bytes per second, 0 =
    /// unlimited), e.g. when its job's priority or the background cap changed. The new cap
    /// applies from now on, without a burst. Thread-safe (queued to the engine thread, after
    /// any earlier `start` of the same id); unknown or finished ids and local copies, which
    /// are not rate-limited, are ignored.
    public func setRateLimit(id: TransferID, bytesPerSecond: UInt64) {
        _ = loop.enqueue(.setRate(id, bytesPerSecond))
    }

    /// Cancels every transfer (each gets its didEnd), stops and joins the engine thread, waits
    /// for local copies, and frees the multi handle. Idempotent; later calls wait for the first.
    public func shutdown() {
        let first = lock.withLock { () -> Bool in
            defer { shutdownStarted = true }
            return !shutdownStarted
        }
        guard first else {
            lock.wait { shutdownDone }
            return
        }
        for copy in lock.withLock({ Array(localCopies.values) }) { copy.cancel() }
        loop.requestStop()
        thread?.join()
        thread = nil
        lock.wait { localCopies.isEmpty }
        loop.close()
        lock.withLock {
            shutdownDone = true
            lock.broadcast()
        }
    }

    private func startCopy(_ request: DownloadRequest, descriptor: Int32, size: UInt64) {
        let id = request.id
        let copy = LocalFileCopy(request: request, descriptor: descriptor, size: size, delegate: delegate)
        enum Admission { case accepted, shutDown, duplicate }
        let admission = lock.withLock { () -> Admission in
            if shutdownStarted { return .shutDown }
            if localCopies[id] != nil { return .duplicate }
            localCopies[id] = copy
            return .accepted
        }
        switch admission {
        case .shutDown:
            request.hasher?.cancel()
            return delegate.transfer(id, didEnd: .cancelled(bytesOnDisk: request.resumeOffset))
        case .duplicate:
            let failure = TransferFailure.other("Transfer \(id) is already running in the engine.")
            request.hasher?.cancel()
            return delegate.transfer(id, didEnd: .failed(failure, bytesOnDisk: request.resumeOffset))
        case .accepted:
            break
        }
        let thread = JoinableThread(name: "bits-copy") { [self] in
            ThreadIdentity.dropWritePrivileges()
            let outcome = concludeHash(of: request, copy.run(), delegate: delegate)
            delegate.transfer(id, didEnd: outcome)
            finishCopy(copy)
        }
        guard let thread else {
            finishCopy(copy)
            let failure = TransferFailure.localIO("Could not start a thread to copy \(descriptorName(descriptor)).")
            request.hasher?.cancel()
            return delegate.transfer(id, didEnd: .failed(failure, bytesOnDisk: request.resumeOffset))
        }
        thread.detach()
    }

    private func finishCopy(_ copy: LocalFileCopy) {
        lock.withLock {
            if localCopies[copy.request.id] === copy { localCopies[copy.request.id] = nil }
            lock.broadcast()
        }
    }
}

/// The end of a download's hash, right before its `didEnd`, on the thread that reports it: a
/// finished file's digests are completed (`didHash`) before it is reported transferred; any
/// other end stops the hasher. A file that cannot be read back for its digest fails.
func concludeHash(of request: DownloadRequest, _ outcome: TransferOutcome,
                  delegate: TransferEngineDelegate) -> TransferOutcome {
    guard let hasher = request.hasher else { return outcome }
    guard case .finished(let bytes) = outcome else {
        hasher.cancel()
        return outcome
    }
    guard let digests = hasher.finish(length: bytes, descriptor: request.destinationDescriptor) else {
        let message = "\(descriptorName(request.destinationDescriptor)) could not be read back to compute its hash."
        return .failed(.localIO(message), bytesOnDisk: bytes)
    }
    delegate.transfer(request.id, didHash: digests)
    return outcome
}
