import CSystem
import Glibc

/// The calling thread's filesystem identity and context. Linux keeps fsuid, fsgid, the
/// supplementary groups (set with the raw syscall, unlike glibc's process-wide `setgroups`)
/// and, after `unshareFileSystemContext()`, the umask per thread.
public enum ThreadIdentity {
    /// Takes on `uid`, `gid` and `groups` as the calling thread's filesystem identity
    /// (groups first, then fsgid, then fsuid; each checked to have taken effect).
    public static func set(uid: UInt32, gid: UInt32, groups: [UInt32]) throws(SystemError) {
        let gids = groups.map { gid_t($0) }
        let rc = gids.withUnsafeBufferPointer { buffer in
            bits_thread_set_fs_identity(uid_t(uid), gid_t(gid), buffer.baseAddress, buffer.count)
        }
        guard rc == 0 else { throw .last("setfsuid/setfsgid/setgroups") }
    }

    /// Goes back to root's filesystem identity (uid 0, gid 0, no groups).
    public static func reset() throws(SystemError) {
        guard bits_thread_reset_fs_identity() == 0 else { throw .last("setfsuid/setfsgid/setgroups") }
    }

    /// unshare(CLONE_FS): the calling thread gets its own umask (and working directory).
    public static func unshareFileSystemContext() throws(SystemError) {
        guard bits_thread_unshare_fs() == 0 else { throw .last("unshare") }
    }

    /// umask(2): sets the mask and returns the previous one (after
    /// `unshareFileSystemContext()`, the calling thread's alone).
    public static func exchangeUmask(_ mask: UInt32) -> UInt32 { bits_thread_umask(mask) }

    /// Gives up root's file-system privileges on this thread for good (fsuid/fsgid 65534,
    /// CAP_SYS_RESOURCE not effective), so its `writeUnprivileged` calls are plain writes
    /// instead of switching identity around each one. For dedicated threads that only use
    /// descriptors opened elsewhere (the engine, local copies), never for pooled threads.
    /// False when it failed; the thread then keeps switching per write.
    @discardableResult
    public static func dropWritePrivileges() -> Bool { bits_thread_drop_write_privileges() == 0 }
}

/// The user database (NSS: /etc/passwd, /etc/group, LDAP…).
public enum UserDatabase {
    /// A user's name, primary group and home directory.
    public struct Entry: Sendable, Equatable {
        public let name: String
        public let gid: UInt32
        public let home: String
    }

    /// getpwuid_r: the entry of `uid`, or nil when there is none (or it cannot be read).
    public static func user(uid: UInt32) -> Entry? {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        let rc = getpwuid_r(uid_t(uid), &pwd, &buffer, buffer.count, &result)
        guard rc == 0, result != nil, let name = pwd.pw_name else { return nil }
        return Entry(name: String(cString: name), gid: pwd.pw_gid, home: pwd.pw_dir.map { String(cString: $0) } ?? "")
    }

    /// The home directory of `uid`, nil when unknown or empty.
    public static func home(uid: UInt32) -> String? {
        guard let home = user(uid: uid)?.home, !home.isEmpty else { return nil }
        return home
    }

    /// getgrouplist: every group of user `name` whose primary group is `gid` (`gid` included),
    /// or nil when they cannot be determined.
    public static func groups(of name: String, gid: UInt32) -> [UInt32]? {
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, gid, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            guard getgrouplist(name, gid, &groups, &count) >= 0 else { return nil }
        }
        return Array(groups.prefix(Int(count))).map { UInt32($0) }
    }
}
