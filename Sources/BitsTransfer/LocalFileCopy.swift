import BitsCore
import BitsSystem

/// Copies a `.localFile` source into the destination with pread/pwrite in 1 MiB chunks, on
/// its own thread (never the curl thread). Cancellation is checked between chunks. Both
/// descriptors belong to the caller (`TransferSource.localFile`, `DownloadRequest`): the copy
/// borrows them and never closes them.
final class LocalFileCopy: @unchecked Sendable {
    static let chunkSize = 1 << 20

    let request: DownloadRequest
    private let sourceFD: Int32
    private let size: UInt64
    private let delegate: TransferEngineDelegate
    private let lock = ConditionLock()
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
        let sourceName = descriptorName(sourceFD)
        let destinationName = descriptorName(request.destinationDescriptor)
        if isCancelled { return .cancelled(bytesOnDisk: request.resumeOffset) }

        let info: FileStatus
        do throws(SystemError) {
            info = try BorrowedDescriptor(sourceFD).status()
        } catch {
            return .failed(FailureMapping.readFailure(errno: error.code, source: sourceName), bytesOnDisk: request.resumeOffset)
        }
        // Every offset below is at most `size`: it must be a file offset (off_t).
        guard Int64(exactly: size) != nil else {
            let message = "The source \(sourceName) claims \(size) bytes, more than the largest file offset."
            return .failed(.localIO(message), bytesOnDisk: request.resumeOffset)
        }
        // A modification time no HTTP date can name (after the year 9999, e.g. `touch -d
        // @100000000000000`) is unknown: no Last-Modified, no If-Range match.
        let mtimeSeconds = info.modifiedSeconds
        let lastModified = HeaderParsing.lastModified(epochSeconds: mtimeSeconds, nanoseconds: Int(info.modifiedNanoseconds))

        // Restart when the offset is past the source, or the If-Range date no longer matches.
        var offset = request.resumeOffset
        if offset > 0, offset > size || !Self.validatorMatches(request.ifRange, mtimeSeconds: mtimeSeconds) {
            do throws(SystemError) {
                try request.destination.truncate(to: 0)
            } catch {
                let failure = FailureMapping.writeFailure(errno: error.code, destination: destinationName, source: sourceName)
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
        var lastReportAt = SystemClock.monotonicNanoseconds()
        var lastReported = offset
        var writeback = WritebackWindow(chunk: WritebackWindow.downloadChunk)
        let start = offset
        while offset < size {
            if isCancelled { return .cancelled(bytesOnDisk: offset) }
            let want = Int(min(UInt64(Self.chunkSize), size - offset))
            let got: Int
            do throws(SystemError) {
                got = try BorrowedDescriptor(sourceFD).read(into: buffer, count: want, at: Int64(offset))
            } catch {
                return .failed(FailureMapping.readFailure(errno: error.code, source: sourceName), bytesOnDisk: offset)
            }
            if got == 0 {
                let message = "The source \(sourceName) ended after \(offset) bytes, before its expected size of \(size) bytes."
                return .failed(.remoteChanged(message), bytesOnDisk: offset)
            }
            let chunkStart = offset
            var done = 0
            while done < got {
                let n: Int
                do throws(SystemError) {
                    n = try request.destination.writeUnprivileged(buffer + done, count: got - done, at: Int64(offset))
                } catch {
                    let failure = FailureMapping.writeFailure(errno: error.code, destination: destinationName, source: sourceName)
                    return .failed(failure, bytesOnDisk: offset)
                }
                guard n > 0 else {
                    let failure = FailureMapping.writeFailure(errno: Errno.io, destination: destinationName, source: sourceName)
                    return .failed(failure, bytesOnDisk: offset)
                }
                done += n
                offset += UInt64(n)
            }
            request.hasher?.written(buffer, count: got, at: chunkStart, descriptor: request.destinationDescriptor)
            if let range = writeback.advance(writtenTo: offset, requestStart: start) {
                try? request.destination.startWriteback(offset: Int64(clamping: range.lowerBound), length: Int64(clamping: range.count))
            }
            let now = SystemClock.monotonicNanoseconds()
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
