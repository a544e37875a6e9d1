@testable import BitsTransfer
import Foundation
import XCTest

/// Writeback during a download: the pure chunk rule, and the engine leaving little of a
/// large file dirty for the final fsync.
final class WritebackWindowTests: XCTestCase {
    func testRangesOfAChunkFollowEachOtherFromTheRequestStart() {
        var window = WritebackWindow(chunk: 100)
        XCTAssertNil(window.advance(writtenTo: 1_050, requestStart: 1_000))
        XCTAssertNil(window.advance(writtenTo: 1_099, requestStart: 1_000))
        XCTAssertEqual(window.advance(writtenTo: 1_130, requestStart: 1_000), 1_000..<1_130)
        XCTAssertNil(window.advance(writtenTo: 1_200, requestStart: 1_000))
        XCTAssertEqual(window.advance(writtenTo: 1_230, requestStart: 1_000), 1_130..<1_230)
        // A later request (another range) continues where the last hand-off ended.
        XCTAssertEqual(window.advance(writtenTo: 1_400, requestStart: 1_300), 1_230..<1_400)
    }

    func testARestartLowerStartsAgainFromThere() {
        var window = WritebackWindow(chunk: 100)
        XCTAssertEqual(window.advance(writtenTo: 500, requestStart: 0), 0..<500)
        XCTAssertNil(window.advance(writtenTo: 40, requestStart: 0))  // truncated and restarted
        XCTAssertEqual(window.from, 40)
        XCTAssertEqual(window.advance(writtenTo: 140, requestStart: 0), 40..<140)
    }
}

final class EngineWritebackTests: EngineTestCase {
    func testALargeDownloadIsWrittenBackWhileItRuns() throws {
        let size = 32 << 20
        // Baseline: the same amount written with plain writes stays dirty (the kernel's own
        // writeback waits for far more dirty memory or 30 s).
        let plain = destination("plain")
        let bytes = [UInt8](repeating: 7, count: size)
        XCTAssertEqual(bytes.withUnsafeBytes { pwrite(plain.fd, $0.baseAddress, size, 0) }, size)
        let baseline = try cacheState(plain.path)
        XCTAssertGreaterThan(baseline.dirty, size / 4096 / 2, "baseline: \(baseline)")

        let out = destination()
        let req = request(url: server.url("/_gen/\(size)"), fd: out.fd)
        XCTAssertEqual(download(req), .finished(bytesOnDisk: UInt64(size)))
        let state = try cacheState(out.path)
        // At most the last 8 MiB chunk (2,048 pages) plus what writeback has not picked up yet.
        XCTAssertLessThan(state.dirty, 4_096, "dirty pages after the download: \(state), baseline \(baseline)")
        XCTAssertTrue(readAll(out.path) == generatedBytes(0..<size), "content differs")
    }

    func testALargeLocalCopyIsWrittenBackWhileItRuns() throws {
        let size = 32 << 20
        let sourcePath = directory.file("source")
        var bytes = [UInt8](repeating: 0x5a, count: size)
        for index in stride(from: 0, to: size, by: 4096) { bytes[index] = UInt8(truncatingIfNeeded: index >> 12) }
        writeAll(sourcePath, bytes)
        let sourceFD = openFile(sourcePath, flags: O_RDONLY)
        descriptors.append(sourceFD)
        fsync(sourceFD)
        let out = destination()
        let req = DownloadRequest(id: 77, source: .localFile(descriptor: sourceFD, size: UInt64(size)),
                                  destinationDescriptor: out.fd)
        XCTAssertEqual(download(req), .finished(bytesOnDisk: UInt64(size)))
        let state = try cacheState(out.path)
        XCTAssertLessThan(state.dirty, 4_096, "dirty pages after the copy: \(state)")
        XCTAssertTrue(readAll(out.path) == bytes, "content differs")
    }
}
