import CSystem
import Foundation
import BitsCore

/// Every file operation of a job, performed with the owner's credentials (`OwnerIdentity`)
/// so the kernel applies the owner's permissions: the daemon's root rights never touch a
/// user's path. Temporary files are created exclusively and never through a symlink.
public struct OwnerFiles: Sendable {
    public init() {}

    /// A destination made ready: where its data goes until Complete, and the identity of the
    /// directory it lives in (pinned for Complete).
    public struct Prepared: Sendable {
        public let path: String
        public let directory: DirectoryIdentity
    }

    static func identity(of dirfd: Int32) throws -> DirectoryIdentity {
        var st = stat()
        guard fstat(dirfd, &st) == 0 else { throw ServiceError(.failed, "Cannot inspect a directory: \(String(cString: strerror(errno))).") }
        return DirectoryIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    /// A fresh temporary file name, `BIT<16 hex digits>.tmp` (BITS's naming).
    public static func newTemporaryName() -> String {
        // One 64-bit draw (a getrandom call per hex digit showed in AddFiles' profile).
        let hex = String(UInt64.random(in: .min ... .max), radix: 16, uppercase: true)
        return "BIT" + String(repeating: "0", count: 16 - hex.count) + hex + ".tmp"
    }

    /// The temporary path a new download file of `localPath` will use (beside it).
    public static func temporaryPath(for localPath: String, name: String) -> String {
        let directory = split(localPath).directory
        return directory == "/" ? "/" + name : directory + "/" + name
    }

    /// Checks the destination of a file and creates its temporary file `temporaryName`
    /// (mode 0600) in the destination directory at once (an upload-reply's reply file).
    /// Returns the temporary path.
    public func prepareDestination(localPath: String, temporaryName: String, owner: OwnerIdentity) throws -> Prepared {
        let (directory, name) = Self.split(localPath)
        return try owner.perform {
            let dirfd = try openDirectory(directory, owner: owner)
            defer { close(dirfd) }
            var st = stat()
            if fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
                throw ServiceError.invalidArgs("Local path '\(localPath)' is an existing directory; give a file name.")
            }
            let fd = bits_openat(dirfd, temporaryName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                if errno == EEXIST {
                    throw ServiceError(.failed, "Temporary file '\(temporaryName)' already exists in '\(directory)'; try again.")
                }
                throw Self.directoryError(errno, directory: directory, uid: owner.uid)
            }
            close(fd)
            return Prepared(path: Self.temporaryPath(for: localPath, name: temporaryName), directory: try Self.identity(of: dirfd))
        }
    }

    /// Checks the destinations of new download files as the owner, creating nothing: each
    /// directory exists and the owner may create files in it, and no local path is an
    /// existing directory. Returns the identity of each file's directory (pinned for
    /// Complete). The temporary file is created by `openTemporary` when the file's transfer
    /// starts — BITS, too, checks write permission at AddFile and creates `BIT*.tmp` when the
    /// job starts — so adding many files costs no inode each, and a crash before the job is
    /// stored leaves nothing behind.
    public func checkDestinations(_ localPaths: [String], owner: OwnerIdentity) throws -> [DirectoryIdentity] {
        try owner.perform {
            var opened = OpenedDirectories()
            defer { opened.closeAll() }
            return try localPaths.map { localPath in
                let (directory, name) = Self.split(localPath)
                let dir = try opened.open(directory, owner: owner, files: self) { fd in
                    // The thread's filesystem identity is the owner's (fsuid, groups, no
                    // root override), which AT_EACCESS checks against.
                    guard faccessat(fd, ".", W_OK | X_OK, AT_EACCESS) == 0 else {
                        throw Self.directoryError(errno, directory: directory, uid: owner.uid)
                    }
                }
                var st = stat()
                if fstatat(dir.fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
                    throw ServiceError.invalidArgs("Local path '\(localPath)' is an existing directory; give a file name.")
                }
                return dir.identity
            }
        }
    }

    /// HighPerformance jobs write straight to the destination: checks the directory and
    /// creates (or opens) the destination itself, never through a symlink.
    public func prepareDirectDestination(localPath: String, owner: OwnerIdentity) throws -> Prepared {
        let (directory, name) = Self.split(localPath)
        return try owner.perform {
            let dirfd = try openDirectory(directory, owner: owner)
            defer { close(dirfd) }
            let fd = bits_openat(dirfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw errno == EACCES || errno == EPERM || errno == EROFS
                    ? Self.directoryError(errno, directory: directory, uid: owner.uid)
                    : Self.fileError(errno, path: localPath, uid: owner.uid)
            }
            close(fd)
            return Prepared(path: localPath, directory: try Self.identity(of: dirfd))
        }
    }

