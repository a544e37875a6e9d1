import Foundation
import XCTest

/// Invalid input gets the documented error, naming the offending value — and breaks nothing.
/// Each test first creates an unrelated "sentinel" job and checks at the end that it is intact
/// and that the daemon is still on the bus.
final class BadInputTests: BitsTestCase {
    private var sentinel: (job: String, file: String, local: String)?

    override func setUpWithError() throws {
        try super.setUpWithError()
        let dir = try downloadDirectory(alice, "sentinel")
        let job = try createJob(as: alice, name: "sentinel")
        let local = "\(dir)/sentinel.bin"
        let file = try addFile(as: alice, job: job, url: http.url("/small.bin"), local: local)
        sentinel = (job, file, local)
    }

    override func tearDown() {
        if let s = sentinel, runningDaemon != nil || sentinelDaemonDied() {
            XCTAssertNoThrow(try assertDaemonAlive())
            XCTAssertEqual(try? jobState(as: alice, s.job), "suspended", "the sentinel job changed state")
            XCTAssertEqual(try? property(as: alice, s.job, "DisplayName").string, "sentinel")
            XCTAssertEqual(try? property(as: alice, s.job, "FilesTotal").uint64, 1)
            XCTAssertEqual(try? property(as: alice, s.file, BitsNames.file, "LocalName").string, s.local)
        }
        sentinel = nil
        super.tearDown()
    }

    /// The daemon died during the test: report it (assertDaemonAlive fails) and skip the rest.
    private func sentinelDaemonDied() -> Bool {
        XCTFail("bitsd is not running any more after this test")
        return false
    }

    private func newJob() throws -> (job: String, dir: String) {
        (try createJob(as: alice, name: "bad input"), try downloadDirectory(alice))
    }

    func testRelativeLocalPath() throws {
        let (job, _) = try newJob()
        let r = try call(as: alice, job, BitsNames.job, "AddFile", "ss", [http.url("/small.bin"), "relative/dir/file.bin"])
        assertError(r, [BitsNames.invalidArgs], mentioning: ["relative/dir/file.bin"], "relative local path")
        XCTAssertEqual(try property(as: alice, job, "FilesTotal").uint64, 0)
    }

    func testNonexistentDirectory() throws {
        let (job, dir) = try newJob()
        let path = "\(dir)/no-such-dir-\(UUID().uuidString.prefix(6))/file.bin"
        let r = try call(as: alice, job, BitsNames.job, "AddFile", "ss", [http.url("/small.bin"), path])
        assertError(r, [BitsNames.invalidArgs, BitsNames.accessDenied], mentioning: ["no-such-dir"], "nonexistent directory")
        XCTAssertEqual(try property(as: alice, job, "FilesTotal").uint64, 0)
    }

    func testDirectoriesTheOwnerCannotWrite() throws {
        let (job, _) = try newJob()
        for (path, dir) in [("/root/bitstest-x.bin", "/root"), ("/etc/bitstest-x.bin", "/etc")] {
            let r = try call(as: alice, job, BitsNames.job, "AddFile", "ss", [http.url("/small.bin"), path])
            assertError(r, [BitsNames.accessDenied], mentioning: [dir], "AddFile to \(path)")
            XCTAssertFalse(TestFiles.exists(path), "\(path) was created")
        }
        XCTAssertEqual(try property(as: alice, job, "FilesTotal").uint64, 0)
    }

    func testUnsupportedURLSchemes() throws {
        let (job, dir) = try newJob()
        for (url, scheme) in [("ftp://127.0.0.1/x.bin", "ftp"), ("gopher://127.0.0.1/x", "gopher"),
                              ("not a url", "not a url")] {
            let r = try call(as: alice, job, BitsNames.job, "AddFile", "ss", [url, "\(dir)/x.bin"])
            assertError(r, [BitsNames.invalidArgs], mentioning: [scheme], "AddFile(\(url))")
        }
        XCTAssertEqual(try property(as: alice, job, "FilesTotal").uint64, 0)
    }

    func testOverlongDisplayNameAndDescription() throws {
        let long257 = String(repeating: "n", count: 257)
        assertError(try call(as: alice, BitsNames.managerPath, BitsNames.manager, "CreateJob", "ss", [long257, "download"]),
                    [BitsNames.invalidArgs], mentioningAny: ["256", "257", "display"], "CreateJob(257-char name)")
        let (job, _) = try newJob()
        assertError(try setProperty(as: alice, job, "DisplayName", type: "s", value: long257),
                    [BitsNames.invalidArgs], mentioningAny: ["256", "257", "display"], "Set DisplayName(257)")
        XCTAssertEqual(try property(as: alice, job, "DisplayName").string, "bad input")
        try mustSetProperty(as: alice, job, "DisplayName", type: "s", value: String(repeating: "n", count: 256))
        XCTAssertEqual(try property(as: alice, job, "DisplayName").string?.count, 256)

        assertError(try setProperty(as: alice, job, "Description", type: "s", value: String(repeating: "d", count: 1025)),
                    [BitsNames.invalidArgs], mentioningAny: ["1024", "1025", "description"], "Set Description(1025)")
        try mustSetProperty(as: alice, job, "Description", type: "s", value: String(repeating: "d", count: 1024))
        XCTAssertEqual(try property(as: alice, job, "Description").string?.count, 1024)
    }

    func testBadPriority() throws {
        let (job, _) = try newJob()
        assertError(try setProperty(as: alice, job, "Priority", type: "s", value: "urgent"),
                    [BitsNames.invalidArgs], mentioning: ["urgent"], "Priority=urgent")
        XCTAssertEqual(try property(as: alice, job, "Priority").string, "normal")
        try mustSetProperty(as: alice, job, "Priority", type: "s", value: "high")
        XCTAssertEqual(try property(as: alice, job, "Priority").string, "high")
    }

    func testBadJobType() throws {
        assertError(try call(as: alice, BitsNames.managerPath, BitsNames.manager, "CreateJob", "ss", ["x", "sideways"]),
                    [BitsNames.invalidArgs], mentioning: ["sideways"], "CreateJob type sideways")
    }

    func testMalformedAndUnknownGuids() throws {
        assertError(try call(as: alice, BitsNames.managerPath, BitsNames.manager, "GetJob", "s", ["not-a-guid"]),
                    [BitsNames.invalidArgs, BitsNames.notFound], mentioning: ["not-a-guid"], "GetJob(not-a-guid)")
        let unknown = UUID().uuidString.lowercased()
        assertError(try call(as: alice, BitsNames.managerPath, BitsNames.manager, "GetJob", "s", [unknown]),
                    [BitsNames.notFound], "GetJob(unknown GUID)")
    }

    func testResumeWithoutFilesIsEmpty() throws {
        let (job, _) = try newJob()
        assertError(try call(as: alice, job, BitsNames.job, "Resume"), [BitsNames.empty], "Resume with no files")
        XCTAssertEqual(try jobState(as: alice, job), "suspended")
    }

    func testCancelTwice() throws {
        let (job, _) = try newJob()
        try cancel(as: alice, job: job)
        assertError(try call(as: alice, job, BitsNames.job, "Cancel"),
                    [BitsNames.invalidState] + Self.goneErrors, "second Cancel")
        assertError(try call(as: alice, job, BitsNames.job, "Resume"),
                    [BitsNames.invalidState] + Self.goneErrors, "Resume after Cancel")
    }
}
