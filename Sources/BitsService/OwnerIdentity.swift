import BitsCore
import BitsSystem

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
        guard let entry = UserDatabase.user(uid: uid) else {
            throw ServiceError.accessDenied("User \(uid) has no entry in the user database, so no file can be accessed on its behalf.")
        }
        guard let groups = UserDatabase.groups(of: entry.name, gid: entry.gid) else {
            throw ServiceError.accessDenied("The groups of user \(uid) could not be determined.")
        }
        return OwnerIdentity(uid: uid, gid: entry.gid, groups: groups)
    }

    /// Runs `body` on the calling thread with this identity as the thread's filesystem
    /// identity (fsuid, fsgid, groups), then restores root's. Only this thread is affected,
    /// and `body` must not suspend. uid 0 runs `body` unchanged. A process that is not root
    /// (a per-user instance) already is its one user: it runs `body` unchanged for that user
    /// and refuses any other.
    public func perform<T: ~Copyable>(_ body: () throws -> T) throws -> T {
        let processUID = SystemPaths.effectiveUID
        if processUID != 0 {
            guard uid == processUID else {
                throw ServiceError.accessDenied("This bitsd runs as user \(processUID) and works for that user alone, not for user \(uid).")
            }
            return try body()
        }
        if uid == 0 { return try body() }
        do throws(SystemError) {
            try ThreadIdentity.set(uid: uid, gid: gid, groups: groups)
        } catch {
            // A step may have taken effect: back to root's before anything else.
            Self.restoreRoot()
            throw ServiceError.accessDenied("Could not take on the identity of user \(uid): \(error.text).")
        }
        defer { Self.restoreRoot() }
        return try body()
    }

    /// Failing to restore would leave a pool thread with a user's identity: stop hard.
    private static func restoreRoot() {
        do throws(SystemError) {
            try ThreadIdentity.reset()
        } catch {
            fatalError("could not restore the thread's filesystem identity: \(error)")
        }
    }
}
