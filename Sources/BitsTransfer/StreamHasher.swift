import BitsCore
import BitsSystem
import Synchronization

/// The digests of a downloaded file: always SHA-256 (the File's `Hash`), SHA-512 too when
/// asked for (an `ExpectedHash` or a digest field of that algorithm).
public struct ComputedDigests: Sendable, Equatable {
    public var sha256: FileHash
    public var sha512: FileHash?
    /// Bytes hashed (the file's length).
    public var length: UInt64

    public init(sha256: FileHash, sha512: FileHash?, length: UInt64) {
        self.sha256 = sha256
        self.sha512 = sha512
        self.length = length
    }

    /// The digest of `algorithm`, if it was computed.
    public func value(for algorithm: HashAlgorithm) -> FileHash? {
        algorithm == .sha256 ? sha256 : sha512
    }
}

/// Hashes a download while it is written, off the thread that writes it: the writer (the
/// engine thread, a local copy's thread) reports each range it wrote, in file order, with
/// `written`; a thread of the hasher's own (`bits-hash`, started at the first range) reads
/// those bytes back from the file (the page cache: they were just written) and hashes them.
/// The writer copies nothing — on a 1 GiB download that copy was a sixth of the engine
/// thread's time — unless the file was opened write-only (its owner made it so): then each
/// write's bytes are copied for the hash thread, as they cannot be read back. At most `maxBacklog` written bytes wait: a writer faster than the hash
/// waits for it. `finish` waits for the rest and returns the digests, before the file is
/// reported transferred.
///
/// A resumed download's prefix (the bytes already on disk) is hashed first, once, with
/// `hashPrefix` on the file worker that opened the file. A writer that starts the file over
/// calls `restart`; a write at any other offset than the next one (never expected), or bytes
/// that cannot be read back (the owner cut the file meanwhile), make `finish` hash the file
/// from its descriptor instead, so the digest is always the file's.
///
/// Thread-safety: `hashPrefix` before anything else; then `written`, `restart`,
/// `enableSHA512`, `finish` and `cancel` from one writer thread at a time. The descriptor
/// given to `written` must stay open until `finish` or `cancel` returns.
public final class StreamHasher: @unchecked Sendable, Equatable {
    /// Written bytes that may wait for the hash thread.
    public static let maxBacklog = 64 << 20
    static let readChunk = 1 << 20
    /// Written ranges are handed to the hash thread in pieces of at least this size (curl
    /// writes 16–64 KiB at a time: one wake-up per MiB, not per write).
    static let handOver = 1 << 20

    private enum Chunk {
        /// `count` bytes at `offset` of the file `descriptor`.
        case range(descriptor: Int32, offset: UInt64, count: Int)
        /// A copy of written bytes (a write-only file), freed once hashed.
        case copy(UnsafeMutableRawPointer, count: Int)
        /// Start over at offset 0, with or without SHA-512.
        case reset(sha512: Bool)
    }

    // Shared with the hash thread, under `lock`.
    private let lock = ConditionLock()
    private var chunks: [Chunk] = []
    private var backlog = 0
    private var stopping = false
    private var threadRunning = false
    /// A range could not be read back: the digests must be taken from the file.
    private var unreadable = false

    // The writer's side.
    /// The offset the next written range must have.
    private var produced: UInt64 = 0
    /// A range came at another offset: the digests must be taken from the file.
    private var broken = false
    private var wantsSHA512: Bool
    private var finished = false
    /// The written range gathered for the hash thread (`pendingCount` bytes at `pendingStart`
    /// of `pendingDescriptor`).
    private var pendingStart: UInt64 = 0
    private var pendingCount = 0
    private var pendingDescriptor: Int32 = -1
    /// The descriptor last checked for reading, and whether it can be read (else: copies).
    private var checkedDescriptor: Int32 = -1
    private var readable = true

    // The digests: the prefix hasher's, then the hash thread's, then `finish`'s.
    private let sha256 = FileDigest(.sha256)
    private var sha512: FileDigest?

    public init(sha512: Bool = false) {
        wantsSHA512 = sha512
        self.sha512 = sha512 ? FileDigest(.sha512) : nil
    }

    deinit {
        for case .copy(let copy, _) in chunks { copy.deallocate() }
    }

    public static func == (a: StreamHasher, b: StreamHasher) -> Bool { a === b }

