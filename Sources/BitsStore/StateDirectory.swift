import Foundation

/// The daemon's state directory (`/var/lib/bits` by default): it holds the queue database,
/// which contains credentials, so only root may read it. `prepare` creates it with mode 0700,
/// narrows a wider mode (and the database files' modes to 0600), and refuses a directory that
/// is not a real directory owned by the daemon's user.
public enum StateDirectory {
    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    /// Creates or checks `path`. Returns one line for each thing it had to fix.
    @discardableResult
    public static func prepare(_ path: String, databaseFiles: [String]) throws -> [String] {
        var fixes: [String] = []
        var st = stat()
        if lstat(path, &st) != 0 {
            guard errno == ENOENT else { throw Problem(description: "Cannot inspect state directory '\(path)': \(String(cString: strerror(errno))).") }
            let parent = (path as NSString).deletingLastPathComponent
            if !parent.isEmpty, !FileManager.default.fileExists(atPath: parent) {
                try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o755])
            }
            guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
                throw Problem(description: "Cannot create state directory '\(path)': \(String(cString: strerror(errno))).")
            }
            guard lstat(path, &st) == 0 else { throw Problem(description: "State directory '\(path)' vanished.") }
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw Problem(description: "State directory '\(path)' is not a directory (a symlink or file is refused).")
        }
        guard st.st_uid == geteuid() else {
            throw Problem(description: "State directory '\(path)' belongs to uid \(st.st_uid), not to the daemon's uid \(geteuid()); refusing to keep secrets there.")
        }
        if st.st_mode & 0o077 != 0 {
            guard chmod(path, 0o700) == 0 else {
                throw Problem(description: "State directory '\(path)' has mode \(String(st.st_mode & 0o7777, radix: 8)) and cannot be narrowed to 0700.")
            }
            fixes.append("state directory '\(path)' had mode \(String(st.st_mode & 0o7777, radix: 8)); narrowed to 0700")
        }
        for name in databaseFiles {
            let file = path + "/" + name
            guard lstat(file, &st) == 0 else { continue }
            guard (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == geteuid() else {
                throw Problem(description: "'\(file)' is not a regular file of the daemon's uid; refusing to open it.")
            }
            if st.st_mode & 0o077 != 0 {
                guard chmod(file, 0o600) == 0 else {
                    throw Problem(description: "'\(file)' has mode \(String(st.st_mode & 0o7777, radix: 8)) and cannot be narrowed to 0600.")
                }
                fixes.append("'\(file)' had mode \(String(st.st_mode & 0o7777, radix: 8)); narrowed to 0600")
            }
        }
        return fixes
    }
}
