import BitsCore
import BitsTransfer
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Records engine events per transfer, with the thread each arrived on.
final class RecordingDelegate: TransferEngineDelegate, @unchecked Sendable {
    enum Event: Equatable {
        case receive(ResponseInfo)
        case progress(UInt64)
        case end(TransferOutcome)
    }

    struct Record {
        var event: Event
        var thread: pthread_t
        var time: UInt64
    }

    private let condition = NSCondition()
    private var records: [TransferID: [Record]] = [:]
    /// Called (on the engine's thread) after a didReceive is recorded.
    var onReceive: ((TransferID) -> Void)?

    func transfer(_ id: TransferID, didReceive response: ResponseInfo) {
        add(id, .receive(response))
        onReceive?(id)
    }

    func transfer(_ id: TransferID, didProgress bytesOnDisk: UInt64) { add(id, .progress(bytesOnDisk)) }
    func transfer(_ id: TransferID, didEnd outcome: TransferOutcome) { add(id, .end(outcome)) }

    private func add(_ id: TransferID, _ event: Event) {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let now = UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
        condition.lock()
        records[id, default: []].append(Record(event: event, thread: pthread_self(), time: now))
        condition.broadcast()
        condition.unlock()
    }

    func records(_ id: TransferID) -> [Record] {
        condition.lock()
        defer { condition.unlock() }
        return records[id] ?? []
    }

    func events(_ id: TransferID) -> [Event] { records(id).map(\.event) }

    func response(_ id: TransferID) -> ResponseInfo? {
        for event in events(id) { if case .receive(let info) = event { return info } }
        return nil
    }

    func progress(_ id: TransferID) -> [UInt64] {
        events(id).compactMap { if case .progress(let bytes) = $0 { return bytes } else { return nil } }
    }

    /// Waits until `predicate` holds for the transfer's events.
    @discardableResult
    func wait(_ id: TransferID, timeout: TimeInterval = 20, until predicate: ([Event]) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while !predicate((records[id] ?? []).map(\.event)) {
            if !condition.wait(until: deadline) { return predicate((records[id] ?? []).map(\.event)) }
        }
        return true
    }

    /// Waits for didEnd and returns its outcome (nil on timeout).
    func waitForEnd(_ id: TransferID, timeout: TimeInterval = 20) -> TransferOutcome? {
        wait(id, timeout: timeout) { $0.contains { if case .end = $0 { return true } else { return false } } }
        for event in events(id) { if case .end(let outcome) = event { return outcome } }
        return nil
    }

    /// Checks the per-transfer contract: receive? → progress* (non-decreasing) → end, exactly
    /// one end, all on one thread that is not the caller's.
    func assertWellOrdered(_ id: TransferID, file: StaticString = #filePath, line: UInt = #line) {
        let list = records(id)
        guard let last = list.last, case .end = last.event else {
            return XCTFail("transfer \(id) has no final didEnd: \(list.map(\.event))", file: file, line: line)
        }
        var sawReceive = false
        var sawProgress = false
        var lastBytes: UInt64 = 0
        for record in list.dropLast() {
            switch record.event {
            case .receive:
                XCTAssertFalse(sawReceive || sawProgress, "didReceive out of order for \(id)", file: file, line: line)
                sawReceive = true
            case .progress(let bytes):
                XCTAssertTrue(sawReceive, "didProgress before didReceive for \(id)", file: file, line: line)
                XCTAssertGreaterThanOrEqual(bytes, lastBytes, file: file, line: line)
                lastBytes = bytes
                sawProgress = true
            case .end:
                XCTFail("more than one didEnd for \(id)", file: file, line: line)
            }
        }
        let threads = Set(list.map { UInt($0.thread) })
        XCTAssertEqual(threads.count, 1, "events of \(id) arrived on several threads", file: file, line: line)
        XCTAssertFalse(threads.contains(UInt(pthread_self())), "events of \(id) arrived on the test thread", file: file, line: line)
    }
}

/// Byte i of the fault server's /_gen stream.
func generatedBytes(_ range: Range<Int>) -> [UInt8] {
    range.map { UInt8(truncatingIfNeeded: $0 &* 7 &+ ($0 >> 8)) }
}

/// A temporary directory removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/bits-transfer-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
        path = String(cString: made)
    }

    func file(_ name: String) -> String { path + "/" + name }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Opens (creating) a file for reading and writing; fails the test on error.
func openFile(_ path: String, flags: Int32 = O_RDWR | O_CREAT) -> Int32 {
    let fd = open(path, flags | O_CLOEXEC, 0o644)
    XCTAssertGreaterThanOrEqual(fd, 0, "open \(path): \(String(cString: strerror(errno)))")
    return fd
}

func readAll(_ path: String) -> [UInt8] {
    (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))) ?? []
}

func writeAll(_ path: String, _ bytes: [UInt8]) {
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
}

/// A port on 127.0.0.1 that nothing listens on (bound, then closed).
func closedLoopbackPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Runs a command and returns its standard output (nil on failure).
@discardableResult
func runCommand(_ executable: String, _ arguments: [String]) -> Data? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return process.terminationStatus == 0 ? data : nil
}

/// Waits up to `timeout` seconds for a file to hold a port number.
func waitForPort(file: String, process: Process, timeout: TimeInterval = 15) -> Int? {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline && process.isRunning {
        if let text = try? String(contentsOfFile: file, encoding: .utf8),
           let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            return port
        }
        usleep(20_000)
    }
    return nil
}

/// cachestat(2) of a file through Tests/Support/cachestat.py: its dirty pages, pages under
/// writeback and cached pages. Skips the test on kernels without cachestat (before 6.5).
func cacheState(_ path: String) throws -> (dirty: Int, writeback: Int, cached: Int) {
    let output = try XCTUnwrap(runCommand("/usr/bin/python3", [ScriptServerProcess.script("cachestat.py"), path]),
                               "cachestat.py failed")
    let json = try XCTUnwrap(JSONSerialization.jsonObject(with: output) as? [String: Any])
    if let reason = json["unsupported"] as? String { throw XCTSkip(reason) }
    return (json["dirty"] as? Int ?? -1, json["writeback"] as? Int ?? -1, json["cached"] as? Int ?? -1)
}
