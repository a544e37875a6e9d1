import BitsCore
import BitsTransfer
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Collects exchange outcomes (and upload progress) per id.
final class ExchangeRecorder: TransferEngineDelegate, @unchecked Sendable {
    private let condition = NSCondition()
    private var outcomes: [TransferID: ExchangeOutcome] = [:]
    private(set) var progress: [TransferID: [UInt64]] = [:]

    func transfer(_ id: TransferID, didReceive response: ResponseInfo) {}
    func transfer(_ id: TransferID, didProgress bytes: UInt64) {
        condition.lock(); progress[id, default: []].append(bytes); condition.unlock()
    }
    func transfer(_ id: TransferID, didEnd outcome: TransferOutcome) {}
    func transfer(_ id: TransferID, didExchange outcome: ExchangeOutcome) {
        condition.lock(); outcomes[id] = outcome; condition.broadcast(); condition.unlock()
    }

    func wait(_ id: TransferID, timeout: TimeInterval = 20) -> ExchangeOutcome? {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while outcomes[id] == nil && condition.wait(until: deadline) {}
        return outcomes[id]
    }
}

/// The engine's request/response exchanges (upload packets) against the project's BITS
/// upload server on loopback: every status is delivered with its headers, bodies are read
/// from the file at the fragment's offset, and a short source is a local failure.
final class EngineExchangeTests: XCTestCase {
    var directory: TemporaryDirectory!
    var server: ScriptServerProcess!
    var recorder: ExchangeRecorder!
    var engine: TransferEngine!
    var nextID: TransferID = 1

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.file("www"), withIntermediateDirectories: true)
        server = try ScriptServerProcess(script: "bitsuploadserver.py", arguments: ["--root", directory.file("www")],
                                         portFile: directory.file("port"))
        recorder = ExchangeRecorder()
        engine = TransferEngine(delegate: recorder, userAgent: "bitsd-tests")
    }

    override func tearDown() {
        engine?.shutdown()
        server?.stop()
        directory?.remove()
    }

    var url: String { "http://127.0.0.1:\(server.port)/up/file.bin" }

    func send(_ headers: [String], body: ExchangeRequest.Body? = nil) throws -> ExchangeResponse {
        let id = nextID
        nextID += 1
        var http = HTTPOptions()
        http.proxy = .none
        engine.exchange(ExchangeRequest(id: id, url: url, method: "BITS_POST", headers: headers, body: body, http: http))
        let outcome = try XCTUnwrap(recorder.wait(id))
        guard case .response(let response) = outcome else {
            XCTFail("exchange \(id) did not get a response: \(outcome)")
            throw POSIXError(.EIO)
        }
        return response
    }

    func testUploadInFragmentsThroughExchanges() throws {
        let size = 3 << 20
        let content = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ ($0 >> 9)) }
        writeAll(directory.file("source.bin"), content)
        let fd = openFile(directory.file("source.bin"), flags: O_RDONLY)
        defer { close(fd) }

        let created = try send(["BITS-Packet-Type: Create-Session",
                                "BITS-Supported-Protocols: {7df0354d-249b-430f-820d-3d2a9bef4931}"])
        XCTAssertEqual(created.status, 200)
        XCTAssertEqual(created.value("BITS-Protocol")?.lowercased(), "{7df0354d-249b-430f-820d-3d2a9bef4931}")
        let session = try XCTUnwrap(created.value("BITS-Session-Id"))

        let fragment = 1 << 20
        for offset in stride(from: 0, to: size, by: fragment) {
            var headers = ["BITS-Packet-Type: Fragment", "BITS-Session-Id: \(session)",
                           "Content-Range: bytes \(offset)-\(offset + fragment - 1)/\(size)"]
            if offset == 0 { headers.append("Content-Name: source.bin") }
            let ack = try send(headers, body: .init(descriptor: fd, offset: UInt64(offset), length: UInt64(fragment)))
            XCTAssertEqual(ack.status, 200, "fragment at \(offset): \(ack.headers)")
            XCTAssertEqual(ack.value("BITS-Received-Content-Range"), "\(offset + fragment)")
            XCTAssertEqual(ack.bytesSent, UInt64(fragment))
        }
        XCTAssertEqual(try send(["BITS-Packet-Type: Close-Session", "BITS-Session-Id: \(session)"]).status, 200)
        XCTAssertEqual(readAll(directory.file("www/up/file.bin")), content, "the server's file differs from the source")
    }

    func testErrorAnswersKeepTheirHeaders() throws {
        let ack = try send(["BITS-Packet-Type: Fragment", "BITS-Session-Id: {00000000-0000-0000-0000-000000000000}",
                            "Content-Range: bytes 0-0/1"],
                           body: nil)
        XCTAssertGreaterThanOrEqual(ack.status, 400)
        XCTAssertNotNil(ack.value("BITS-Error-Code"), "\(ack.status) \(ack.headers)")
    }

    func testShortSourceIsALocalFailure() throws {
        writeAll(directory.file("short.bin"), [UInt8](repeating: 7, count: 1000))
        let fd = openFile(directory.file("short.bin"), flags: O_RDONLY)
        defer { close(fd) }
        let created = try send(["BITS-Packet-Type: Create-Session",
                                "BITS-Supported-Protocols: {7df0354d-249b-430f-820d-3d2a9bef4931}"])
        let session = try XCTUnwrap(created.value("BITS-Session-Id"))
        let id = nextID
        nextID += 1
        var http = HTTPOptions()
        http.proxy = .none
        engine.exchange(ExchangeRequest(id: id, url: url, method: "BITS_POST",
                                        headers: ["BITS-Packet-Type: Fragment", "BITS-Session-Id: \(session)",
                                                  "Content-Range: bytes 0-4999/5000"],
                                        body: .init(descriptor: fd, offset: 0, length: 5000), http: http))
        guard case .failed(let failure, let sent)? = recorder.wait(id) else {
            return XCTFail("a short source must fail the exchange")
        }
        XCTAssertEqual(sent, 1000)
        XCTAssertTrue("\(failure)".contains("changed"), "\(failure)")
    }
}
