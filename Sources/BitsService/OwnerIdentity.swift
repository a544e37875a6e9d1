import CSystem
import Foundation
import BitsCore

/// The credentials file work runs with: a job owner's uid, primary gid and supplementary
/// groups, looked up from the user database.
public struct OwnerIdentity: Sendable, Equatable {
    public let uid: UInt32
    public let gid: UInt32
    public let groups: [UInt32]

    public init(uid: UInt32, gid: UInt32, groups: [UInt32]) {
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }

    /// Looks up `uid` in the user database. Fails closed: an unknown uid gets no identity.
    public static func lookup(uid: UInt32) throws -> OwnerIdentity {
        if uid == 0 { return OwnerIdentity(uid: 0, gid: 0, groups: []) }
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        let rc = getpwuid_r(uid_t(uid), &pwd, &buffer, buffer.count, &result)
        guard rc == 0, result != nil, let name = pwd.pw_name else {
            throw ServiceError.accessDenied("User \(uid) has no entry in the user database, so no file can be accessed on its behalf.")
        }
        let gid = pwd.pw_gid
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, gid, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            guard getgrouplist(name, gid, &groups, &count) >= 0 else {
                throw ServiceError.accessDenied("The groups of user \(uid) could not be determined.")
            }
        }
        return OwnerIdentity(uid: uid, gid: gid, groups: Array(groups.prefix(Int(count))).map { UInt32($0) })
    }

    /// Runs `body` on the calling thread with this identity as the thread's filesystem
    /// identity (fsuid, fsgid, groups), then restores root's. Only this thread is affected,
    /// and `body` must not suspend. uid 0 runs `body` unchanged.
    public func perform<T>(_ body: () throws -> T) throws -> T {
        if uid == 0 { return try body() }
        let gids = groups.map { gid_t($0) }
        let rc = gids.withUnsafeBufferPointer { buffer in
            bits_thread_set_fs_identity(uid_t(uid), gid_t(gid), buffer.baseAddress, buffer.count)
        }
        defer {
            // Failing to restore would leave a pool thread with a user's identity: stop hard.
            if bits_thread_reset_fs_identity() != 0 { fatalError("could not restore the thread's filesystem identity") }
        }
        guard rc == 0 else {
            throw ServiceError.accessDenied("Could not take on the identity of user \(uid): \(String(cString: strerror(errno))).")
        }
        return try body()
    }
}
