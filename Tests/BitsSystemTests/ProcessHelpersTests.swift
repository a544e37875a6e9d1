import BitsSystem
import Foundation
import XCTest

/// The helpers that replaced Foundation's: reading to the end, stat, the current directory,
/// local calendar fields, a per-thread flag, a lock that waits for a condition.
final class ProcessHelpersTests: XCTestCase {
    func testReadToEndReadsEverythingAcrossChunks() throws {
        let path = NSTemporaryDirectory() + "bits-read-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let bytes = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(try FileDescriptor.open(path, .readOnly).readToEnd(), bytes)
        XCTAssertThrowsError(try FileDescriptor.open(path, .writeOnly).readToEnd()) { error in
            XCTAssertEqual((error as? SystemError)?.code, Errno.badDescriptor)
        }
    }

    func testStatusFollowsLinksAndCurrentDirectory() throws {
        XCTAssertEqual(try SystemPaths.status("/proc/self").type, .directory, "a symbolic link to a directory")
        XCTAssertEqual(try SystemPaths.linkStatus("/proc/self").type, .symbolicLink)
        XCTAssertThrowsError(try SystemPaths.status("/no/such/path"))
        XCTAssertEqual(try SystemPaths.currentDirectory(), FileManager.default.currentDirectoryPath)
    }

    func testLocalFieldsMatchCalendar() {
        for seconds: Int64 in [0, 1_700_000_000, 1_719_792_000, 4_102_444_799] {
            let (fields, offset) = SystemClock.localFields(epochSeconds: seconds)
            let date = Date(timeIntervalSince1970: Double(seconds))
            let parts = Calendar.current.dateComponents(in: .current, from: date)
            XCTAssertEqual([Int(fields.year), Int(fields.month) + 1, Int(fields.day), Int(fields.hour), Int(fields.minute)],
                           [parts.year, parts.month, parts.day, parts.hour, parts.minute].map { $0 ?? -1 })
            XCTAssertEqual(offset, TimeZone.current.secondsFromGMT(for: date))
        }
    }

    func testThreadFlagIsPerThread() {
        let flag = ThreadFlag()
        XCTAssertFalse(flag.isSet)
        flag.set(true)
        XCTAssertTrue(flag.isSet)
        let seenElsewhere = ConditionLock()
        var other: Bool?
        let thread = JoinableThread(name: "flag-test") {
            seenElsewhere.withLock { other = flag.isSet }
        }
        thread?.join()
        XCTAssertEqual(seenElsewhere.withLock { other }, false)
        flag.set(false)
        XCTAssertFalse(flag.isSet)
    }

    func testWithLockWaitingUntilRunsOnceTheConditionHolds() {
        let lock = ConditionLock()
        var queue: [Int] = []
        var taken: [Int] = []
        let consumer = JoinableThread(name: "lock-test") {
            for _ in 0..<3 {
                let item = lock.withLock(waitingUntil: { !queue.isEmpty }) { queue.removeFirst() }
                lock.withLock { taken.append(item) }
            }
        }
        for item in 1...3 {
            lock.withLock {
                queue.append(item)
                lock.signal()
            }
        }
        consumer?.join()
        XCTAssertEqual(lock.withLock { taken }, [1, 2, 3])
    }
}