    /// Bytes known to the hasher so far (the prefix and the ranges written).
    public var length: UInt64 { produced }

    /// Hashes the first `length` bytes of the file (a resumed download's prefix) from
    /// `descriptor` (which must be readable). Call before any `written`, off the queue manager.
    public func hashPrefix(of descriptor: Int32, length: UInt64) throws(SystemError) {
        guard length > 0 else { return }
        try hashFile(descriptor, length: length)
        produced = length
    }

    /// The writer wrote `count` bytes (`bytes`) at `offset` of the file `descriptor` (from the
    /// writer's thread). They are read back and hashed on the hash thread, or copied for it
    /// when the descriptor cannot be read.
    public func written(_ bytes: UnsafeRawPointer, count: Int, at offset: UInt64, descriptor: Int32) {
        guard count > 0, !broken, !finished else { return }
        if offset != produced {
            if offset == 0 {
                restart()
            } else {
                broken = true
                return
            }
        }
        if descriptor != checkedDescriptor {
            checkedDescriptor = descriptor
            readable = BorrowedDescriptor(descriptor).isReadable
        }
        guard readable else {
            flushPending()
            let copy = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 16)
            copy.copyMemory(from: bytes, byteCount: count)
            produced += UInt64(count)
            enqueue(.copy(copy, count: count), bytes: count)
            return
        }
        if pendingCount > 0, descriptor != pendingDescriptor { flushPending() }
        if pendingCount == 0 {
            pendingStart = offset
            pendingDescriptor = descriptor
        }
        pendingCount += count
        produced += UInt64(count)
        if pendingCount >= Self.handOver { flushPending() }
    }

    /// The writer emptied the file and starts over at 0.
    public func restart() {
        guard !finished else { return }
        pendingCount = 0
        produced = 0
        broken = false
        enqueue(.reset(sha512: wantsSHA512), bytes: 0)
    }

    /// Also computes SHA-512, for a file about to be written from offset 0 (a response whose
    /// digest field names only sha-512). Starts the hash over.
    public func enableSHA512() {
        guard !wantsSHA512 else { return }
        wantsSHA512 = true
        restart()
    }

    /// Waits for the ranges written so far to be hashed and returns the digests of the file's
    /// `length` bytes. When the ranges did not cover exactly that (a write out of order, none
    /// at all after a restart, bytes that could not be read back), the file is hashed from
    /// `descriptor` instead; nil if that read fails.
    public func finish(length: UInt64, descriptor: Int32) -> ComputedDigests? {
        guard !finished else { return nil }
        var unread = false
        if pendingCount > 0, lock.withLock({ !threadRunning && chunks.isEmpty }) {
            // No hash thread (a file of one piece, the usual small file): the rest is hashed
            // here rather than on a thread started for it and waited for.
            unread = !hashRange(pendingDescriptor, offset: pendingStart, count: pendingCount, buffer: nil)
            pendingCount = 0
        } else {
            flushPending()
        }
        finished = true
        stopThread(discarding: false)
        if broken || produced != length || unread || lock.withLock({ unreadable }) {
            sha256.reset()
            sha512?.reset()
            do throws(SystemError) {
                try hashFile(descriptor, length: length)
            } catch {
                return nil
            }
        }
        guard let a = FileHash(algorithm: .sha256, digest: sha256.finish()) else { return nil }
        let b = sha512.flatMap { FileHash(algorithm: .sha512, digest: $0.finish()) }
        return ComputedDigests(sha256: a, sha512: b, length: length)
    }

    /// The transfer ended without finishing the file: stops the hash thread.
    public func cancel() {
        guard !finished else { return }
        pendingCount = 0
        finished = true
        stopThread(discarding: true)
    }

    // MARK: - Inside

    /// Hands the gathered range to the hash thread.
    private func flushPending() {
        guard pendingCount > 0 else { return }
        let chunk = Chunk.range(descriptor: pendingDescriptor, offset: pendingStart, count: pendingCount)
        let bytes = pendingCount
        pendingCount = 0
        enqueue(chunk, bytes: bytes)
    }

    private func enqueue(_ chunk: Chunk, bytes: Int) {
        // Backpressure: wait while the hash thread is behind by more than maxBacklog.
        lock.wait { backlog < Self.maxBacklog || !threadRunning }
        let start = lock.withLock { () -> Bool in
            chunks.append(chunk)
            backlog += bytes
            lock.broadcast()
            if threadRunning { return false }
            threadRunning = true
            return true
        }
        guard start else { return }
        if let thread = JoinableThread(name: "bits-hash", { [self] in run() }) {
            thread.detach()
        } else {
            // No thread: hash here, on the writer's thread.
            run()
        }
    }

    /// Read buffers of `readChunk` bytes kept for the next hasher (a job of many small files
    /// hashes each at its end: no allocation, and no page faults, per file).
    private static let scratch = Mutex<[UnsafeMutableRawPointer]>([])

    private static func takeScratch() -> UnsafeMutableRawPointer {
        scratch.withLock { $0.popLast() } ?? .allocate(byteCount: readChunk, alignment: 4096)
    }

    private static func returnScratch(_ buffer: UnsafeMutableRawPointer) {
        let kept = scratch.withLock { pool -> Bool in
            guard pool.count < 4 else { return false }
            pool.append(buffer)
            return true
        }
        if !kept { buffer.deallocate() }
    }

    /// The hash thread: hashes queued ranges until stopped and drained.
    private func run() {
        let buffer = Self.takeScratch()
        defer { Self.returnScratch(buffer) }
        while true {
            var next: Chunk?
            lock.wait { !chunks.isEmpty || stopping }
            next = lock.withLock { chunks.isEmpty ? nil : chunks.removeFirst() }
            guard let chunk = next else { break }
            var size = 0
            switch chunk {
            case .range(let descriptor, let offset, let count):
                size = count
                if !lock.withLock({ unreadable }), !hashRange(descriptor, offset: offset, count: count, buffer: buffer) {
                    lock.withLock { unreadable = true }
                }
            case .copy(let copy, let count):
                size = count
                sha256.update(copy, count: count)
                sha512?.update(copy, count: count)
                copy.deallocate()
            case .reset(let withSHA512):
                sha256.reset()
                if withSHA512 {
                    if let sha512 { sha512.reset() } else { sha512 = FileDigest(.sha512) }
                } else {
                    sha512 = nil
                }
                lock.withLock { unreadable = false }
            }
            lock.withLock {
                backlog -= size
                lock.broadcast()
            }
        }
        lock.withLock {
            threadRunning = false
            lock.broadcast()
        }
    }

    private func stopThread(discarding: Bool) {
        lock.withLock {
            if discarding {
                for case .copy(let copy, _) in chunks { copy.deallocate() }
                chunks = []
                backlog = 0
            }
            stopping = true
            lock.broadcast()
        }
        lock.wait { !threadRunning }
    }

    /// Reads `count` bytes at `offset` of `descriptor` back and hashes them (into `buffer`, or
    /// a scratch buffer); false when they cannot all be read.
    private func hashRange(_ descriptor: Int32, offset: UInt64, count: Int, buffer: UnsafeMutableRawPointer?) -> Bool {
        (try? hash(descriptor, from: offset, count: UInt64(count), buffer: buffer)) != nil
    }

    /// Hashes `[0, length)` of the file into the digests, reading it.
    private func hashFile(_ descriptor: Int32, length: UInt64) throws(SystemError) {
        try hash(descriptor, from: 0, count: length, buffer: nil)
    }

    /// Reads `count` bytes from `offset` of `descriptor` and hashes them, in `readChunk` pieces
    /// (into `buffer`, or a scratch buffer).
    private func hash(_ descriptor: Int32, from offset: UInt64, count: UInt64,
                      buffer: UnsafeMutableRawPointer?) throws(SystemError) {
        let scratch = buffer ?? Self.takeScratch()
        defer { if buffer == nil { Self.returnScratch(scratch) } }
        var position = offset
        let end = offset.addingReportingOverflow(count)
        guard !end.overflow else { throw SystemError(code: Errno.fileTooLarge, operation: "pread") }
        while position < end.partialValue {
            guard let at = Int64(exactly: position) else { throw SystemError(code: Errno.fileTooLarge, operation: "pread") }
            let want = Int(min(UInt64(Self.readChunk), end.partialValue - position))
            let got = try BorrowedDescriptor(descriptor).read(into: scratch, count: want, at: at)
            guard got > 0 else { throw SystemError(code: Errno.io, operation: "pread") }
            sha256.update(scratch, count: got)
            sha512?.update(scratch, count: got)
            position += UInt64(got)
        }
    }
}
