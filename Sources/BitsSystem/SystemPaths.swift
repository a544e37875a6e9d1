import Glibc

/// Calls on paths of the daemon's own files (its state directory, the queue database):
/// never on a user's path, which is reached through a directory descriptor, as its owner
/// (`Descriptor.open`, `status(of:)`, `rename`).
public enum SystemPaths {
    /// lstat(2): the status of `path` itself (a final symbolic link is not followed).
    public static func linkStatus(_ path: String) throws(SystemError) -> FileStatus {
        var st = stat()
        guard lstat(path, &st) == 0 else { throw .last("lstat", path: path) }
        return FileStatus(st)
    }

    /// stat(2): the status of what `path` names, a final symbolic link followed.
    public static func status(_ path: String) throws(SystemError) -> FileStatus {
        var st = stat()
        guard stat(path, &st) == 0 else { throw .last("stat", path: path) }
        return FileStatus(st)
    }

    /// getcwd(3): the current directory.
    public static func currentDirectory() throws(SystemError) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { throw .last("getcwd") }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// mkdir(2) with `mode` (less the umask).
    public static func makeDirectory(_ path: String, mode: UInt32) throws(SystemError) {
        guard mkdir(path, mode_t(mode)) == 0 else { throw .last("mkdir", path: path) }
    }

    /// chmod(2).
    public static func setPermissions(_ path: String, _ mode: UInt32) throws(SystemError) {
        guard chmod(path, mode_t(mode)) == 0 else { throw .last("chmod", path: path) }
    }

    /// rename(2).
    public static func rename(_ path: String, to newPath: String) throws(SystemError) {
        guard Glibc.rename(path, newPath) == 0 else { throw .last("rename", path: path) }
    }

    /// The effective uid of the process (geteuid).
    public static var effectiveUID: UInt32 { geteuid() }

    /// The real uid of the process (getuid): whose jobs a client shows as its own.
    public static var realUID: UInt32 { getuid() }
}
