import BitsCore
@testable import BitsTransfer
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `.localFile` sources: pread/pwrite copies on their own thread.
final class LocalCopyTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var delegate: RecordingDelegate!
    private var engine: TransferEngine!
    private var descriptors: [Int32] = []
    private var source: [UInt8] = []
    private var sourceFD: Int32 = -1
    private let mtime: Int64 = 1_600_000_000

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
        delegate = RecordingDelegate()
        engine = TransferEngine(delegate: delegate, userAgent: "bitsd-test/1.0")
        let random = try XCTUnwrap(FileHandle(forReadingAtPath: "/dev/urandom"))
        source = [UInt8](try XCTUnwrap(random.readData(ofLength: 3 * 1024 * 1024 + 777)))
        try random.close()
        let path = directory.file("source")
        writeAll(path, source)
        var times = [timespec(tv_sec: Int(mtime), tv_nsec: 250_000_000), timespec(tv_sec: Int(mtime), tv_nsec: 250_000_000)]
        XCTAssertEqual(utimensat(AT_FDCWD, path, &times, 0), 0)
        sourceFD = openFile(path, flags: O_RDONLY)
        descriptors.append(sourceFD)
    }

    override func tearDown() {
        engine?.shutdown()
        for fd in descriptors { close(fd) }
        descriptors = []
        directory?.remove()
    }

    private func destination(_ prefill: [UInt8] = []) -> (path: String, fd: Int32) {
        let path = directory.file("out-\(descriptors.count)")
        writeAll(path, prefill)
        let fd = openFile(path)
        descriptors.append(fd)
        return (path, fd)
    }

    private func copy(id: TransferID, to fd: Int32, resume: UInt64 = 0, ifRange: String? = nil) -> TransferOutcome? {
        let req = DownloadRequest(id: id, source: .localFile(descriptor: sourceFD, size: UInt64(source.count)),
                                  destinationDescriptor: fd, resumeOffset: resume, ifRange: ifRange)
        engine.start(req)
        let outcome = delegate.waitForEnd(id)
        delegate.assertWellOrdered(id)
        return outcome
    }

    func testCopy() throws {
        let out = destination()
        XCTAssertEqual(copy(id: 1, to: out.fd), .finished(bytesOnDisk: UInt64(source.count)))
        XCTAssertTrue(readAll(out.path) == source)
        let info = try XCTUnwrap(delegate.response(1))
        XCTAssertEqual(info.status, 0)
        XCTAssertEqual(info.totalSize, UInt64(source.count))
        XCTAssertEqual(info.writeOffset, 0)
        XCTAssertEqual(info.lastModifiedMicroseconds, UInt64(mtime) * 1_000_000 + 250_000)
        XCTAssertEqual(info.lastModifiedText, HeaderParsing.httpDate(epochSeconds: mtime))
        XCTAssertFalse(Set(delegate.records(1).map { UInt($0.thread) }).contains(UInt(pthread_self())))
    }

    func testCopyWithResume() throws {
        let offset = 1_234_567
        let out = destination(Array(source.prefix(offset)))
        let validator = HeaderParsing.httpDate(epochSeconds: mtime)
        XCTAssertEqual(copy(id: 2, to: out.fd, resume: UInt64(offset), ifRange: validator),
                       .finished(bytesOnDisk: UInt64(source.count)))
        XCTAssertTrue(readAll(out.path) == source)
        XCTAssertEqual(delegate.response(2)?.writeOffset, UInt64(offset))
    }

    func testResumePastTheEndRestarts() throws {
        let out = destination([UInt8](repeating: 1, count: source.count + 10))
        XCTAssertEqual(copy(id: 3, to: out.fd, resume: UInt64(source.count + 10)),
                       .finished(bytesOnDisk: UInt64(source.count)))
        XCTAssertTrue(readAll(out.path) == source)
        XCTAssertEqual(delegate.response(3)?.writeOffset, 0)
    }

    func testChangedSourceRestarts() throws {
        let out = destination([UInt8](repeating: 1, count: 1000))
        XCTAssertEqual(copy(id: 4, to: out.fd, resume: 1000, ifRange: "Mon, 01 Jan 2001 00:00:00 GMT"),
                       .finished(bytesOnDisk: UInt64(source.count)))
        XCTAssertTrue(readAll(out.path) == source)
    }

    func testCancelStopsBetweenChunks() throws {
        let out = destination()
        delegate.onReceive = { [weak engine] id in engine?.cancel(id: id) }
        XCTAssertEqual(copy(id: 5, to: out.fd), .cancelled(bytesOnDisk: 0))
    }

    func testWriteFailure() throws {
        let fd = openFile("/dev/full", flags: O_WRONLY)
        descriptors.append(fd)
        guard case .failed(.diskFull(let message), 0) = try XCTUnwrap(copy(id: 6, to: fd)) else {
            return XCTFail("expected diskFull")
        }
        XCTAssertTrue(message.contains("/dev/full"), message)
    }
}
