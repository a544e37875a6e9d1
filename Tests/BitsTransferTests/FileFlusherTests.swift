@testable import BitsTransfer
import BitsSystem
import Foundation
import XCTest

/// FileFlusher: writeback starts as each file is handed in, fsyncs trail by `window` files,
/// `waitForPending` leaves every file on disk and no descriptor behind, and failed fsyncs are
/// kept by tag until taken.
final class FileFlusherTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var descriptors: [Int32] = []
    private let size = 4 << 20

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
    }

    override func tearDown() {
        for fd in descriptors { close(fd) }
        directory?.remove()
    }

    /// A new file of `size` bytes written with plain writes (left dirty in the page cache).
    private func written(_ name: String) -> (path: String, fd: Int32) {
        let path = directory.file(name)
        let fd = openFile(path)
        descriptors.append(fd)
        let bytes = [UInt8](repeating: UInt8(truncatingIfNeeded: name.hashValue), count: size)
        XCTAssertEqual(bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, size, 0) }, size)
        return (path, fd)
    }

    private func openDescriptorCount() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }

    func testWritebackStartsAtOnceAndFsyncsTrailByTheWindow() throws {
        let pages = size / 4096
        let untouched = written("untouched")
        XCTAssertGreaterThan(try cacheState(untouched.path).dirty, pages / 2, "baseline: plain writes stay dirty")

        let flusher = FileFlusher(window: 2, idleDrain: .seconds(60))
        let before = openDescriptorCount()
        let files = (0..<6).map { written("f\($0)") }
        for file in files { flusher.flush(file.fd, tag: file.path) }
        XCTAssertEqual(flusher.pendingCount, 2, "only the newest `window` files wait for their fsync")
        XCTAssertEqual(openDescriptorCount(), before + 6 + 2, "one duplicate descriptor per waiting file")
        for file in files.prefix(4) {
            let state = try cacheState(file.path)
            XCTAssertEqual(state.dirty + state.writeback, 0, "\(file.path) should be fsynced: \(state)")
        }
        for file in files.suffix(2) {
            // Handed to writeback at once: no longer (or hardly) dirty, whether or not done.
            XCTAssertLessThan(try cacheState(file.path).dirty, pages / 10)
        }
        flusher.waitForPending()
        XCTAssertEqual(flusher.pendingCount, 0)
        XCTAssertEqual(openDescriptorCount(), before + 6, "the duplicates are closed")
        for file in files {
            let state = try cacheState(file.path)
            XCTAssertEqual(state.dirty + state.writeback, 0, "\(file.path) after waitForPending: \(state)")
        }
        XCTAssertGreaterThan(try cacheState(untouched.path).dirty, pages / 2, "a file never handed in is left alone")
    }

    func testWaitingFilesAreFsyncedOnceNoneIsHandedInForAWhile() throws {
        let flusher = FileFlusher(window: 16, idleDrain: .seconds(1))
        let before = openDescriptorCount()
        let files = (0..<3).map { written("idle\($0)") }
        for file in files { flusher.flush(file.fd, tag: file.path) }
        XCTAssertEqual(flusher.pendingCount, 3)
        usleep(500_000)
        flusher.flush(files[0].fd, tag: files[0].path)  // a new hand-in restarts the wait
        XCTAssertEqual(flusher.pendingCount, 4)
        usleep(500_000)
        XCTAssertEqual(flusher.pendingCount, 4, "still within the idle time of the last hand-in")
        usleep(1_000_000)
        XCTAssertEqual(flusher.pendingCount, 0, "drained after the idle time")
        XCTAssertEqual(openDescriptorCount(), before + 3, "the duplicates are closed")
        for file in files {
            let state = try cacheState(file.path)
            XCTAssertEqual(state.dirty + state.writeback, 0, "\(file.path): \(state)")
        }
    }

    func testWindowZeroFsyncsEachFileAsItIsHandedIn() throws {
        let flusher = FileFlusher(window: 0)
        let file = written("only")
        flusher.flush(file.fd, tag: file.path)
        XCTAssertEqual(flusher.pendingCount, 0)
        let state = try cacheState(file.path)
        XCTAssertEqual(state.dirty + state.writeback, 0, "\(state)")
    }

    func testFailedFsyncsAreKeptByTagUntilTaken() throws {
        // The injected sync fails for the files of job "a" as a failing disk would (EIO),
        // and for one file of job "b" with ENOSPC; the others are really fsynced.
        let flusher = FileFlusher(window: 1, idleDrain: .seconds(60)) { fd throws(SystemError) in
            let path = descriptorName(fd.raw)
            if path.hasSuffix("a0") || path.hasSuffix("a1") { throw SystemError(code: EIO, operation: "fsync") }
            if path.hasSuffix("b1") { throw SystemError(code: ENOSPC, operation: "fsync") }
            try fd.sync()
        }
        let told = expectation(description: "the failure handler is called")
        told.assertForOverFulfill = false
        flusher.onFailure { told.fulfill() }
        let before = openDescriptorCount()
        let names = ["a0", "b0", "a1", "b1", "b2"]
        for name in names { flusher.flush(written(name).fd, tag: "job-\(name.prefix(1))/\(name.dropFirst())") }
        XCTAssertEqual(flusher.takeFailures(prefix: "job-c/"), [:], "no failures of another job")
        flusher.waitForPending()
        wait(for: [told], timeout: 5)
        XCTAssertEqual(openDescriptorCount(), before + names.count, "failed or not, every duplicate is closed")
        XCTAssertEqual(flusher.takeFailures(prefix: "job-a/"), ["job-a/0": EIO, "job-a/1": EIO])
        XCTAssertEqual(flusher.takeFailures(prefix: "job-a/"), [:], "taken once")
        XCTAssertEqual(flusher.takeFailures(prefix: "job-b/"), ["job-b/1": ENOSPC])
        let state = try cacheState(directory.file("b2"))
        XCTAssertEqual(state.dirty + state.writeback, 0, "the files that did not fail are on disk: \(state)")
    }

    /// `takeRecordedFailures` never waits for the flusher's queue: while an fsync hangs it
    /// answers at once with what is recorded, and the hung file's failure once it is.
    func testTakingRecordedFailuresNeverWaitsForTheQueue() throws {
        let release = DispatchSemaphore(value: 0)
        let flusher = FileFlusher(window: 0, idleDrain: .seconds(60)) { _ throws(SystemError) in
            release.wait()
            throw SystemError(code: EIO, operation: "fsync")
        }
        flusher.flush(written("hung").fd, tag: "job-h/0")
        let answered = DispatchSemaphore(value: 0)
        let early = Locked<[String: Int32]?>(nil)
        DispatchQueue.global().async {
            early.set(flusher.takeRecordedFailures(prefix: "job-h/"))
            answered.signal()
        }
        XCTAssertEqual(answered.wait(timeout: .now() + 5), .success, "it waited for the hung fsync")
        XCTAssertEqual(early.get(), [:])
        release.signal()
        flusher.waitForPending()
        XCTAssertEqual(flusher.takeRecordedFailures(prefix: "job-h/"), ["job-h/0": EIO])
    }
}

/// A value handed between threads in a test.
private final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func set(_ new: Value) { lock.withLock { value = new } }
    func get() -> Value { lock.withLock { value } }
}
