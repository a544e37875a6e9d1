import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Test files with known content, and checks on downloaded files.
enum TestFiles {
    /// Deterministic pseudo-random bytes (xorshift64*), different per seed.
    static func content(size: Int, seed: UInt64) -> Data {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        var bytes = [UInt8](repeating: 0, count: size)
        var i = 0
        while i < size {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            var v = state &* 0x2545_F491_4F6C_DD1D
            for _ in 0..<8 where i < size {
                bytes[i] = UInt8(truncatingIfNeeded: v)
                v >>= 8
                i += 1
            }
        }
        return Data(bytes)
    }

    /// Writes a file of `size` deterministic bytes, mode 0644; returns its sha256.
    @discardableResult
    static func create(at path: String, size: Int, seed: UInt64) throws -> String {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try content(size: size, seed: seed).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o644)
        return try sha256(path)
    }

    /// sha256 of a file through /usr/bin/sha256sum (Foundation has no SHA-256 on Linux).
    static func sha256(_ path: String) throws -> String {
        let r = try ProcessRunner.run(["/usr/bin/sha256sum", "--binary", path], timeout: 30)
        guard r.succeeded, let hex = r.stdout.split(separator: " ").first, hex.count == 64 else {
            throw HarnessError("sha256sum \(path) failed: \(r.summary)")
        }
        return String(hex)
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    static func owner(_ path: String) -> (uid: UInt32, gid: UInt32)? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (st.st_uid, st.st_gid)
    }

    static func size(_ path: String) -> Int? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return Int(st.st_size)
    }

    /// Names in a directory (empty when it does not exist).
    static func listing(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }

    /// A fresh directory owned by `user` (mode 0755) under the user's test home.
    static func makeUserDirectory(_ user: TestUser, _ name: String) throws -> String {
        let dir = "\(user.home)/\(name)"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        chown(dir, user.uid, user.gid)
        chmod(dir, 0o755)
        return dir
    }
}
