import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Files are made as the owner would make them (issue 16): the mode the owner's umask gives
/// (or the directory's default ACL), as `curl -o` would; written without root's privileges,
/// so the blocks a file system keeps for root stay out of a user's reach; credentials are the
/// owner's or nobody's.
final class OwnerRightsTests: BitsTestCase {

    /// Adds a file through busctl run by `user` under `umask` (the caller's process is the one
    /// whose umask counts).
    func addFile(as user: TestUser, umask: String, job: String, url: String, local: String) throws {
        let command = "umask \(umask); exec /usr/bin/busctl --address='\(env.address)' call org.example.Bits '\(job)' "
            + "org.example.Bits.Job AddFile ss '\(url)' '\(local)'"
        let r = try ProcessRunner.run(["/bin/sh", "-c", command], as: user, timeout: 20)
        XCTAssertEqual(r.status, 0, "busctl AddFile under umask \(umask): \(r.stdout) \(r.stderr)")
    }

    func mode(_ path: String) -> UInt32? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return UInt32(st.st_mode) & 0o7777
    }

    func testCompletedFilesGetTheModeOfTheOwnersUmask() throws {
        let dir = try downloadDirectory(alice)
        for highPerformance in [false, true] {
            for (umask, expected) in [("022", 0o644), ("077", 0o600), ("002", 0o664)] as [(String, UInt32)] {
                let job = try createJob(as: alice, name: "umask \(umask)")
                if highPerformance { try mustSetProperty(as: alice, job, "HighPerformance", type: "b", value: true) }
                try mustSetProperty(as: alice, job, "Priority", type: "s", value: "foreground")
                let local = "\(dir)/m\(umask)-\(highPerformance).bin"
                try addFile(as: alice, umask: umask, job: job, url: http.url("/small.bin"), local: local)
                try resume(as: alice, job: job)
                try waitForState(as: alice, job: job, ["transferred"], timeout: 15)
                try complete(as: alice, job: job)
                XCTAssertEqual(mode(local).map { String($0, radix: 8) }, String(expected, radix: 8),
                               "umask \(umask), HighPerformance \(highPerformance)")
                XCTAssertEqual(TestFiles.owner(local)?.uid, alice.uid)
            }
        }
    }

    func testADefaultACLOfTheDirectoryApplies() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setfacl") else {
            throw XCTSkip("setfacl is not installed (apt-get install acl)")
        }
        let dir = try downloadDirectory(alice, "acl")
        try ProcessRunner.mustRun(["/usr/bin/setfacl", "-d", "-m", "u:\(bob.name):rw,m::rw", dir], as: alice)
        let job = try createJob(as: alice, name: "acl")
        try mustSetProperty(as: alice, job, "Priority", type: "s", value: "foreground")
        let local = "\(dir)/shared.bin"
        try addFile(as: alice, umask: "077", job: job, url: http.url("/small.bin"), local: local)
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["transferred"], timeout: 15)
        try complete(as: alice, job: job)
        let acl = try ProcessRunner.mustRun(["/usr/bin/getfacl", "-cp", local]).stdout
        XCTAssertTrue(acl.contains("user:\(bob.name):rw-"), "the default ACL was not inherited:\n\(acl)")
        // As with `curl -o`: a default ACL replaces the umask, so bob can read alice's download.
        let read = try ProcessRunner.run(["/bin/cat", local], as: bob)
        XCTAssertEqual(read.status, 0, "bob could not read the file the default ACL gives him: \(read.stderr)")
    }

    /// A file system with half its blocks reserved for root: a user's download stops with
    /// disk-full where the user's own writes would, instead of eating root's reserve.
    func testADownloadCannotUseTheBlocksReservedForRoot() throws {
        let work = NSTemporaryDirectory() + "bitsd-reserved-\(UUID().uuidString.prefix(6))"
        let image = "\(work).img"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer {
            _ = try? ProcessRunner.run(["/bin/umount", work])
            try? FileManager.default.removeItem(atPath: work)
            try? FileManager.default.removeItem(atPath: image)
        }
        try ProcessRunner.mustRun(["/usr/bin/truncate", "-s", "32M", image])
        try ProcessRunner.mustRun(["/usr/sbin/mkfs.ext4", "-q", "-F", "-m", "50", image])
        let mounted = try ProcessRunner.run(["/bin/mount", "-o", "loop", image, work])
        guard mounted.status == 0 else { throw XCTSkip("cannot mount a loop device here: \(mounted.stderr)") }
        let dir = "\(work)/dl"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        chown(dir, alice.uid, alice.gid)
        // What alice may write at most: the free blocks above root's reserve.
        var fs = statvfs()
        XCTAssertEqual(statvfs(dir, &fs), 0)
        let userSpace = UInt64(fs.f_bavail) * UInt64(fs.f_frsize)
        let rootSpace = UInt64(fs.f_bfree) * UInt64(fs.f_frsize)
        XCTAssertGreaterThan(rootSpace, userSpace + (8 << 20), "the image has no real reserve")
        let size = userSpace + (4 << 20)  // fits root's reserve, not alice's share
        let job = try createJob(as: alice, name: "reserved blocks")
        try mustSetProperty(as: alice, job, "Priority", type: "s", value: "foreground")
        try mustSetProperty(as: alice, job, "HighPerformance", type: "b", value: true)
        _ = try addFile(as: alice, job: job, url: http.url("/_gen/\(size)"), local: "\(dir)/big.bin")
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["transient-error", "error"], timeout: 30, failOn: ["transferred"])
        let diagnostics = try jobDiagnostics(job)
        XCTAssertEqual(try property(as: alice, job, "ErrorCode").string, "disk-full", diagnostics)
        try cancel(as: alice, job: job)
    }

    /// NTLM and Negotiate without a user name would be the daemon's own identity.
    func testImplicitNegotiateAndNTLMCredentialsAreRefused() throws {
        let job = try createJob(as: alice, name: "implicit credentials")
        for scheme in ["negotiate", "ntlm"] {
            for target in ["server", "proxy"] {
                assertError(try call(as: alice, job, BitsNames.job, "SetCredentials", "ssss", [target, scheme, "", ""]),
                            [BitsNames.notSupported], mentioning: [scheme], "\(target)/\(scheme) without a user name")
            }
            _ = try mustCall(as: alice, job, BitsNames.job, "SetCredentials", "ssss", ["server", scheme, "DOMAIN\\alice", "pw"])
        }
    }
}
