import BitsSystem

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
        let st: FileStatus
        do throws(SystemError) {
            st = try SystemPaths.linkStatus(path)
        } catch {
            guard error.code == Errno.noEntry else { throw Problem(description: "Cannot inspect state directory '\(path)': \(error.text).") }
            let parent = parentDirectory(of: path)
            if !parent.isEmpty, (try? SystemPaths.linkStatus(parent)) == nil {
                // A user's missing ~/.local/state is made 0700 as the XDG base directory
                // specification asks; root's /var/lib-like parents stay 0755.
                try makeDirectories(parent, mode: SystemPaths.effectiveUID == 0 ? 0o755 : 0o700)
            }
            do throws(SystemError) {
                try SystemPaths.makeDirectory(path, mode: 0o700)
            } catch where error.code != Errno.exists {
                throw Problem(description: "Cannot create state directory '\(path)': \(error.text).")
            } catch {}
            guard let created = try? SystemPaths.linkStatus(path) else { throw Problem(description: "State directory '\(path)' vanished.") }
            st = created
        }
        let uid = SystemPaths.effectiveUID
        guard st.type == .directory else {
            throw Problem(description: "State directory '\(path)' is not a directory (a symlink or file is refused).")
        }
        guard st.uid == uid else {
            throw Problem(description: "State directory '\(path)' belongs to uid \(st.uid), not to the daemon's uid \(uid); refusing to keep secrets there.")
        }
        if st.permissions & 0o077 != 0 {
            guard (try? SystemPaths.setPermissions(path, 0o700)) != nil else {
                throw Problem(description: "State directory '\(path)' has mode \(String(st.permissions, radix: 8)) and cannot be narrowed to 0700.")
            }
            fixes.append("state directory '\(path)' had mode \(String(st.permissions, radix: 8)); narrowed to 0700")
        }
        for name in databaseFiles {
            let file = path + "/" + name
            guard let st = try? SystemPaths.linkStatus(file) else { continue }
            guard st.type == .regular, st.uid == uid else {
                throw Problem(description: "'\(file)' is not a regular file of the daemon's uid; refusing to open it.")
            }
            if st.permissions & 0o077 != 0 {
                guard (try? SystemPaths.setPermissions(file, 0o600)) != nil else {
                    throw Problem(description: "'\(file)' has mode \(String(st.permissions, radix: 8)) and cannot be narrowed to 0600.")
                }
                fixes.append("'\(file)' had mode \(String(st.permissions, radix: 8)); narrowed to 0600")
            }
        }
        return fixes
    }

    /// `path` without its last component ("/a/b" → "/a", "/a" → "/", "a" → "").
    static func parentDirectory(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "" }
        let parent = trimmed[..<slash]
        return parent.isEmpty ? "/" : String(parent)
    }

    /// Creates `path` and every missing directory above it, each with exactly `mode`.
    private static func makeDirectories(_ path: String, mode: UInt32) throws {
        let parent = parentDirectory(of: path)
        if !parent.isEmpty, parent != path, (try? SystemPaths.linkStatus(parent)) == nil {
            try makeDirectories(parent, mode: mode)
        }
        do throws(SystemError) {
            try SystemPaths.makeDirectory(path, mode: mode)
            try SystemPaths.setPermissions(path, mode)  // not narrowed by the umask
        } catch where error.code == Errno.exists {
        } catch {
            throw Problem(description: "Cannot create directory '\(path)': \(error.text).")
        }
    }
}
