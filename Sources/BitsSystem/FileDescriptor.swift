import CSystem
import Glibc

/// Flags of an open (O_*), as an option set.
public struct OpenFlags: OptionSet, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let readOnly = OpenFlags([])
    public static let writeOnly = OpenFlags(rawValue: O_WRONLY)
    public static let readWrite = OpenFlags(rawValue: O_RDWR)
    public static let create = OpenFlags(rawValue: O_CREAT)
    public static let exclusive = OpenFlags(rawValue: O_EXCL)
    public static let directory = OpenFlags(rawValue: O_DIRECTORY)
    public static let noFollow = OpenFlags(rawValue: O_NOFOLLOW)
    public static let nonBlocking = OpenFlags(rawValue: O_NONBLOCK)
    public static let noControllingTerminal = OpenFlags(rawValue: O_NOCTTY)
    public static let closeOnExec = OpenFlags(rawValue: O_CLOEXEC)
}

/// How `access(_:_:)` checks: the rights wanted.
public struct AccessRights: OptionSet, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public static let write = AccessRights(rawValue: W_OK)
    public static let execute = AccessRights(rawValue: X_OK)
}

/// An open file descriptor that this value owns: it is closed exactly once, by `close()` or
/// when the value goes away. `take()` hands the raw number on to an owner that cannot hold a
/// `FileDescriptor` (actor state in dictionaries, a C API); from then on that owner closes it
/// (`FileDescriptor.close(_:)`). A descriptor owned elsewhere is used through
/// `BorrowedDescriptor`, which never closes it.
public struct FileDescriptor: ~Copyable, Sendable {
    /// The descriptor number, for the duration of a borrow (never close it).
    public let raw: Int32

    /// Takes ownership of `raw`.
    public init(adopting raw: Int32) { self.raw = raw }

    deinit { _ = Glibc.close(raw) }

    /// Closes the descriptor, reporting the error (the descriptor is gone either way).
    public consuming func close() throws(SystemError) {
        let raw = self.raw
        discard self
        guard Glibc.close(raw) == 0 else { throw .last("close") }
    }

    /// Gives up ownership without closing: the caller now owns the raw descriptor.
    public consuming func take() -> Int32 {
        let raw = self.raw
        discard self
        return raw
    }

    /// Closes a raw descriptor its caller owns (one kept where a `FileDescriptor` cannot be:
    /// in a dictionary, a Sendable request); errors are ignored, as the deinit does.
    public static func close(_ raw: Int32) {
        _ = Glibc.close(raw)
    }

    /// A view of the descriptor for a callee that must not close it.
    public var borrowed: BorrowedDescriptor { BorrowedDescriptor(raw) }

    // MARK: - Opening

    /// open(2) of `path` (relative to the working directory).
    public static func open(_ path: String, _ flags: OpenFlags, mode: UInt32 = 0) throws(SystemError) -> FileDescriptor {
        let fd = bits_open(path, flags.rawValue, mode)
        guard fd >= 0 else { throw .last("open", path: path) }
        return FileDescriptor(adopting: fd)
    }

    /// openat2(2) of `path` with `RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`: no component
    /// may be a symbolic link (ELOOP, or EXDEV for a magic link).
    public static func openWithoutSymlinks(_ path: String, _ flags: OpenFlags, mode: UInt32 = 0) throws(SystemError) -> FileDescriptor {
        let resolveNoLinks: UInt64 = 0x02 | 0x04  // RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS
        let fd = bits_openat2(AT_FDCWD, path, UInt64(UInt32(bitPattern: flags.rawValue)), UInt64(mode), resolveNoLinks)
        guard fd >= 0 else { throw .last("openat2", path: path) }
        return FileDescriptor(adopting: fd)
    }

    /// faccessat(2) with AT_EACCESS of `path` (relative to the working directory).
    public static func access(_ path: String, _ rights: AccessRights) throws(SystemError) {
        guard faccessat(AT_FDCWD, path, rights.rawValue, AT_EACCESS) == 0 else { throw .last("faccessat", path: path) }
    }

    /// The path the descriptor was opened as (its /proc/self/fd link), for messages; nil
    /// when it cannot be read.
    public static func name(of raw: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/fd/\(raw)", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        buffer[n] = 0
        return String(cString: buffer)
    }

    /// Whether the descriptor is a terminal (isatty).
    public static func isTerminal(_ raw: Int32) -> Bool { isatty(raw) == 1 }
}

/// A descriptor owned elsewhere (by the queue manager's state, a Sendable request, a C
/// library, a FileHandle): the calls of `Descriptor` without ownership; it is never closed
/// through this.
public struct BorrowedDescriptor: Descriptor, Sendable {
    public let raw: Int32
    public init(_ raw: Int32) { self.raw = raw }
}

extension FileDescriptor: Descriptor {}

/// The calls on an open descriptor, for an owned `FileDescriptor` and a `BorrowedDescriptor`
/// alike.
public protocol Descriptor: ~Copyable {
    var raw: Int32 { get }
}

extension Descriptor where Self: ~Copyable {
    /// openat(2) of `name` inside this directory.
    public func open(_ name: String, _ flags: OpenFlags, mode: UInt32 = 0) throws(SystemError) -> FileDescriptor {
        let fd = bits_openat(raw, name, flags.rawValue, mode)
        guard fd >= 0 else { throw .last("openat", path: name) }
        return FileDescriptor(adopting: fd)
    }

    /// dup(2): a second descriptor of the same open file.
    public func duplicate() throws(SystemError) -> FileDescriptor {
        let fd = dup(raw)
        guard fd >= 0 else { throw .last("dup") }
        return FileDescriptor(adopting: fd)
    }

    // MARK: - Inspecting

