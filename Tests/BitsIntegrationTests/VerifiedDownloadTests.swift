import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Verified downloads (issue 19 item 1): a File's `ExpectedHash` (also through
/// `AddFilesWithHashes`), its `Hash`, the server's RFC 9530 digest fields, one refetch from 0
/// after a mismatch and `hash-mismatch` after the second, resume across `kill -9` with the hash
/// still right, and bitsctl's `--sha256`. The fault server corrupts bytes and lies in digests.
final class VerifiedDownloadTests: BitsTestCase {
    var big: (size: Int, sha256: String) { env.files["big.bin"]! }
    let zeros = String(repeating: "0", count: 64)

    func addFilesWithHashes(as user: TestUser, _ job: String, _ triples: [[String]]) throws -> DBusResult {
        try call(as: user, job, BitsNames.job, "AddFilesWithHashes", "a(sss)", [triples])
    }

    func fileProperty(_ file: String, _ name: String, as user: TestUser? = nil) throws -> String {
        try property(as: user ?? alice, file, BitsNames.file, name).string ?? "<none>"
    }

    /// GET requests the server saw for `tag`.
    func gets(_ tag: String) throws -> [JSONValue] {
        try http.requests(tag: tag).filter { $0["method"]?.string == "GET" }
    }

    // MARK: - The properties and their checks

    func testExpectedHashIsValidatedNormalizedAndPrivate() throws {
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "hashes")
        let upper = "sha256:" + big.sha256.uppercased()
        let r = try addFilesWithHashes(as: alice, job, [[http.url("/big.bin"), "\(dir)/a.bin", upper],
                                                         [http.url("/small.bin"), "\(dir)/b.bin", ""]])
        guard let files = r.first?.stringArray, files.count == 2 else { return XCTFail("AddFilesWithHashes: \(r)") }
        XCTAssertEqual(try fileProperty(files[0], "ExpectedHash"), "sha256:" + big.sha256, "normalized to lower case")
        XCTAssertEqual(try fileProperty(files[1], "ExpectedHash"), "")
        XCTAssertEqual(try fileProperty(files[0], "Hash"), "", "no Hash before the file is transferred")

        // Every malformed value is InvalidArgs naming it; nothing changes.
        for bad in ["sha256:" + big.sha256.dropLast(), "md5:d41d8cd98f00b204e9800998ecf8427e", "sha256:" + zeros + "0",
                    "sha256:" + zeros.dropLast() + "z", "sha512:" + zeros, "SHA256:" + zeros, " sha256:" + zeros] {
            let set = try setProperty(as: alice, files[1], BitsNames.file, "ExpectedHash", type: "s", value: bad)
            assertError(set, [BitsNames.invalidArgs], mentioning: [String(bad.prefix(40))], "ExpectedHash \(bad)")
        }
        XCTAssertEqual(try fileProperty(files[1], "ExpectedHash"), "")
        let sha512 = "sha512:" + String(repeating: "Ab", count: 64)
        XCTAssertNil(try setProperty(as: alice, files[1], BitsNames.file, "ExpectedHash", type: "s", value: sha512).errorName)
        XCTAssertEqual(try fileProperty(files[1], "ExpectedHash"), sha512.lowercased())
        XCTAssertNil(try setProperty(as: alice, files[1], BitsNames.file, "ExpectedHash", type: "s", value: "").errorName)

        // All or none: one bad triple adds nothing.
        let bad = try addFilesWithHashes(as: alice, job, [[http.url("/small.bin"), "\(dir)/c.bin", ""],
                                                           [http.url("/small.bin"), "\(dir)/d.bin", "sha256:xyz"]])
        assertError(bad, [BitsNames.invalidArgs], mentioning: ["sha256:xyz"], "AddFilesWithHashes with a bad hash")
        XCTAssertEqual(try property(as: alice, job, "FilesTotal").uint64, 2)

        // Another user sees nothing.
        let other = try getProperty(as: bob, files[0], BitsNames.file, "ExpectedHash")
        XCTAssertNotNil(other.errorName, "bob read alice's ExpectedHash: \(other)")
        let otherSet = try setProperty(as: bob, files[0], BitsNames.file, "ExpectedHash", type: "s", value: "")
        XCTAssertNotNil(otherSet.errorName, "bob set alice's ExpectedHash: \(otherSet)")

