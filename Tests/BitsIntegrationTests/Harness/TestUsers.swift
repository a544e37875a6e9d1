import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An unprivileged local account used as a D-Bus client.
struct TestUser: Equatable, CustomStringConvertible {
    let name: String
    let uid: UInt32
    let gid: UInt32
    /// A directory owned by the user (mode 0755) inside the test's temp tree; downloads go here.
    let home: String
    var description: String { "\(name)(\(uid))" }
}

/// Creates `bitstest-alice` and `bitstest-bob` if missing, deletes them afterwards if it created
/// them (or a killed earlier run did: recognised by the GECOS marker). Other existing accounts of
/// those names are reused, not deleted.
final class TestUsers {
    /// alice and bob are ordinary users; carol is made an administrator by a polkit rule the
    /// harness installs (see TestPolkit), never by uid 0.
    static let names = ["bitstest-alice", "bitstest-bob", "bitstest-carol"]

    private(set) var users: [String: TestUser] = [:]
    private var created: [String] = []

    init(homeRoot: String) throws {
        try FileManager.default.createDirectory(atPath: homeRoot, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        chmod(homeRoot, 0o755)
        for name in Self.names {
            let home = "\(homeRoot)/\(name)"
            if Self.lookup(name) == nil {
                try ProcessRunner.mustRun(["/usr/sbin/useradd", "--create-home", "--home-dir", home,
                                           "--shell", "/bin/sh", "--user-group", "--comment", Self.marker, name])
                created.append(name)
            } else if Self.gecos(name) == Self.marker {
                // Left behind by a run that was killed before its cleanup: ours to delete.
                created.append(name)
            }
            guard let (uid, gid) = Self.lookup(name) else { throw HarnessError("user \(name) missing after useradd") }
            // The account may pre-exist with another home: the test directory is ours either way.
            try? FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
            chown(home, uid, gid)
            chmod(home, 0o755)
            users[name] = TestUser(name: name, uid: uid, gid: gid, home: home)
        }
    }

    var alice: TestUser { users["bitstest-alice"]! }
    var bob: TestUser { users["bitstest-bob"]! }
    var carol: TestUser { users["bitstest-carol"]! }

    /// GECOS field of accounts made by the harness.
    static let marker = "bitsd integration test user"

    static func gecos(_ name: String) -> String? {
        guard let pw = getpwnam(name), let g = pw.pointee.pw_gecos else { return nil }
        return String(cString: g)
    }

    static func lookup(_ name: String) -> (UInt32, UInt32)? {
        guard let pw = getpwnam(name) else { return nil }
        return (pw.pointee.pw_uid, pw.pointee.pw_gid)
    }

    /// Deletes the accounts this instance created (and their homes). Idempotent.
    func remove() {
        for name in created.reversed() {
            // Processes of the user (listeners, clients) must be gone first; they are stopped by
            // pid before this runs. userdel -r also removes the mail spool and the home.
            _ = try? ProcessRunner.run(["/usr/sbin/userdel", "-r", name], timeout: 30)
            if Self.lookup(name) != nil {
                _ = try? ProcessRunner.run(["/usr/sbin/userdel", "-f", "-r", name], timeout: 30)
            }
        }
        created.removeAll()
    }
}