    /// fstat(2).
    public func status() throws(SystemError) -> FileStatus {
        var st = stat()
        guard fstat(raw, &st) == 0 else { throw .last("fstat") }
        return FileStatus(st)
    }

    /// fstatat(2) of `name` inside this directory, without following a final symbolic link.
    public func status(of name: String) throws(SystemError) -> FileStatus {
        var st = stat()
        guard fstatat(raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { throw .last("fstatat", path: name) }
        return FileStatus(st)
    }

    /// faccessat(2) with AT_EACCESS of `name` inside this directory: whether the calling
    /// thread's filesystem identity (fsuid, fsgid, groups) has `rights`.
    public func access(_ name: String, _ rights: AccessRights) throws(SystemError) {
        guard faccessat(raw, name, rights.rawValue, AT_EACCESS) == 0 else { throw .last("faccessat", path: name) }
    }

    // MARK: - Changing the directory's entries

    /// renameat(2) of `name` to `newName`, both inside this directory.
    public func rename(_ name: String, to newName: String) throws(SystemError) {
        guard renameat(raw, name, raw, newName) == 0 else { throw .last("renameat", path: newName) }
    }

    /// unlinkat(2) of the file `name` inside this directory.
    public func unlink(_ name: String) throws(SystemError) {
        guard unlinkat(raw, name, 0) == 0 else { throw .last("unlinkat", path: name) }
    }

    // MARK: - Data

    /// pread(2) of up to `count` bytes at `offset` (retried when interrupted); the bytes read.
    public func read(into buffer: UnsafeMutableRawPointer?, count: Int, at offset: Int64) throws(SystemError) -> Int {
        let got = retryingInterrupted { pread(raw, buffer, count, off_t(offset)) }
        guard got >= 0 else { throw .last("pread") }
        return got
    }

    /// read(2) of up to `count` bytes at the file position (retried when interrupted).
    public func read(into buffer: UnsafeMutableRawPointer?, count: Int) throws(SystemError) -> Int {
        let got = retryingInterrupted { Glibc.read(raw, buffer, count) }
        guard got >= 0 else { throw .last("read") }
        return got
    }

    /// read(2) until the end of the file (or stream), from the file position.
    public func readToEnd() throws(SystemError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let got = chunk.withUnsafeMutableBytes { buffer in
                retryingInterrupted { Glibc.read(raw, buffer.baseAddress, buffer.count) }
            }
            guard got >= 0 else { throw .last("read") }
            guard got > 0 else { return bytes }
            bytes += chunk.prefix(got)
        }
    }

    /// write(2) of all `bytes` at the file position (retried when interrupted).
    public func writeAll(_ bytes: [UInt8]) throws(SystemError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in
                retryingInterrupted { Glibc.write(raw, buffer.baseAddress! + done, buffer.count - done) }
            }
            guard n >= 0 else { throw .last("write") }
            done += n
        }
    }

    /// pwrite(2) at `offset` without root's file-system privileges (`bits_pwrite_unprivileged`:
    /// fsuid 65534 and no CAP_SYS_RESOURCE for the write alone, so a user's download cannot
    /// use the blocks reserved for root); retried when interrupted. The bytes written (0 is
    /// possible; callers treat it as EIO).
    public func writeUnprivileged(_ buffer: UnsafeRawPointer, count: Int, at offset: Int64) throws(SystemError) -> Int {
        let n = retryingInterrupted { bits_pwrite_unprivileged(raw, buffer, count, offset) }
        guard n >= 0 else { throw .last("pwrite") }
        return n
    }

    /// ftruncate(2).
    public func truncate(to length: Int64) throws(SystemError) {
        guard ftruncate(raw, off_t(length)) == 0 else { throw .last("ftruncate") }
    }

    /// fsync(2).
    public func sync() throws(SystemError) {
        guard fsync(raw) == 0 else { throw .last("fsync") }
    }

    /// Starts writing back `length` bytes from `offset` (0, 0: the whole file) without
    /// waiting (sync_file_range(2) with SYNC_FILE_RANGE_WRITE), so a later fsync has little
    /// left to do.
    public func startWriteback(offset: Int64 = 0, length: Int64 = 0) throws(SystemError) {
        guard bits_start_writeback(raw, offset, length) == 0 else { throw .last("sync_file_range") }
    }

    /// futimens(2): sets the access and modification times to `seconds`.`nanoseconds`.
    public func setTimes(seconds: Int64, nanoseconds: Int) throws(SystemError) {
        var times = [timespec(tv_sec: time_t(seconds), tv_nsec: nanoseconds),
                     timespec(tv_sec: time_t(seconds), tv_nsec: nanoseconds)]
        guard futimens(raw, &times) == 0 else { throw .last("futimens") }
    }

    /// Clears the file status flags (fcntl F_SETFL 0), e.g. O_NONBLOCK after a safe open.
    public func clearStatusFlags() throws(SystemError) {
        guard bits_fcntl_int(raw, F_SETFL, 0) == 0 else { throw .last("fcntl") }
    }

    /// Whether the descriptor was opened for reading (fcntl F_GETFL; false on an error).
    public var isReadable: Bool {
        let flags = bits_fcntl_int(raw, F_GETFL, 0)
        return flags >= 0 && flags & O_ACCMODE != O_WRONLY
    }

}

/// A `FileDescriptor` held by reference, with facts about it: for arrays and dictionaries,
/// which cannot hold a non-copyable value. The descriptor is closed when the last reference
/// goes.
public final class SharedDescriptor<Info> {
    public let descriptor: FileDescriptor
    public let info: Info

    public init(_ descriptor: consuming FileDescriptor, _ info: Info) {
        self.descriptor = descriptor
        self.info = info
    }
}

extension SharedDescriptor: @unchecked Sendable where Info: Sendable {}
