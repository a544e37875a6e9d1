import BitsCore
import BitsSystem

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
/// engine thread, a local copy's thread) hands each written chunk, in file order, with
/// `feed`; a thread of the hasher's own (`bits-hash`, started at the first chunk) hashes the
/// copies. At most `maxBacklog` bytes wait: a writer faster than the hash waits for it (at
/// ~1.4 GB/s for SHA-256 that only happens on a loopback). `finish` waits for the rest and
/// returns the digests, before the file is reported transferred.
///
/// A resumed download's prefix (the bytes already on disk) is hashed first, once, with
/// `hashPrefix` on the file worker that opened the file. A writer that starts the file over
/// calls `restart`; a write at any other offset than the next one (never expected) makes
/// `finish` hash the file from its descriptor instead, so the digest is always the file's.
///
/// Thread-safety: `hashPrefix` before anything else; then `feed`, `restart`,
/// `enableSHA512`, `finish` and `cancel` from one writer thread at a time.
public final class StreamHasher: @unchecked Sendable, Equatable {
    /// Bytes of copied chunks that may wait for the hash thread.
    public static let maxBacklog = 8 << 20
    static let readChunk = 1 << 20

    /// Buffers of at least this size are recycled (curl's receive buffer is 512 KiB).
    static let bufferSize = 512 * 1024
    /// Free buffers kept for reuse: enough for the whole backlog, so that a long download
    /// allocates (and faults in) its copies' memory once, not per chunk.
    static let maxPooled = maxBacklog / bufferSize + 2

    private struct Buffer {
        let base: UnsafeMutableRawPointer
        let capacity: Int
        var count: Int
    }

    private enum Chunk {
        case data(Buffer)
        /// Start over at offset 0, with or without SHA-512.
        case reset(sha512: Bool)
    }

    // Shared with the hash thread, under `lock`.
    private let lock = ConditionLock()
    private var chunks: [Chunk] = []
    private var pool: [Buffer] = []
    private var backlog = 0
    private var stopping = false
    private var threadRunning = false

    // The writer's side.
    /// The offset the next fed chunk must have.
    private var produced: UInt64 = 0
    /// A chunk came at another offset: the digests must be taken from the file.
    private var broken = false
    private var wantsSHA512: Bool
    private var finished = false
    /// The buffer being filled with the writer's chunks: handed to the hash thread when full
    /// (curl hands over 16–64 KiB at a time; one wake-up per 512 KiB, not per write).
    private var pending: Buffer?

    // The digests: the prefix hasher's, then the hash thread's, then `finish`'s.
    private let sha256 = FileDigest(.sha256)
    private var sha512: FileDigest?

    public init(sha512: Bool = false) {
        wantsSHA512 = sha512
        self.sha512 = sha512 ? FileDigest(.sha512) : nil
    }

    deinit {
        pending?.base.deallocate()
        for buffer in pool { buffer.base.deallocate() }
        for case .data(let buffer) in chunks { buffer.base.deallocate() }
    }

    public static func == (a: StreamHasher, b: StreamHasher) -> Bool { a === b }

    /// Bytes known to the hasher so far (the prefix and the chunks fed).
    public var length: UInt64 { produced }

    /// Hashes the first `length` bytes of the file (a resumed download's prefix) from
    /// `descriptor` (which must be readable). Call before any `feed`, off the queue manager.
    public func hashPrefix(of descriptor: Int32, length: UInt64) throws(SystemError) {
        guard length > 0 else { return }
        try hashFile(descriptor, length: length)
        produced = length
    }

    /// Hashes a copy of `count` bytes written at `offset` (from the writer's thread).
    public func feed(_ bytes: UnsafeRawPointer, count: Int, at offset: UInt64) {
        guard count > 0, !broken, !finished else { return }
        if offset != produced {
            if offset == 0 {
                restart()
            } else {
                broken = true
                return
            }
        }
        var source = bytes
        var remaining = count
        while remaining > 0 {
            var buffer = pending ?? takeBuffer()
            let n = min(remaining, buffer.capacity - buffer.count)
            (buffer.base + buffer.count).copyMemory(from: source, byteCount: n)
            buffer.count += n
            source += n
            remaining -= n
            pending = buffer
            if buffer.count == buffer.capacity { flushPending() }
        }
        produced += UInt64(count)
    }

