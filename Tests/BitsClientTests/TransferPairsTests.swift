@testable import bitsctl
import Foundation
import XCTest

final class TransferPairsTests: XCTestCase {
    private var directory = ""
    private var savedDirectory = ""

    override func setUpWithError() throws {
        let fm = FileManager.default
        savedDirectory = fm.currentDirectoryPath
        directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("bitsctl-pairs-\(UUID().uuidString)")
        try fm.createDirectory(atPath: directory + "/out", withIntermediateDirectories: true)
        // Relative names resolve against the current directory: make it a known one.
        XCTAssertTrue(fm.changeCurrentDirectoryPath(directory))
        directory = fm.currentDirectoryPath
    }

    override func tearDownWithError() throws {
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(savedDirectory))
        try? FileManager.default.removeItem(atPath: directory)
    }

    func testDownloadPairs() throws {
        let pairs = try TransferPairs.make(["https://example.org/a.iso", "/srv/a.iso",
                                            "https://example.org/b.iso", "b.iso"], direction: .download)
        XCTAssertEqual(flatten(pairs), [["https://example.org/a.iso", "/srv/a.iso"],
                                        ["https://example.org/b.iso", directory + "/b.iso"]])
    }

    func testRelativeLocalNamesBecomeAbsolute() throws {
        XCTAssertEqual(flatten(try TransferPairs.make(["https://e/a", "sub/../x/./a.bin"], direction: .download)),
                       [["https://e/a", directory + "/x/a.bin"]])
        XCTAssertEqual(absolutePath("/already/absolute"), "/already/absolute")
        XCTAssertEqual(absolutePath("plain"), directory + "/plain")
    }

    func testOddCountIsAnError() {
        XCTAssertEqual(thrownMessage { try TransferPairs.make(["https://e/a", "a", "https://e/b"], direction: .download) },
                       "3 arguments: give SOURCE DEST pairs, or URLs and an existing directory.")
    }

    func testTooFewArguments() {
        for paths in [[], ["https://e/a"]] {
            XCTAssertEqual(thrownMessage { try TransferPairs.make(paths, direction: .download) }, "Give a SOURCE and a DEST.")
            XCTAssertEqual(thrownMessage { try TransferPairs.make(paths, direction: .upload) }, "Give a SOURCE and a DEST.")
        }
    }

    func testURLsIntoAnExistingDirectoryTakeTheirBasenames() throws {
        let pairs = try TransferPairs.make(["https://example.org/x/a.iso", "https://example.org/b.tar.gz?sig=1#frag",
                                            "https://example.org/my%20file.txt", directory + "/out/"],
                                           direction: .download)
        XCTAssertEqual(flatten(pairs), [
            ["https://example.org/x/a.iso", directory + "/out/a.iso"],
            ["https://example.org/b.tar.gz?sig=1#frag", directory + "/out/b.tar.gz"],
            ["https://example.org/my%20file.txt", directory + "/out/my file.txt"],
        ])
    }

    func testOneURLIntoARelativeDirectory() throws {
        XCTAssertEqual(flatten(try TransferPairs.make(["https://example.org/a.iso", "out"], direction: .download)),
                       [["https://example.org/a.iso", directory + "/out/a.iso"]])
    }

    func testURLWithoutAFileNameIntoADirectory() {
        for url in ["https://example.org/", "https://example.org"] {
            XCTAssertEqual(thrownMessage { try TransferPairs.make([url, directory], direction: .download) },
                           "Cannot take a file name from \"\(url)\"; give SOURCE DEST pairs.")
        }
    }

    func testUploadTakesFileThenURL() throws {
        for direction in [Transfer.Direction.upload, .uploadReply] {
            XCTAssertEqual(flatten(try TransferPairs.make(["report.pdf", "https://example.org/upload"], direction: direction)),
                           [["https://example.org/upload", directory + "/report.pdf"]])
            XCTAssertEqual(flatten(try TransferPairs.make(["/srv/r.pdf", "https://example.org/upload"], direction: direction)),
                           [["https://example.org/upload", "/srv/r.pdf"]])
            XCTAssertEqual(thrownMessage { try TransferPairs.make(["a", "https://e/1", "b", "https://e/2"], direction: direction) },
                           "An upload job takes one file: FILE URL.")
        }
    }

    func testJobTypes() {
        XCTAssertEqual(Transfer.Direction.download.jobType, .download)
        XCTAssertEqual(Transfer.Direction.upload.jobType, .upload)
        XCTAssertEqual(Transfer.Direction.uploadReply.jobType, .uploadReply)
    }
}
