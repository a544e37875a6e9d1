import BitsCore
import BitsSystem
import BitsTransfer

// Fault injection for the integration tests, which run the real daemon. Both are built only
// when the daemon's hidden options ask for them (`--crash-at`, `--fail-fsync-of`) and reach
// the queue manager through its injected protocols; nothing here reads the environment.

/// Kills the process with SIGKILL when it reaches `point`, so the tests can crash the daemon
/// between any two steps of AddFile, Complete and Cancel and check what a restart makes of it.
public struct KillingCrashPoint: CrashPoints {
    public let point: String
    public init(point: String) { self.point = point }
    public func reach(_ name: String) {
        guard name == point else { return }
        ChildProcess.killSelf()
    }
}

/// The owner's files, except that the fsync of any descriptor whose path contains `text`
/// fails with EIO without syncing, as a failing disk would (`Complete` must not publish it).
public struct FsyncFailingFiles: OwnerFileAccess {
    public let base: OwnerFiles
    public let text: String
    public init(base: OwnerFiles = OwnerFiles(), failingPathsContaining text: String) {
        self.base = base
        self.text = text
    }

    public func sync(_ descriptor: BorrowedDescriptor) throws(SystemError) {
        if !text.isEmpty, descriptorName(descriptor.raw).contains(text) {
            throw SystemError(code: Errno.io, operation: "fsync")
        }
        try base.sync(descriptor)
    }

    public func identity(of uid: UInt32) throws -> OwnerIdentity { try base.identity(of: uid) }
    public func prepareDestination(localPath: String, temporaryName: String, owner: OwnerIdentity,
                                   umask: UInt32, resolution: PathResolution) throws -> OwnerFiles.Prepared {
        try base.prepareDestination(localPath: localPath, temporaryName: temporaryName, owner: owner, umask: umask,
                                    resolution: resolution)
    }
    public func checkDestinations(_ localPaths: [String], owner: OwnerIdentity,
                                  resolution: PathResolution) throws -> [DirectoryIdentity] {
        try base.checkDestinations(localPaths, owner: owner, resolution: resolution)
    }
    public func prepareDirectDestination(localPath: String, owner: OwnerIdentity, umask: UInt32,
                                         resolution: PathResolution) throws -> OwnerFiles.Prepared {
        try base.prepareDirectDestination(localPath: localPath, owner: owner, umask: umask, resolution: resolution)
    }
    public func openTemporary(_ path: String, owner: OwnerIdentity, umask: UInt32,
                              resolution: PathResolution) throws -> OwnerFiles.Opened {
        try base.openTemporary(path, owner: owner, umask: umask, resolution: resolution)
    }
    public func openSource(_ path: String, owner: OwnerIdentity,
                           resolution: PathResolution) throws -> OwnerFiles.Opened {
        try base.openSource(path, owner: owner, resolution: resolution)
    }
    public func readSmallFile(_ path: String, owner: OwnerIdentity, limit: Int,
                              resolution: PathResolution) throws -> [UInt8] {
        try base.readSmallFile(path, owner: owner, limit: limit, resolution: resolution)
    }
    public func syncDirectories(of paths: [String], owner: OwnerIdentity, resolution: PathResolution) {
        base.syncDirectories(of: paths, owner: owner, resolution: resolution)
    }
    public func commit(_ renames: [OwnerFiles.Rename], owner: OwnerIdentity, resolution: PathResolution,
                       renamed: (Int) -> Void) throws {
        try base.commit(renames, owner: owner, resolution: resolution, renamed: renamed)
    }
    public func reconcileTemporary(_ path: String, keeping: UInt64, owner: OwnerIdentity,
                                   resolution: PathResolution) -> UInt64? {
        base.reconcileTemporary(path, keeping: keeping, owner: owner, resolution: resolution)
    }
    public func remove(_ path: String, owner: OwnerIdentity, resolution: PathResolution) {
        base.remove(path, owner: owner, resolution: resolution)
    }
    public func status(_ descriptor: BorrowedDescriptor) throws(SystemError) -> FileStatus {
        try base.status(descriptor)
    }
    public func close(_ descriptor: consuming FileDescriptor) { base.close(descriptor) }
}
