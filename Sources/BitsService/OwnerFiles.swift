import CSystem
import Foundation
import BitsCore

/// Every file operation of a job, performed with the owner's credentials (`OwnerIdentity`)
/// so the kernel applies the owner's permissions: the daemon's root rights never touch a
/// user's path. Temporary files are created exclusively and never through a symlink; nothing
/// but a regular file is ever read or written, and no open can wait (O_NONBLOCK). These calls
/// block on the file system: the queue manager runs them on `FileWorkers`, never on its own
/// executor.
public struct OwnerFiles: Sendable {
    public init() {}

    /// A destination made ready: where its data goes until Complete, and the identity of the
    /// directory it lives in (pinned for Complete).
    public struct Prepared: Sendable {
        public let path: String
        public let directory: DirectoryIdentity
        public init(path: String, directory: DirectoryIdentity) {
            self.path = path
            self.directory = directory
        }
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

    /// Checks the destination of a file and creates its temporary file `temporaryName` in the
    /// destination directory at once (an upload-reply's reply file), with the mode `umask`
    /// gives. Returns the temporary path.
    public func prepareDestination(localPath: String, temporaryName: String, owner: OwnerIdentity,
                                   umask: UInt32, resolution: PathResolution) throws -> Prepared {
        let (directory, name) = Self.split(localPath)
        return try owner.perform {
            let dirfd = try openDirectory(directory, owner: owner, resolution: resolution)
            defer { close(dirfd) }
            try Self.refuseExistingNonRegular(dirfd, name, path: localPath)
            let fd = FileWorkers.creatingFiles(umask: umask) {
                bits_openat(dirfd, temporaryName, O_WRONLY | O_CREAT | O_EXCL | Self.userFileFlags, Self.creationMode)
            }
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
    public func checkDestinations(_ localPaths: [String], owner: OwnerIdentity,
                                  resolution: PathResolution) throws -> [DirectoryIdentity] {
        try owner.perform {
            var opened = OpenedDirectories()
            defer { opened.closeAll() }
            return try localPaths.map { localPath in
                let (directory, name) = Self.split(localPath)
                let dir = try opened.open(directory, owner: owner, files: self, resolution: resolution) { fd in
                    // The thread's filesystem identity is the owner's (fsuid, groups, no
                    // root override), which AT_EACCESS checks against.
                    guard faccessat(fd, ".", W_OK | X_OK, AT_EACCESS) == 0 else {
                        throw Self.directoryError(errno, directory: directory, uid: owner.uid)
                    }
                }
                try Self.refuseExistingNonRegular(dir.fd, name, path: localPath, allowingLink: true)
                return dir.identity
            }
        }
    }

    /// HighPerformance jobs write straight to the destination: checks the directory and
    /// creates (or opens) the destination itself, never through a symlink, with the mode
    /// `umask` gives; an existing destination must be a regular file.
    public func prepareDirectDestination(localPath: String, owner: OwnerIdentity, umask: UInt32,
                                         resolution: PathResolution) throws -> Prepared {
        let (directory, name) = Self.split(localPath)
        return try owner.perform {
            let dirfd = try openDirectory(directory, owner: owner, resolution: resolution)
            defer { close(dirfd) }
            try Self.refuseExistingNonRegular(dirfd, name, path: localPath)
            let fd = FileWorkers.creatingFiles(umask: umask) {
                bits_openat(dirfd, name, O_WRONLY | O_CREAT | Self.userFileFlags, Self.creationMode)
            }
            guard fd >= 0 else {
                throw errno == EACCES || errno == EPERM || errno == EROFS
                    ? Self.directoryError(errno, directory: directory, uid: owner.uid)
                    : Self.fileError(errno, path: localPath, uid: owner.uid)
            }
            defer { close(fd) }
            try Self.requireRegular(fd, path: localPath)
            return Prepared(path: localPath, directory: try Self.identity(of: dirfd))
        }
    }

    /// Opens the temporary file (or a HighPerformance destination) for writing, creating it
    /// exclusively with the mode `umask` gives if it is missing, and returns the descriptor and
    /// its current length. Refuses anything but a regular file owned by the owner: a planted
    /// symlink fails through O_NOFOLLOW, a FIFO, socket or device is refused before it is
    /// opened and again after (O_NONBLOCK: opening one never waits).
    public func openTemporary(_ path: String, owner: OwnerIdentity, umask: UInt32,
                              resolution: PathResolution) throws -> (fd: Int32, length: UInt64) {
        let (directory, name) = Self.split(path)
        return try owner.perform {
            let dirfd = try openDirectory(directory, owner: owner, resolution: resolution)
            defer { close(dirfd) }
            // Usually new (created when its transfer first starts); an existing one is resumed.
            var fd = FileWorkers.creatingFiles(umask: umask) {
                bits_openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | Self.userFileFlags, Self.creationMode)
            }
            if fd < 0 && errno == EEXIST {
                try Self.refuseExistingNonRegular(dirfd, name, path: path)
                fd = bits_openat(dirfd, name, O_WRONLY | Self.userFileFlags, 0)
            }
            guard fd >= 0 else { throw Self.fileError(errno, path: path, uid: owner.uid) }
            do {
                let st = try Self.requireRegular(fd, path: path)
                guard st.st_uid == owner.uid else {
                    throw ServiceError.accessDenied("'\(path)' is not a file of user \(owner.uid); refusing to write to it.")
                }
                return (fd, UInt64(clamping: st.st_size))
            } catch {
                close(fd)
                throw error
            }
        }
    }

    /// Opens a local source (a file:// URL, an upload's file, a certificate) for reading as
    /// the owner. Anything but a regular file is refused before a byte is read.
    public func openSource(_ path: String, owner: OwnerIdentity,
                           resolution: PathResolution) throws -> (fd: Int32, size: UInt64) {
        let (directory, name) = Self.split(path)
        return try owner.perform {
            let dirfd = try openDirectory(directory, owner: owner, resolution: resolution, reading: true)
            defer { close(dirfd) }
            try Self.refuseExistingNonRegular(dirfd, name, path: path)
            let fd = bits_openat(dirfd, name, O_RDONLY | Self.userFileFlags, 0)
            guard fd >= 0 else { throw Self.fileError(errno, path: path, uid: owner.uid) }
            do {
                let st = try Self.requireRegular(fd, path: path)
                _ = bits_fcntl_int(fd, F_SETFL, 0)
                return (fd, UInt64(clamping: st.st_size))
            } catch {
                close(fd)
                throw error
            }
        }
    }

    /// Reads a small file (a PEM certificate or key) as the owner, up to `limit` bytes.
    public func readSmallFile(_ path: String, owner: OwnerIdentity, limit: Int,
                              resolution: PathResolution) throws -> [UInt8] {
        let (fd, size) = try openSource(path, owner: owner, resolution: resolution)
        defer { close(fd) }
        guard size <= UInt64(limit) else { throw ServiceError.invalidArgs("'\(path)' is larger than \(limit) bytes.") }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        let got = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, Int(size), 0) }
        guard got == Int(size) else { throw ServiceError(.failed, "'\(path)' could not be read.") }
        return bytes
    }

