import BitsCore
import CSystem
#if canImport(Glibc)
import Glibc
#endif

/// Copies a `.localFile` source into the destination with pread/pwrite in 1 MiB chunks, on
/// its own thread (never the curl thread). Cancellation is checked between chunks.
final class LocalFileCopy: @unchecked Sendable {
    static let chunkSize = 1 << 20

    let request: DownloadRequest
    private let sourceFD: Int32
    private let size: UInt64
    private let delegate: TransferEngineDelegate
    private let lock = EngineLock()
    private var cancelRequested = false

    init(request: DownloadRequest, descriptor: Int32, size: UInt64, delegate: TransferEngineDelegate) {
        self.request = request
        self.sourceFD = descriptor
        self.size = size
        self.delegate = delegate
    }

    /// Asks the copy to stop at the next chunk boundary. Thread-safe.
    func cancel() { lock.withLock { cancelRequested = true } }

    private var isCancelled: Bool { lock.withLock { cancelRequested } }

    /// Runs the copy on the calling thread: reports didReceive and didProgress, returns the
    /// outcome (the caller reports didEnd).
    func run() -> TransferOutcome {
        let destination = request.destinationDescriptor
        let sourceName = descriptorName(sourceFD)
        let destinationName = descriptorName(destination)
        if isCancelled { return .cancelled(bytesOnDisk: request.resumeOffset) }

        var info = stat()
        guard fstat(sourceFD, &info) == 0 else {
            return .failed(FailureMapping.readFailure(errno: errno, source: sourceName), bytesOnDisk: request.resumeOffset)
        }
        // Every offset below is at most `size`: it must be a file offset (off_t).
        guard off_t(exactly: size) != nil else {
            let message = "The source \(sourceName) claims \(size) bytes, more than the largest file offset."
            return .failed(.localIO(message), bytesOnDisk: request.resumeOffset)
        }
        // A modification time no HTTP date can name (after the year 9999, e.g. `touch -d
        // @100000000000000`) is unknown: no Last-Modified, no If-Range match.
        let mtimeSeconds = Int64(info.st_mtim.tv_sec)
        let lastModified = HeaderParsing.lastModified(epochSeconds: mtimeSeconds, nanoseconds: Int(info.st_mtim.tv_nsec))

        // Restart when the offset is past the source, or the If-Range date no longer matches.
        var offset = request.resumeOffset
        if offset > 0, offset > size || !Self.validatorMatches(request.ifRange, mtimeSeconds: mtimeSeconds) {
            if ftruncate(destination, 0) != 0 {
                let failure = FailureMapping.writeFailure(errno: errno, destination: destinationName, source: sourceName)
                return .failed(failure, bytesOnDisk: request.resumeOffset)
            }
            offset = 0
        }
        delegate.transfer(request.id, didReceive: ResponseInfo(
            status: 0, totalSize: size, writeOffset: offset, entityTag: nil,
            lastModifiedText: lastModified.text,
            lastModifiedMicroseconds: lastModified.microseconds, acceptsRanges: true, effectiveURL: "",
            headerBlock: "", retryAfterSeconds: nil))

        let buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.chunkSize, alignment: 4096)
        defer { buffer.deallocate() }
        var lastReportAt = monotonicNanoseconds()
        var lastReported = offset
        var writeback = WritebackWindow(chunk: WritebackWindow.downloadChunk)
        let start = offset
        while offset < size {
            if isCancelled { return .cancelled(bytesOnDisk: offset) }
            let want = Int(min(UInt64(Self.chunkSize), size - offset))
            let got = pread(sourceFD, buffer, want, off_t(offset))
            if got < 0 {
                if errno == EINTR { continue }
                return .failed(FailureMapping.readFailure(errno: errno, source: sourceName), bytesOnDisk: offset)
            }
            if got == 0 {
                let message = "The source \(sourceName) ended after \(offset) bytes, before its expected size of \(size) bytes."
                return .failed(.remoteChanged(message), bytesOnDisk: offset)
            }
            var done = 0
            while done < got {
                let n = bits_pwrite_unprivileged(destination, buffer + done, got - done, Int64(offset))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    let failure = FailureMapping.writeFailure(errno: n == 0 ? EIO : errno,
                                                              destination: destinationName, source: sourceName)
                    return .failed(failure, bytesOnDisk: offset)
                }
                done += n
                offset += UInt64(n)
            }
            if let range = writeback.advance(writtenTo: offset, requestStart: start) {
                _ = bits_start_writeback(destination, Int64(clamping: range.lowerBound), Int64(clamping: range.count))
            }
            let now = monotonicNanoseconds()
            if now &- lastReportAt >= 100_000_000 && offset != lastReported && offset < size {
                lastReportAt = now
                lastReported = offset
                delegate.transfer(request.id, didProgress: offset)
            }
        }
        return .finished(bytesOnDisk: offset)
    }

    /// No validator, or an HTTP date equal to the source's mtime (whole seconds). An entity tag
    /// never matches: local files have none.
    static func validatorMatches(_ validator: String?, mtimeSeconds: Int64) -> Bool {
        guard let validator else { return true }
        guard let date = HeaderParsing.parseHTTPDate(validator) else { return false }
        return date == mtimeSeconds
    }
}
