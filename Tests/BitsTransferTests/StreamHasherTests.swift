import BitsCore
import BitsSystem
import Foundation
import XCTest
@testable import BitsTransfer

/// The hasher that rides along with the writes: chunks in order on its own thread, a prefix
/// read from disk, restarts, and a fallback read when the writes were not in order.
final class StreamHasherTests: XCTestCase {
    /// sha256 and sha512 of `data` with the system's sha256sum/sha512sum.
    func reference(_ data: [UInt8], _ tool: String) throws -> String {
        let path = NSTemporaryDirectory() + "hasher-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: path, contents: Data(data))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/\(tool)")
        process.arguments = [path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        process.waitUntilExit()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return String(out.prefix { $0 != " " })
    }

    func makeData(_ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ ($0 >> 9)) } }

    /// A file holding `data`, opened for reading and writing.
    func file(_ data: [UInt8]) throws -> (path: String, fd: Int32) {
        let path = NSTemporaryDirectory() + "hasher-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: path, contents: Data(data))
        let fd = open(path, O_RDWR)
        XCTAssertGreaterThanOrEqual(fd, 0)
        addTeardownBlock { close(fd); try? FileManager.default.removeItem(atPath: path) }
        return (path, fd)
    }

    func testChunksInOrderGiveTheFileDigests() throws {
        let data = makeData(20 << 20 + 123)  // more than the backlog: the writer waits for the hash
        let (_, fd) = try file(data)
        let hasher = StreamHasher(sha512: true)
        var offset = 0
        while offset < data.count {
            let n = min(300_001, data.count - offset)
            data.withUnsafeBytes { hasher.written($0.baseAddress! + offset, count: n, at: UInt64(offset), descriptor: fd) }
            offset += n
        }
        let digests = try XCTUnwrap(hasher.finish(length: UInt64(data.count), descriptor: fd))
        XCTAssertEqual(digests.sha256.text, "sha256:" + (try reference(data, "sha256sum")))
        XCTAssertEqual(digests.sha512?.text, "sha512:" + (try reference(data, "sha512sum")))
        XCTAssertEqual(digests.length, UInt64(data.count))
    }

    /// Small writes (as curl makes them) are gathered into 512 KiB buffers; a restart drops
    /// the half-filled one.
    func testSmallWritesAndARestartMidBuffer() throws {
        let data = makeData(1_300_007)
        let (_, fd) = try file(data)
        let hasher = StreamHasher()
        func feedAll(upTo end: Int, step: Int) {
            var offset = 0
            while offset < end {
                let n = min(step, end - offset)
                data.withUnsafeBytes { hasher.written($0.baseAddress! + offset, count: n, at: UInt64(offset), descriptor: fd) }
                offset += n
            }
        }
        feedAll(upTo: 700_001, step: 16_381)  // one buffer handed over, the next half full
        feedAll(upTo: data.count, step: 65_536)  // starts over at 0
        let digests = try XCTUnwrap(hasher.finish(length: UInt64(data.count), descriptor: fd))
        XCTAssertEqual(digests.sha256.text, "sha256:" + (try reference(data, "sha256sum")))
    }

    func testPrefixFromDiskThenChunks() throws {
        let data = makeData(3 << 20)
        let (_, fd) = try file(Array(data.prefix(1_000_000)))
        let hasher = StreamHasher()
        try hasher.hashPrefix(of: fd, length: 1_000_000)
        let rest = data.count - 1_000_000
        XCTAssertEqual(data.withUnsafeBytes { pwrite(fd, $0.baseAddress! + 1_000_000, rest, 1_000_000) }, rest)
        data.withUnsafeBytes { hasher.written($0.baseAddress! + 1_000_000, count: rest, at: 1_000_000, descriptor: fd) }
        let digests = try XCTUnwrap(hasher.finish(length: UInt64(data.count), descriptor: fd))
        XCTAssertEqual(digests.sha256.text, "sha256:" + (try reference(data, "sha256sum")))
        XCTAssertNil(digests.sha512)
    }

    func testRestartAtZeroAndSHA512OnDemand() throws {
        let data = makeData(500_000)
        let (_, fd) = try file(data)
        let hasher = StreamHasher()
        let junk = makeData(1000).map { $0 ^ 0x55 }
        junk.withUnsafeBytes { hasher.written($0.baseAddress! + 0, count: junk.count, at: 0, descriptor: fd) }
        hasher.enableSHA512()  // a full response that announces sha-512 only: starts over
        data.withUnsafeBytes { hasher.written($0.baseAddress! + 0, count: data.count, at: 0, descriptor: fd) }
        let digests = try XCTUnwrap(hasher.finish(length: UInt64(data.count), descriptor: fd))
        XCTAssertEqual(digests.sha256.text, "sha256:" + (try reference(data, "sha256sum")))
        XCTAssertEqual(digests.sha512?.text, "sha512:" + (try reference(data, "sha512sum")))
    }

    func testWritesOutOfOrderAreHashedFromTheFile() throws {
        let data = makeData(200_000)
        let (_, fd) = try file(data)
        let hasher = StreamHasher()
        data.withUnsafeBytes { hasher.written($0.baseAddress! + 1000, count: 1000, at: 1000, descriptor: fd) }  // a gap
        let digests = try XCTUnwrap(hasher.finish(length: UInt64(data.count), descriptor: fd))
        XCTAssertEqual(digests.sha256.text, "sha256:" + (try reference(data, "sha256sum")))
        // Nothing fed at all (an already complete file): from the file too.
        let untouched = StreamHasher()
        XCTAssertEqual(untouched.finish(length: UInt64(data.count), descriptor: fd)?.sha256, digests.sha256)
        // A file shorter than claimed cannot be hashed.
        XCTAssertNil(StreamHasher().finish(length: UInt64(data.count + 1), descriptor: fd))
    }

    /// Bytes that cannot be read back (the owner cut the file before the hash thread got to
    /// them) are no error: `finish` hashes the file as it is then, or gives nil when it is
    /// shorter than the length claimed.
    func testBytesThatCannotBeReadBackAreHashedFromTheFileAtTheEnd() throws {
        let data = makeData(5 << 20)
        let (_, fd) = try file(data)
        let hasher = StreamHasher()
        XCTAssertEqual(ftruncate(fd, 1000), 0)
        data.withUnsafeBytes { hasher.written($0.baseAddress! + 0, count: data.count, at: 0, descriptor: fd) }
        XCTAssertNil(hasher.finish(length: UInt64(data.count), descriptor: fd), "the file is shorter than claimed")
        let refilled = StreamHasher()
        data.withUnsafeBytes { refilled.written($0.baseAddress! + 0, count: data.count, at: 0, descriptor: fd) }
        XCTAssertEqual(data.withUnsafeBytes { pwrite(fd, $0.baseAddress!, data.count, 0) }, data.count)
        let digests = try XCTUnwrap(refilled.finish(length: UInt64(data.count), descriptor: fd))
        XCTAssertEqual(digests.sha256.text, "sha256:" + (try reference(data, "sha256sum")))
    }

    /// A file opened write-only (its owner made it so) cannot be read back: the writes'
    /// bytes are copied for the hash thread instead, and the digest is still the file's.
    func testAWriteOnlyFileIsHashedFromCopies() throws {
        let data = makeData(3 << 20 + 5)
        let (path, _) = try file([])
        let fd = open(path, O_WRONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        XCTAssertFalse(BorrowedDescriptor(fd).isReadable)
        let hasher = StreamHasher()
        var offset = 0
        while offset < data.count {
            let n = min(65_536, data.count - offset)
            XCTAssertEqual(data.withUnsafeBytes { pwrite(fd, $0.baseAddress! + offset, n, off_t(offset)) }, n)
            data.withUnsafeBytes { hasher.written($0.baseAddress! + offset, count: n, at: UInt64(offset), descriptor: fd) }
            offset += n
        }
        let digests = try XCTUnwrap(hasher.finish(length: UInt64(data.count), descriptor: fd))
        XCTAssertEqual(digests.sha256.text, "sha256:" + (try reference(data, "sha256sum")))
    }

    func testCancelStopsTheThread() {
        let hasher = StreamHasher()
        [UInt8](repeating: 0, count: 1 << 20).withUnsafeBytes { hasher.written($0.baseAddress!, count: 1 << 20, at: 0, descriptor: -1) }
        hasher.cancel()
        XCTAssertNil(hasher.finish(length: 0, descriptor: -1))
    }
}