    /// Makes renames in the directories of `paths` durable (one fsync per directory).
    public func syncDirectories(of paths: [String], owner: OwnerIdentity, resolution: PathResolution) {
        for directory in Set(paths.map { Self.split($0).directory }) {
            _ = try? owner.perform {
                let fd = try openDirectory(directory, owner: owner, resolution: resolution)
                fsync(fd)
                close(fd)
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
    public func commit(temporary: String, to localPath: String, pinned: DirectoryIdentity?, owner: OwnerIdentity,
                       resolution: PathResolution) throws {
        try commit([Rename(temporary: temporary, localPath: localPath, pinned: pinned)], owner: owner,
                   resolution: resolution) { _ in }
    }

    /// Moves finished temporary files to their final names, as the owner, each inside the one
    /// directory both live in, opening each directory once. A temporary that is no longer a
    /// regular file of the owner is refused. Calls `renamed(i)` after the i-th rename and
    /// stops at the first failure, which it throws (the renames before it stay done).
    public func commit(_ renames: [Rename], owner: OwnerIdentity, resolution: PathResolution,
                       renamed: (Int) -> Void) throws {
        try owner.perform {
            var opened = OpenedDirectories()
            defer { opened.closeAll() }
            for (i, rename) in renames.enumerated() {
                let (directory, finalName) = Self.split(rename.localPath)
                let (tempDirectory, tempName) = Self.split(rename.temporary)
                guard directory == tempDirectory else {
                    throw ServiceError(.failed, "Temporary file '\(rename.temporary)' is not beside '\(rename.localPath)'.")
                }
                let dir = try opened.open(directory, owner: owner, files: self, resolution: resolution)
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
    public func reconcileTemporary(_ path: String, keeping: UInt64, owner: OwnerIdentity,
                                   resolution: PathResolution) -> UInt64? {
        let (directory, name) = Self.split(path)
        return try? owner.perform {
            let dirfd = try openDirectory(directory, owner: owner, resolution: resolution)
            defer { close(dirfd) }
            // Never opens what is not a regular file (a FIFO planted there would block).
            try Self.refuseExistingNonRegular(dirfd, name, path: path)
            let fd = bits_openat(dirfd, name, O_WRONLY | Self.userFileFlags, 0)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == owner.uid else { return nil }
            let length = UInt64(clamping: st.st_size)
            if length > keeping {
                guard ftruncate(fd, off_t(keeping)) == 0 else { return nil }
                return keeping
            }
            return length
        }
    }

    /// Deletes a temporary file as the owner; a missing file is not an error.
    public func remove(_ path: String, owner: OwnerIdentity, resolution: PathResolution) {
        _ = try? owner.perform {
            let (directory, name) = Self.split(path)
            guard let dirfd = try? openDirectory(directory, owner: owner, resolution: resolution) else { return }
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
        mutating func open(_ directory: String, owner: OwnerIdentity, files: OwnerFiles, resolution: PathResolution,
                           check: (Int32) throws -> Void = { _ in }) throws -> (fd: Int32, identity: DirectoryIdentity) {
            if let known = entries[directory] { return known }
            let fd = try files.openDirectory(directory, owner: owner, resolution: resolution)
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

    /// The flags of every open of a file a user names: never follows a final symlink, never
    /// waits (a FIFO without a writer, a device), never becomes the daemon's controlling
    /// terminal, never leaks into a child process.
    static let userFileFlags: Int32 = O_NONBLOCK | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC
    /// New files get 0666 less the owner's umask (or the directory's default ACL), as with
    /// `curl -o`; `FileWorkers.creatingFiles` applies the owner's umask.
    static let creationMode: UInt32 = 0o666
    /// openat2's RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS (linux/openat2.h).
    static let resolveNoLinks: UInt64 = 0x02 | 0x04

    /// Opens a directory as the owner. With `.noSymlinks`, no component may be a symbolic
    /// link (ELOOP: access denied).
    func openDirectory(_ directory: String, owner: OwnerIdentity, resolution: PathResolution,
                       reading: Bool = false) throws -> Int32 {
        let flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK
        let fd: Int32
        switch resolution {
        case .standard:
            fd = bits_open(directory, flags, 0)
        case .noSymlinks:
            fd = bits_openat2(AT_FDCWD, directory, UInt64(flags), 0, Self.resolveNoLinks)
            if fd < 0 && (errno == ELOOP || errno == EXDEV) {
                throw ServiceError.accessDenied("'\(directory)' goes through a symbolic link; the job changed owner, so none of its paths may.")
            }
        }
        guard fd >= 0 else {
            if reading, errno == EACCES || errno == EPERM {
                throw ServiceError.accessDenied("User \(owner.uid) may not access directory '\(directory)'.")
            }
            throw Self.directoryError(errno, directory: directory, uid: owner.uid)
        }
        return fd
    }

    /// What an inode is, in words, for errors naming it.
    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: "a regular file"
        case S_IFDIR: "a directory"
        case S_IFIFO: "a FIFO"
        case S_IFSOCK: "a socket"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFLNK: "a symbolic link"
        default: "not a regular file"
        }
    }

    /// Throws `not-a-regular-file` when `name` in `dirfd` exists and is not a regular file
    /// (a symbolic link only when not `allowingLink`: Complete's rename replaces a link at
    /// the destination without following it). Nothing is opened.
    static func refuseExistingNonRegular(_ dirfd: Int32, _ name: String, path: String, allowingLink: Bool = false) throws {
        var st = stat()
        guard fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        let type = st.st_mode & S_IFMT
        if type == S_IFREG || (allowingLink && type == S_IFLNK) { return }
        if type == S_IFLNK {
            throw ServiceError.accessDenied("'\(path)' is a symbolic link; refusing to follow it.")
        }
        throw ServiceError.notRegularFile("Local path '\(path)' is \(kind(st.st_mode)), not a regular file.")
    }

    /// The status of an open descriptor, which must be a regular file.
    @discardableResult
    static func requireRegular(_ fd: Int32, path: String) throws -> stat {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw fileError(errno, path: path, uid: 0) }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw ServiceError.notRegularFile("Local path '\(path)' is \(kind(st.st_mode)), not a regular file.")
        }
        return st
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
        case ENXIO, ENODEV: .notRegularFile("Local path '\(path)' is a FIFO, socket or device, not a regular file.")
        case EACCES, EPERM, EROFS: .accessDenied("User \(uid) may not access '\(path)'.")
        case EISDIR: .invalidArgs("'\(path)' is a directory.")
        default: ServiceError(.failed, "'\(path)': \(String(cString: strerror(code))).")
        }
    }
}
