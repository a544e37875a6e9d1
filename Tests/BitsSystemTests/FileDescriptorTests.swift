import BitsSystem
import Foundation
import XCTest

/// FileDescriptor owns its descriptor (closed exactly once: by `close()` or when it goes, never
/// after `take()`), a BorrowedDescriptor never closes, and failures are SystemErrors naming
/// the call, the path and errno.
final class FileDescriptorTests: XCTestCase {
    private var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "bits-system-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func isOpen(_ raw: Int32) -> Bool { FileDescriptor.name(of: raw) != nil }

    func testADescriptorIsClosedWhenItGoesAndNotAfterTake() throws {
        var raw: Int32 = -1
        do {
            let dir = try FileDescriptor.open(directory, [.readOnly, .directory, .closeOnExec])
            raw = dir.raw
            XCTAssertTrue(isOpen(raw))
        }
        XCTAssertFalse(isOpen(raw), "closed when the value went away")

        let dir = try FileDescriptor.open(directory, [.readOnly, .directory, .closeOnExec])
        let taken = dir.take()
        XCTAssertTrue(isOpen(taken), "take() hands the descriptor on without closing it")
        XCTAssertNoThrow(try BorrowedDescriptor(taken).status())
        XCTAssertTrue(isOpen(taken), "a borrowed descriptor is never closed")
        FileDescriptor.close(taken)
        XCTAssertFalse(isOpen(taken))
    }

    func testFilesAreCreatedWrittenRenamedAndRemovedInsideADirectory() throws {
        let dir = try FileDescriptor.open(directory, [.readOnly, .directory, .closeOnExec])
        let file = try dir.open("a", [.writeOnly, .create, .exclusive, .closeOnExec], mode: 0o600)
        XCTAssertEqual(try file.writeUnprivileged("hello", count: 5, at: 0), 5)
        try file.sync()
        XCTAssertEqual(try file.status().size, 5)
        XCTAssertEqual(try file.status().type, .regular)
        try file.truncate(to: 2)
        try file.close()
        XCTAssertThrowsError(try dir.open("a", [.writeOnly, .create, .exclusive], mode: 0o600).raw) { error in
            XCTAssertEqual((error as? SystemError)?.code, Errno.exists)
        }
        try dir.rename("a", to: "b")
        XCTAssertEqual(try dir.status(of: "b").size, 2)
        XCTAssertEqual(try dir.status(of: "b").permissions, 0o600)
        try dir.unlink("b")
        XCTAssertThrowsError(try dir.status(of: "b")) { error in
            XCTAssertEqual(error as? SystemError, SystemError(code: Errno.noEntry, operation: "fstatat", path: "b"))
        }
    }

    func testSymlinksAreRefusedWhereAsked() throws {
        let real = directory + "/real"
        try FileManager.default.createDirectory(atPath: real, withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: directory + "/link", withDestinationPath: real)
        XCTAssertNoThrow(try FileDescriptor.open(directory + "/link", [.readOnly, .directory]).raw)
        XCTAssertThrowsError(try FileDescriptor.openWithoutSymlinks(directory + "/link", [.readOnly, .directory]).raw) { error in
            XCTAssertEqual((error as? SystemError)?.code, Errno.tooManyLinks)
        }
        let dir = try FileDescriptor.open(directory, [.readOnly, .directory])
        XCTAssertEqual(try dir.status(of: "link").type, .symbolicLink, "fstatat does not follow a final link")
        XCTAssertThrowsError(try dir.open("link", [.readOnly, .noFollow]).raw)
    }

    func testSystemErrorsNameTheCallThePathAndTheErrno() {
        let error = SystemError(code: Errno.noEntry, operation: "openat", path: "x")
        XCTAssertEqual(error.description, "openat 'x': No such file or directory")
        XCTAssertEqual(SystemError(code: Errno.io, operation: "fsync").description, "fsync: Input/output error")
    }
}
