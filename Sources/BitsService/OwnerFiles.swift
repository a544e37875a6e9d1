import BitsCore
import BitsSystem

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

    static func identity(of directory: borrowing FileDescriptor) throws -> DirectoryIdentity {
        do throws(SystemError) {
            let st = try directory.status()
            return DirectoryIdentity(device: st.device, inode: st.inode)
        } catch {
            throw ServiceError(.failed, "Cannot inspect a directory: \(error.text).")
        }
    }

    /// A file opened as its owner: the descriptor (closed when this goes, unless taken) and
    /// the file's length when it was opened.
    public struct Opened: ~Copyable {
        public let descriptor: FileDescriptor
        public let length: UInt64

        public init(descriptor: consuming FileDescriptor, length: UInt64) {
            self.descriptor = descriptor
            self.length = length
        }
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
            let dir = try openDirectory(directory, owner: owner, resolution: resolution)
            try Self.refuseExistingNonRegular(dir, name, path: localPath)
            do throws(SystemError) {
                _ = try FileWorkers.creatingFiles(umask: umask) { () throws(SystemError) in
                    try dir.open(temporaryName, Self.newFileFlags, mode: Self.creationMode)
                }
            } catch {
                if error.code == Errno.exists {
                    throw ServiceError(.failed, "Temporary file '\(temporaryName)' already exists in '\(directory)'; try again.")
                }
                throw Self.directoryError(error.code, directory: directory, uid: owner.uid)
            }
            return Prepared(path: Self.temporaryPath(for: localPath, name: temporaryName), directory: try Self.identity(of: dir))
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
            return try localPaths.map { localPath in
                let (directory, name) = Self.split(localPath)
                let dir = try opened.open(directory, owner: owner, files: self, resolution: resolution) { fd in
                    // The thread's filesystem identity is the owner's (fsuid, groups, no
                    // root override), which AT_EACCESS checks against.
                    do throws(SystemError) {
                        try fd.access(".", [.write, .execute])
                    } catch {
                        throw Self.directoryError(error.code, directory: directory, uid: owner.uid)
                    }
                }
                try Self.refuseExistingNonRegular(dir.descriptor, name, path: localPath, allowingLink: true)
                return dir.info
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
            let dir = try openDirectory(directory, owner: owner, resolution: resolution)
            try Self.refuseExistingNonRegular(dir, name, path: localPath)
            let fd: FileDescriptor
            do throws(SystemError) {
                fd = try FileWorkers.creatingFiles(umask: umask) { () throws(SystemError) in
                    try dir.open(name, [.writeOnly, .create, Self.userFileFlags], mode: Self.creationMode)
                }
            } catch {
                throw error.code == Errno.accessDenied || error.code == Errno.notPermitted || error.code == Errno.readOnlyFileSystem
                    ? Self.directoryError(error.code, directory: directory, uid: owner.uid)
                    : Self.fileError(error.code, path: localPath, uid: owner.uid)
            }
            try Self.requireRegular(fd, path: localPath)
            return Prepared(path: localPath, directory: try Self.identity(of: dir))
        }
    }

    /// Opens the temporary file (or a HighPerformance destination) for writing, creating it
    /// exclusively with the mode `umask` gives if it is missing, and returns the descriptor and
    /// its current length. Refuses anything but a regular file owned by the owner: a planted
    /// symlink fails through O_NOFOLLOW, a FIFO, socket or device is refused before it is
    /// opened and again after (O_NONBLOCK: opening one never waits).
    public func openTemporary(_ path: String, owner: OwnerIdentity, umask: UInt32,
                              resolution: PathResolution) throws -> Opened {
        let (directory, name) = Self.split(path)
        return try owner.perform { () throws -> Opened in
            let dir = try openDirectory(directory, owner: owner, resolution: resolution)
            // Usually new (created when its transfer first starts); an existing one is resumed.
            let fd: FileDescriptor
            do throws(SystemError) {
                fd = try FileWorkers.creatingFiles(umask: umask) { () throws(SystemError) in
                    try dir.open(name, Self.newFileFlags, mode: Self.creationMode)
                }
            } catch let error where error.code == Errno.exists {
                try Self.refuseExistingNonRegular(dir, name, path: path)
                // Read and write: the bytes already there are hashed before the download goes
                // on. A file its owner made write-only is opened so, and starts over.
                fd = try Self.opening(path, uid: owner.uid) { () throws(SystemError) in
                    do throws(SystemError) {
                        return try dir.open(name, [.readWrite, Self.userFileFlags])
                    } catch where error.code == Errno.accessDenied {
                        return try dir.open(name, [.writeOnly, Self.userFileFlags])
                    }
                }
            } catch {
                throw Self.fileError(error.code, path: path, uid: owner.uid)
            }
            let st = try Self.requireRegular(fd, path: path)
            guard st.uid == owner.uid else {
                throw ServiceError.accessDenied("'\(path)' is not a file of user \(owner.uid); refusing to write to it.")
            }
            return Opened(descriptor: fd, length: st.length)
        }
    }

    /// Opens a local source (a file:// URL, an upload's file, a certificate) for reading as
    /// the owner. Anything but a regular file is refused before a byte is read.
    public func openSource(_ path: String, owner: OwnerIdentity, resolution: PathResolution) throws -> Opened {
        let (directory, name) = Self.split(path)
        return try owner.perform { () throws -> Opened in
            let dir = try openDirectory(directory, owner: owner, resolution: resolution, reading: true)
            try Self.refuseExistingNonRegular(dir, name, path: path)
            let fd = try Self.opening(path, uid: owner.uid) { () throws(SystemError) in try dir.open(name, [.readOnly, Self.userFileFlags]) }
            let st = try Self.requireRegular(fd, path: path)
            try? fd.clearStatusFlags()
            return Opened(descriptor: fd, length: st.length)
        }
    }

    /// Reads a small file (a PEM certificate or key) as the owner, up to `limit` bytes.
    public func readSmallFile(_ path: String, owner: OwnerIdentity, limit: Int,
                              resolution: PathResolution) throws -> [UInt8] {
        let source = try openSource(path, owner: owner, resolution: resolution)
        let size = source.length
        guard size <= UInt64(limit) else { throw ServiceError.invalidArgs("'\(path)' is larger than \(limit) bytes.") }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        let got = bytes.withUnsafeMutableBytes { try? source.descriptor.read(into: $0.baseAddress, count: Int(size), at: 0) }
        guard got == Int(size) else { throw ServiceError(.failed, "'\(path)' could not be read.") }
        return bytes
    }

    /// Makes renames in the directories of `paths` durable (one fsync per directory).
    public func syncDirectories(of paths: [String], owner: OwnerIdentity, resolution: PathResolution) {
        for directory in Set(paths.map { Self.split($0).directory }) {
            _ = try? owner.perform {
                let fd = try openDirectory(directory, owner: owner, resolution: resolution)
                try? fd.sync()
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
            for (i, rename) in renames.enumerated() {
                let (directory, finalName) = Self.split(rename.localPath)
                let (tempDirectory, tempName) = Self.split(rename.temporary)
                guard directory == tempDirectory else {
                    throw ServiceError(.failed, "Temporary file '\(rename.temporary)' is not beside '\(rename.localPath)'.")
                }
                let dir = try opened.open(directory, owner: owner, files: self, resolution: resolution)
                if let pinned = rename.pinned, dir.info != pinned {
                    throw ServiceError.accessDenied("Directory '\(directory)' is no longer the directory the file was added to (it was replaced or moved); not renaming into it.")
                }
                let st = try Self.opening(rename.temporary, uid: owner.uid) { () throws(SystemError) in
                    try dir.descriptor.status(of: tempName)
                }
                guard st.type == .regular, st.uid == owner.uid else {
                    throw ServiceError.accessDenied("Temporary file '\(rename.temporary)' was replaced by something that is not a regular file of user \(owner.uid); not renaming it.")
                }
                try Self.opening(rename.localPath, uid: owner.uid) { () throws(SystemError) in
                    try dir.descriptor.rename(tempName, to: finalName)
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
        return try? owner.perform { () throws -> UInt64? in
            let dir = try openDirectory(directory, owner: owner, resolution: resolution)
            // Never opens what is not a regular file (a FIFO planted there would block).
            try Self.refuseExistingNonRegular(dir, name, path: path)
            guard let fd = try? dir.open(name, [.writeOnly, Self.userFileFlags]) else { return nil }
            guard let st = try? fd.status(), st.type == .regular, st.uid == owner.uid else { return nil }
            let length = st.length
            if length > keeping {
                guard (try? fd.truncate(to: Int64(keeping))) != nil else { return nil }
                return keeping
            }
            return length
        }
    }

    /// Deletes a temporary file as the owner; a missing file is not an error.
    public func remove(_ path: String, owner: OwnerIdentity, resolution: PathResolution) {
        _ = try? owner.perform {
            let (directory, name) = Self.split(path)
            guard let dir = try? openDirectory(directory, owner: owner, resolution: resolution) else { return }
            // Only our own regular temporary files; a planted symlink is left alone.
            if let st = try? dir.status(of: name), st.type == .regular {
                try? dir.unlink(name)
            }
        }
    }

    // MARK: - helpers

    /// Directories opened as the owner inside one `perform`, each once (a job's files mostly
    /// share one); they are closed when this goes.
    private struct OpenedDirectories {
        private var entries: [String: SharedDescriptor<DirectoryIdentity>] = [:]

        /// The directory `directory`, opened, and its identity; `check` runs once, when it is
        /// opened.
        mutating func open(_ directory: String, owner: OwnerIdentity, files: OwnerFiles, resolution: PathResolution,
                           check: (borrowing FileDescriptor) throws -> Void = { _ in }) throws -> SharedDescriptor<DirectoryIdentity> {
            if let known = entries[directory] { return known }
            let fd = try files.openDirectory(directory, owner: owner, resolution: resolution)
            try check(fd)
            let identity = try OwnerFiles.identity(of: fd)
            let entry = SharedDescriptor(fd, identity)
            entries[directory] = entry
            return entry
        }
    }

    /// The flags of every open of a file a user names: never follows a final symlink, never
    /// waits (a FIFO without a writer, a device), never becomes the daemon's controlling
    /// terminal, never leaks into a child process.
    static let userFileFlags: OpenFlags = [.nonBlocking, .noControllingTerminal, .noFollow, .closeOnExec]
    /// A new temporary file: created exclusively, for writing (and reading: a download's
    /// hash may have to read it back).
    static let newFileFlags: OpenFlags = [.readWrite, .create, .exclusive, userFileFlags]
    /// New files get 0666 less the owner's umask (or the directory's default ACL), as with
    /// `curl -o`; `FileWorkers.creatingFiles` applies the owner's umask.
    static let creationMode: UInt32 = 0o666

    /// Runs `call` (a system call on `path`), turning its error into `fileError`'s (for `uid`).
    static func opening<T: ~Copyable>(_ path: String, uid: UInt32, _ call: () throws(SystemError) -> T) throws -> T {
        do throws(SystemError) {
            return try call()
        } catch {
            throw fileError(error.code, path: path, uid: uid)
        }
    }

    /// Opens a directory as the owner. With `.noSymlinks`, no component may be a symbolic
    /// link (ELOOP: access denied).
    func openDirectory(_ directory: String, owner: OwnerIdentity, resolution: PathResolution,
                       reading: Bool = false) throws -> FileDescriptor {
        let flags: OpenFlags = [.readOnly, .directory, .closeOnExec, .noControllingTerminal, .nonBlocking]
        do throws(SystemError) {
            switch resolution {
            case .standard: return try FileDescriptor.open(directory, flags)
            case .noSymlinks: return try FileDescriptor.openWithoutSymlinks(directory, flags)
            }
        } catch {
            if case .noSymlinks = resolution, error.code == Errno.tooManyLinks || error.code == Errno.crossDevice {
                throw ServiceError.accessDenied("'\(directory)' goes through a symbolic link; the job changed owner, so none of its paths may.")
            }
            if reading, error.code == Errno.accessDenied || error.code == Errno.notPermitted {
                throw ServiceError.accessDenied("User \(owner.uid) may not access directory '\(directory)'.")
            }
            throw Self.directoryError(error.code, directory: directory, uid: owner.uid)
        }
    }

    /// Throws `not-a-regular-file` when `name` in `dirfd` exists and is not a regular file
    /// (a symbolic link only when not `allowingLink`: Complete's rename replaces a link at
    /// the destination without following it). Nothing is opened.
    static func refuseExistingNonRegular(_ dir: borrowing FileDescriptor, _ name: String, path: String,
                                         allowingLink: Bool = false) throws {
        guard let st = try? dir.status(of: name) else { return }
        if st.type == .regular || (allowingLink && st.type == .symbolicLink) { return }
        if st.type == .symbolicLink {
            throw ServiceError.accessDenied("'\(path)' is a symbolic link; refusing to follow it.")
        }
        throw ServiceError.notRegularFile("Local path '\(path)' is \(st.type.words), not a regular file.")
    }

    /// The status of an open descriptor, which must be a regular file.
    @discardableResult
    static func requireRegular(_ fd: borrowing FileDescriptor, path: String) throws -> FileStatus {
        let st = try opening(path, uid: 0) { () throws(SystemError) in try fd.status() }
        guard st.type == .regular else {
            throw ServiceError.notRegularFile("Local path '\(path)' is \(st.type.words), not a regular file.")
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
        case Errno.noEntry: .invalidArgs("Directory '\(directory)' does not exist.")
        case Errno.notDirectory: .invalidArgs("'\(directory)' is not a directory.")
        case Errno.accessDenied, Errno.notPermitted, Errno.readOnlyFileSystem:
            .accessDenied("User \(uid) may not write to directory '\(directory)'.")
        default: ServiceError(.failed, "Directory '\(directory)': \(SystemError.text(of: code)).")
        }
    }

    static func fileError(_ code: Int32, path: String, uid: UInt32) -> ServiceError {
        switch code {
        case Errno.noEntry: .invalidArgs("'\(path)' does not exist.")
        case Errno.tooManyLinks: .accessDenied("'\(path)' is a symbolic link; refusing to follow it.")
        case Errno.noDevice, Errno.noSuchDevice:
            .notRegularFile("Local path '\(path)' is a FIFO, socket or device, not a regular file.")
        case Errno.accessDenied, Errno.notPermitted, Errno.readOnlyFileSystem: .accessDenied("User \(uid) may not access '\(path)'.")
        case Errno.isDirectory: .invalidArgs("'\(path)' is a directory.")
        default: ServiceError(.failed, "'\(path)': \(SystemError.text(of: code)).")
        }
    }
}