    /// Opens the temporary file for writing (re-creating it exclusively if it vanished) and
    /// returns the descriptor and its current length. Refuses anything but a regular file
    /// owned by the owner (a planted symlink fails with ELOOP through O_NOFOLLOW).
    public func openTemporary(_ path: String, owner: OwnerIdentity) throws -> (fd: Int32, length: UInt64) {
        try owner.perform {
            // Usually new (created when its transfer first starts); an existing one is resumed.
            var fd = bits_open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if fd < 0 && errno == EEXIST {
                fd = bits_open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0)
            }
            guard fd >= 0 else { throw Self.fileError(errno, path: path, uid: owner.uid) }
            var st = stat()
            guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == owner.uid else {
                close(fd)
                throw ServiceError.accessDenied("Temporary file '\(path)' is not a regular file of user \(owner.uid); refusing to write to it.")
            }
            return (fd, UInt64(st.st_size))
        }
    }

    /// Opens a local source (file:// URL) for reading as the owner.
    public func openSource(_ path: String, owner: OwnerIdentity) throws -> (fd: Int32, size: UInt64) {
        try owner.perform {
            let fd = bits_open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0)
            guard fd >= 0 else { throw Self.fileError(errno, path: path, uid: owner.uid) }
            var st = stat()
            guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
                close(fd)
                throw ServiceError.invalidArgs("Source '\(path)' is not a regular file.")
            }
            _ = bits_fcntl_int(fd, F_SETFL, 0)
            return (fd, UInt64(st.st_size))
        }
    }

    /// Size and modification time (ns since the epoch) of an open file, to notice changes.
    public static func stamp(_ descriptor: Int32) -> (size: UInt64, modified: Int64)? {
        var st = stat()
        guard fstat(descriptor, &st) == 0 else { return nil }
        return (UInt64(st.st_size), Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
    }

    /// Reads a small file (a PEM certificate or key) as the owner, up to `limit` bytes.
    public func readSmallFile(_ path: String, owner: OwnerIdentity, limit: Int) throws -> [UInt8] {
        let (fd, size) = try openSource(path, owner: owner)
        defer { close(fd) }
        guard size <= UInt64(limit) else { throw ServiceError.invalidArgs("'\(path)' is larger than \(limit) bytes.") }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        let got = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, Int(size), 0) }
        guard got == Int(size) else { throw ServiceError(.failed, "'\(path)' could not be read.") }
        return bytes
    }

    /// Makes renames in the directories of `paths` durable (one fsync per directory).
    public func syncDirectories(of paths: [String], owner: OwnerIdentity) {
        for directory in Set(paths.map { Self.split($0).directory }) {
            _ = try? owner.perform {
                let fd = bits_open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
                if fd >= 0 { fsync(fd); close(fd) }
            }
        }
    }

    /// A finished temporary file and the final name it gets at Complete.
    public struct Rename: Sendable {
        public let temporary: String
        public let localPath: String
        /// The directory the file was added to; a directory that is no longer it is refused.
        public let pinned: DirectoryIdentity?

        public init(temporary: String, localPath: String, pinned: DirectoryIdentity?) {
            self.temporary = temporary
            self.localPath = localPath
            self.pinned = pinned
        }
    }

    /// Moves a finished temporary file to its final name (see `commit(_:owner:renamed:)`).
    public func commit(temporary: String, to localPath: String, pinned: DirectoryIdentity?, owner: OwnerIdentity) throws {
        try commit([Rename(temporary: temporary, localPath: localPath, pinned: pinned)], owner: owner) { _ in }
    }

    /// Moves finished temporary files to their final names, as the owner, each inside the one
    /// directory both live in, opening each directory once. A temporary that is no longer a
    /// regular file of the owner is refused. Calls `renamed(i)` after the i-th rename and
    /// stops at the first failure, which it throws (the renames before it stay done).
    public func commit(_ renames: [Rename], owner: OwnerIdentity, renamed: (Int) -> Void) throws {
        try owner.perform {
            var opened = OpenedDirectories()
            defer { opened.closeAll() }
            for (i, rename) in renames.enumerated() {
                let (directory, finalName) = Self.split(rename.localPath)
                let (tempDirectory, tempName) = Self.split(rename.temporary)
                guard directory == tempDirectory else {
                    throw ServiceError(.failed, "Temporary file '\(rename.temporary)' is not beside '\(rename.localPath)'.")
                }
                let dir = try opened.open(directory, owner: owner, files: self)
                if let pinned = rename.pinned, dir.identity != pinned {
                    throw ServiceError.accessDenied("Directory '\(directory)' is no longer the directory the file was added to (it was replaced or moved); not renaming into it.")
                }
                var st = stat()
                guard fstatat(dir.fd, tempName, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
                    throw Self.fileError(errno, path: rename.temporary, uid: owner.uid)
                }
                guard (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == owner.uid else {
                    throw ServiceError.accessDenied("Temporary file '\(rename.temporary)' was replaced by something that is not a regular file of user \(owner.uid); not renaming it.")
                }
                guard renameat(dir.fd, tempName, dir.fd, finalName) == 0 else {
                    throw Self.fileError(errno, path: rename.localPath, uid: owner.uid)
                }
                renamed(i)
            }
        }
    }

    /// Start-up reconciliation of a temporary file with the stored progress, as the owner:
    /// returns its length (nil when it is missing or not a regular file of the owner), first
    /// truncating it to `keeping` bytes when it is longer (bytes beyond the last stored
    /// progress are not trusted).
    public func reconcileTemporary(_ path: String, keeping: UInt64, owner: OwnerIdentity) -> UInt64? {
        try? owner.perform {
            let fd = bits_open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == owner.uid else { return nil }
            let length = UInt64(st.st_size)
            if length > keeping {
                guard ftruncate(fd, off_t(keeping)) == 0 else { return nil }
                return keeping
            }
            return length
        }
    }

    /// Deletes a temporary file as the owner; a missing file is not an error.
    public func remove(_ path: String, owner: OwnerIdentity) {
        _ = try? owner.perform {
            let (directory, name) = Self.split(path)
            guard let dirfd = try? openDirectory(directory, owner: owner) else { return }
            defer { close(dirfd) }
            var st = stat()
            // Only our own regular temporary files; a planted symlink is left alone.
            if fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0, (st.st_mode & S_IFMT) == S_IFREG {
                unlinkat(dirfd, name, 0)
            }
        }
    }

    // MARK: - helpers

    /// Directories opened as the owner inside one `perform`, each once (a job's files mostly
    /// share one); `closeAll()` when done.
    private struct OpenedDirectories {
        private var entries: [String: (fd: Int32, identity: DirectoryIdentity)] = [:]

        /// The descriptor and identity of `directory`; `check` runs once, when it is opened.
        mutating func open(_ directory: String, owner: OwnerIdentity, files: OwnerFiles,
                           check: (Int32) throws -> Void = { _ in }) throws -> (fd: Int32, identity: DirectoryIdentity) {
            if let known = entries[directory] { return known }
            let fd = try files.openDirectory(directory, owner: owner)
            do {
                try check(fd)
                let entry = (fd: fd, identity: try OwnerFiles.identity(of: fd))
                entries[directory] = entry
                return entry
            } catch {
                close(fd)
                throw error
            }
        }

        func closeAll() { for entry in entries.values { close(entry.fd) } }
    }

    private func openDirectory(_ directory: String, owner: OwnerIdentity) throws -> Int32 {
        let fd = bits_open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
        guard fd >= 0 else { throw Self.directoryError(errno, directory: directory, uid: owner.uid) }
        return fd
    }

    static func split(_ path: String) -> (directory: String, name: String) {
        // At the last byte '/', as the kernel sees it: as Characters, a slash followed by a
        // combining mark is not "/", and the name would then contain a slash.
        let utf8 = path.utf8
        guard let slash = utf8.lastIndex(of: UInt8(ascii: "/")) else { return (".", path) }
        let dir = String(decoding: utf8[..<slash], as: UTF8.self)
        return (dir.isEmpty ? "/" : dir, String(decoding: utf8[utf8.index(after: slash)...], as: UTF8.self))
    }

    static func directoryError(_ code: Int32, directory: String, uid: UInt32) -> ServiceError {
        switch code {
        case ENOENT: .invalidArgs("Directory '\(directory)' does not exist.")
        case ENOTDIR: .invalidArgs("'\(directory)' is not a directory.")
        case EACCES, EPERM, EROFS: .accessDenied("User \(uid) may not write to directory '\(directory)'.")
        default: ServiceError(.failed, "Directory '\(directory)': \(String(cString: strerror(code))).")
        }
    }

    static func fileError(_ code: Int32, path: String, uid: UInt32) -> ServiceError {
        switch code {
        case ENOENT: .invalidArgs("'\(path)' does not exist.")
        case ELOOP: .accessDenied("'\(path)' is a symbolic link; refusing to follow it.")
        case EACCES, EPERM, EROFS: .accessDenied("User \(uid) may not access '\(path)'.")
        case EISDIR: .invalidArgs("'\(path)' is a directory.")
        default: ServiceError(.failed, "'\(path)': \(String(cString: strerror(code))).")
        }
    }
}