    /// The writer emptied the file and starts over at 0.
    public func restart() {
        guard !finished else { return }
        if let stale = pending {
            pending = nil
            lock.withLock { pool.append(Buffer(base: stale.base, capacity: stale.capacity, count: 0)) }
        }
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

    /// Waits for the chunks fed so far to be hashed and returns the digests of the file's
    /// `length` bytes. When the chunks did not cover exactly that (a write out of order, or
    /// none at all after a restart), the file is hashed from `descriptor` instead; nil if
    /// that read fails.
    public func finish(length: UInt64, descriptor: Int32) -> ComputedDigests? {
        guard !finished else { return nil }
        if lock.withLock({ !threadRunning && chunks.isEmpty }), let last = pending {
            // No hash thread (a file of one buffer, the usual small file): the rest is hashed
            // here rather than on a thread started for it and waited for.
            pending = nil
            sha256.update(last.base, count: last.count)
            sha512?.update(last.base, count: last.count)
            lock.withLock { pool.append(Buffer(base: last.base, capacity: last.capacity, count: 0)) }
        } else {
            flushPending()
        }
        finished = true
        stopThread(discarding: false)
        if broken || produced != length {
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
        pending?.base.deallocate()
        pending = nil
        finished = true
        stopThread(discarding: true)
    }

    // MARK: - Inside

    /// A free buffer of `bufferSize` bytes (recycled, or new).
    private func takeBuffer() -> Buffer {
        if let buffer = lock.withLock({ pool.popLast() }) { return buffer }
        return Buffer(base: .allocate(byteCount: Self.bufferSize, alignment: 64), capacity: Self.bufferSize, count: 0)
    }

    /// Hands the buffer being filled to the hash thread.
    private func flushPending() {
        guard let buffer = pending else { return }
        pending = nil
        if buffer.count > 0 {
            enqueue(.data(buffer), bytes: buffer.count)
        } else {
            lock.withLock { pool.append(buffer) }
        }
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

    /// The hash thread: hashes queued chunks until stopped and drained.
    private func run() {
        while true {
            var next: Chunk?
            lock.wait { !chunks.isEmpty || stopping }
            next = lock.withLock { chunks.isEmpty ? nil : chunks.removeFirst() }
            guard let chunk = next else { break }
            var size = 0
            var used: Buffer?
            switch chunk {
            case .data(let buffer):
                size = buffer.count
                sha256.update(buffer.base, count: buffer.count)
                sha512?.update(buffer.base, count: buffer.count)
                used = buffer
            case .reset(let withSHA512):
                sha256.reset()
                if withSHA512 {
                    if let sha512 { sha512.reset() } else { sha512 = FileDigest(.sha512) }
                } else {
                    sha512 = nil
                }
            }
            lock.withLock {
                backlog -= size
                if let used {
                    if pool.count < Self.maxPooled {
                        pool.append(Buffer(base: used.base, capacity: used.capacity, count: 0))
                    } else {
                        used.base.deallocate()
                    }
                }
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
                for case .data(let buffer) in chunks { buffer.base.deallocate() }
                chunks = []
                backlog = 0
            }
            stopping = true
            lock.broadcast()
        }
        lock.wait { !threadRunning }
    }

    /// Hashes `[0, length)` of the file into the digests, reading it.
    private func hashFile(_ descriptor: Int32, length: UInt64) throws(SystemError) {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.readChunk, alignment: 4096)
        defer { buffer.deallocate() }
        var offset: UInt64 = 0
        while offset < length {
            guard let position = Int64(exactly: offset) else { throw SystemError(code: Errno.fileTooLarge, operation: "pread") }
            let want = Int(min(UInt64(Self.readChunk), length - offset))
            let got = try BorrowedDescriptor(descriptor).read(into: buffer, count: want, at: position)
            guard got > 0 else { throw SystemError(code: Errno.io, operation: "pread") }
            sha256.update(buffer, count: got)
            sha512?.update(buffer, count: got)
            offset += UInt64(got)
        }
    }
}