        // Uploads take no ExpectedHash.
        let upload = try createJob(as: alice, name: "upload", type: "upload")
        let source = "\(dir)/up.bin"
        _ = try TestFiles.create(at: source, size: 10, seed: 7)
        chown(source, alice.uid, alice.gid)
        let refused = try addFilesWithHashes(as: alice, upload, [[http.url("/up.bin"), source, "sha256:" + zeros]])
        assertError(refused, [BitsNames.notSupported], "AddFilesWithHashes on an upload job")
    }

    // MARK: - Downloads

    func testMatchingHashIsPublishedAndHashRecorded() throws {
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "verified")
        let r = try addFilesWithHashes(as: alice, job, [[http.url("/big.bin"), "\(dir)/big.bin", "sha256:" + big.sha256],
                                                         [http.url("/small.bin"), "\(dir)/small.bin", ""]])
        let files = try XCTUnwrap(r.first?.stringArray)
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, state: "transferred")
        XCTAssertEqual(try fileProperty(files[0], "Hash"), "sha256:" + big.sha256)
        // Computed anyway, without an ExpectedHash.
        XCTAssertEqual(try fileProperty(files[1], "Hash"), "sha256:" + env.files["small.bin"]!.sha256)
        // Settable only until the file is transferred.
        let late = try setProperty(as: alice, files[0], BitsNames.file, "ExpectedHash", type: "s", value: "")
        assertError(late, [BitsNames.invalidState], "ExpectedHash after the transfer")
        try complete(as: alice, job: job)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/big.bin"), big.sha256)
    }

    /// A file:// source is hashed as it is copied, too (on its copy thread's hasher).
    func testFileURLIsHashedToo() throws {
        let srcDir = "\(env.directory)/pub-\(UUID().uuidString.prefix(8))"
        let sha = try TestFiles.create(at: "\(srcDir)/public.bin", size: 3_000_001, seed: 19)
        chmod(srcDir, 0o755)
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "file url hashed")
        let files = try XCTUnwrap(try addFilesWithHashes(as: alice, job, [
            ["file://\(srcDir)/public.bin", "\(dir)/good.bin", "sha256:" + sha],
        ]).first?.stringArray)
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, state: "transferred")
        XCTAssertEqual(try fileProperty(files[0], "Hash"), "sha256:" + sha)
        try complete(as: alice, job: job)
        // The wrong hash for the same source: two copies, then hash-mismatch.
        let bad = try createJob(as: alice, name: "file url, wrong hash")
        _ = try addFilesWithHashes(as: alice, bad, [["file://\(srcDir)/public.bin", "\(dir)/bad.bin", "sha256:" + zeros]])
        try resume(as: alice, job: bad)
        try waitForState(as: alice, job: bad, ["error"], failOn: ["transferred", "cancelled", "acknowledged"])
        XCTAssertEqual(try property(as: alice, bad, "ErrorCode").string, "hash-mismatch")
        try cancel(as: alice, job: bad)
    }

    func testCorruptOnceIsFetchedAgainFromZero() throws {
        let dir = try downloadDirectory(alice)
        let tag = "corrupt-once-\(UUID().uuidString.prefix(8))"
        let url = http.url("/big.bin", [("fault", "corrupt"), ("after", "1000000"), ("times", "1")], tag: tag)
        let job = try createJob(as: alice, name: "corrupt once")
        let file = try XCTUnwrap(try addFilesWithHashes(as: alice, job, [[url, "\(dir)/big.bin", "sha256:" + big.sha256]]).first?.stringArray?.first)
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, state: "transferred")
        let requests = try gets(tag)
        XCTAssertEqual(requests.count, 2, "one refetch: \(requests)")
        XCTAssertNil(requests.last?["range"]?.string, "the refetch starts at byte 0: \(requests)")
        XCTAssertEqual(try fileProperty(file, "Hash"), "sha256:" + big.sha256)
        XCTAssertEqual(try property(as: alice, job, "ErrorCount").uint64, 0)
        try complete(as: alice, job: job)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/big.bin"), big.sha256)
    }

    func testCorruptAlwaysIsHashMismatchAndNothingIsPublished() throws {
        let dir = try downloadDirectory(alice)
        let tag = "corrupt-always-\(UUID().uuidString.prefix(8))"
        let url = http.url("/big.bin", [("fault", "corrupt"), ("after", "12345")], tag: tag)
        let job = try createJob(as: alice, name: "corrupt always")
        let file = try XCTUnwrap(try addFilesWithHashes(as: alice, job, [[url, "\(dir)/big.bin", "sha256:" + big.sha256]]).first?.stringArray?.first)
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["error"], failOn: ["transferred", "cancelled", "acknowledged"])
        XCTAssertEqual(try property(as: alice, job, "ErrorCode").string, "hash-mismatch")
        XCTAssertEqual(try property(as: alice, job, "ErrorContext").string, "remote-file")
        XCTAssertEqual(try property(as: alice, job, "ErrorFile").string, file)
        let description = try property(as: alice, job, "ErrorDescription").string ?? ""
        XCTAssertTrue(description.contains("big.bin"), description)
        XCTAssertTrue(description.contains("sha256:" + big.sha256), "names the expected digest: \(description)")
        XCTAssertTrue(description.contains("computed sha256:"), "names the computed digest: \(description)")
        XCTAssertEqual(try gets(tag).count, 2, "fetched twice, then given up")
        XCTAssertEqual(try property(as: alice, file, BitsNames.file, "Completed").bool, false)
        XCTAssertEqual(try fileProperty(file, "Hash"), "")
        try complete(as: alice, job: job)
        XCTAssertFalse(TestFiles.exists("\(dir)/big.bin"), "a file that failed its hash was published")
        XCTAssertEqual(TestFiles.listing(dir), [], "left in \(dir)")
    }

    func testServerDigestFields() throws {
        let dir = try downloadDirectory(alice)
        // A lying Repr-Digest, no ExpectedHash: refetched once, then hash-mismatch.
        let lieTag = "lie-\(UUID().uuidString.prefix(8))"
        let liar = try createJob(as: alice, name: "lying digest")
        _ = try addFile(as: alice, job: liar, url: http.url("/big.bin", [("digest", "sha-256"), ("digest-lie", "1")], tag: lieTag),
                        local: "\(dir)/lie.bin")
        try resume(as: alice, job: liar)
        try waitForState(as: alice, job: liar, ["error"], failOn: ["transferred", "cancelled", "acknowledged"])
        XCTAssertEqual(try property(as: alice, liar, "ErrorCode").string, "hash-mismatch")
        XCTAssertTrue((try property(as: alice, liar, "ErrorDescription").string ?? "").contains("digest field"))
        XCTAssertEqual(try gets(lieTag).count, 2)
        try cancel(as: alice, job: liar)

        // Truthful fields (Repr-Digest sha-256; Content-Digest with sha-256 and sha-512; sha-512
        // alone) and a malformed one (ignored) all pass.
        let job = try createJob(as: alice, name: "digest fields")
        let variants: [[(String, String)]] = [
            [("digest", "sha-256")],
            [("digest", "sha-256,sha-512"), ("digest-field", "Content-Digest")],
            [("digest", "sha-512")],
            [("digest-raw", "sha-256=:not%20base64:")],
        ]
        var triples: [[String]] = []
        for (n, query) in variants.enumerated() {
            triples.append([http.url("/big.bin", query), "\(dir)/ok\(n).bin", n == 2 ? "" : "sha256:" + big.sha256])
        }
        XCTAssertNotNil(try addFilesWithHashes(as: alice, job, triples).first?.stringArray)
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, state: "transferred")
        XCTAssertEqual(try property(as: alice, job, "ErrorCount").uint64, 0)
        try complete(as: alice, job: job)
        for n in variants.indices { XCTAssertEqual(try TestFiles.sha256("\(dir)/ok\(n).bin"), big.sha256) }
    }

    func testResumeAcrossKill9KeepsTheHashRight() throws {
        let dir = try downloadDirectory(alice)
        let tag = "hash-crash-\(UUID().uuidString.prefix(8))"
        let url = http.url("/big.bin", [("rate", "300000")], tag: tag)
        let job = try createJob(as: alice, name: "hash across kill -9")
        try mustSetProperty(as: alice, job, "Priority", type: "s", value: "foreground")
        let file = try XCTUnwrap(try addFilesWithHashes(as: alice, job, [[url, "\(dir)/big.bin", "sha256:" + big.sha256]]).first?.stringArray?.first)
        try resume(as: alice, job: job)
        // Wait until a good part is on disk (and its validators stored), then kill -9.
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, (try property(as: alice, file, BitsNames.file, "BytesTransferred").uint64 ?? 0) < 500_000 {
            usleep(100_000)
        }
        usleep(1_200_000)  // a progress checkpoint
        daemon.crash()
        try daemon.start()
        try waitForState(as: alice, job: job, state: "transferred", timeout: 60)
        let requests = try gets(tag)
        let ranges = requests.compactMap { $0["range"]?.string }
        XCTAssertFalse(ranges.isEmpty, "the download resumed with a Range after kill -9: \(requests)")
        XCTAssertEqual(try fileProperty(file, "Hash"), "sha256:" + big.sha256, "the prefix on disk was hashed on resume")
        try complete(as: alice, job: job)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/big.bin"), big.sha256)
    }

    func testHighPerformanceFileThatFailsItsHashIsEmptied() throws {
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "high performance, corrupt")
        try mustSetProperty(as: alice, job, "HighPerformance", type: "b", value: true)
        let url = http.url("/big.bin", [("fault", "corrupt"), ("after", "777")])
        _ = try XCTUnwrap(try addFilesWithHashes(as: alice, job, [[url, "\(dir)/big.bin", "sha256:" + big.sha256]]).first?.stringArray)
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["error"], failOn: ["transferred", "cancelled", "acknowledged"])
        XCTAssertEqual(try property(as: alice, job, "ErrorCode").string, "hash-mismatch")
        XCTAssertEqual(TestFiles.size("\(dir)/big.bin"), 0, "the destination keeps nothing that failed its hash")
        try cancel(as: alice, job: job)
    }

    /// The README's busctl lines, as alice: AddFilesWithHashes, then the file's Hash.
    func testBusctlExample() throws {
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "busctl hashes")
        let busctl = "/usr/bin/busctl --address='\(env.address)'"
        let add = "\(busctl) call org.example.Bits '\(job)' org.example.Bits.Job AddFilesWithHashes 'a(sss)' 1 "
            + "'\(http.url("/big.bin"))' '\(dir)/a.bin' sha256:\(big.sha256)"
        let added = try ProcessRunner.run(["/bin/sh", "-c", add], as: alice, timeout: 20)
        XCTAssertEqual(added.status, 0, added.summary)
        XCTAssertTrue(added.stdout.contains("\(job)/files/0"), added.summary)
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, state: "transferred")
        let get = "\(busctl) get-property org.example.Bits '\(job)/files/0' org.example.Bits.File Hash"
        let hash = try ProcessRunner.run(["/bin/sh", "-c", get], as: alice, timeout: 20)
        XCTAssertEqual(hash.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "s \"sha256:\(big.sha256)\"", hash.summary)
        try complete(as: alice, job: job)
    }

    // MARK: - bitsctl

    func testBitsctlSha256() throws {
        let dir = try downloadDirectory(alice)
        let good = try bitsctl(["transfer", "--sha256", big.sha256.uppercased(), http.url("/big.bin"), "\(dir)/good.bin"])
        XCTAssertTrue(good.succeeded, good.summary)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/good.bin"), big.sha256)

        let bad = try bitsctl(["transfer", "--sha256", zeros, http.url("/big.bin"), "\(dir)/bad.bin"])
        XCTAssertEqual(bad.status, 1, bad.summary)
        XCTAssertTrue((bad.stdout + bad.stderr).contains("hash-mismatch"), bad.summary)
        XCTAssertFalse(TestFiles.exists("\(dir)/bad.bin"))

        let invalid = try bitsctl(["transfer", "--sha256", "abc", http.url("/big.bin"), "\(dir)/x.bin"])
        XCTAssertEqual(invalid.status, 64, invalid.summary)

        let job = try bitsctl(["create", "add-file with a hash"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let added = try bitsctl(["add-file", "--sha256", big.sha256, job, http.url("/big.bin"), "\(dir)/later.bin"])
        XCTAssertTrue(added.succeeded, added.summary)
        XCTAssertTrue(try bitsctl(["resume", job]).succeeded)
        XCTAssertTrue(try bitsctl(["wait", job], timeout: 60).succeeded)
        let info = try bitsctl(["info", job])
        XCTAssertTrue(info.stdout.contains("ExpectedHash: sha256:\(big.sha256)"), info.summary)
        XCTAssertTrue(info.stdout.contains("Hash: sha256:\(big.sha256)"), info.summary)
        let files = try json(["files", "--json", job])
        XCTAssertTrue("\(files)".contains("sha256:\(big.sha256)"), "\(files)")
        XCTAssertTrue(try bitsctl(["complete", job]).succeeded)
    }
}
