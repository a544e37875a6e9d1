import BitsCore
import BitsTransfer
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A loopback test server script from Tests/Support (faultserver.py, tlsserver.py,
/// proxyserver.py), started with `--port 0 --port-file` and stopped by pid.
final class ScriptServerProcess {
    static func script(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Support/\(name)").path
    }

    let process = Process()
    let port: Int

    init(script name: String, arguments: [String], portFile: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [Self.script(name)] + arguments + ["--port", "0", "--port-file", portFile]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        guard let port = waitForPort(file: portFile, process: process) else {
            Self.kill(process)
            throw NSError(domain: "ScriptServer", code: 1,
                          userInfo: [NSLocalizedDescriptionKey: "\(name) did not report a port"])
        }
        self.port = port
    }

    func stop() { Self.kill(process) }

    /// SIGTERM, then SIGKILL after 5 s; waits for the exit.
    static func kill(_ process: Process) {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// A throwaway PKI made with /usr/bin/openssl: a CA, a server certificate for 127.0.0.1
/// (subjectAltName IP:127.0.0.1) and a client certificate, all signed by the CA (P-256 keys).
struct TestPKI {
    let directory: String
    var caCertificate: String { directory + "/ca.pem" }
    var serverCertificate: String { directory + "/server.pem" }
    var serverKey: String { directory + "/server.key" }
    var clientCertificate: String { directory + "/client.pem" }
    var clientKey: String { directory + "/client.key" }

    init(directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let d = directory
        try "subjectAltName=IP:127.0.0.1\n".write(toFile: d + "/server.ext", atomically: true, encoding: .utf8)
        try "extendedKeyUsage=clientAuth\n".write(toFile: d + "/client.ext", atomically: true, encoding: .utf8)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        let steps: [[String]] = [
            ["req", "-x509"] + ec + ["-keyout", d + "/ca.key", "-out", d + "/ca.pem", "-days", "2", "-subj", "/CN=bitsd test CA"],
            ["req"] + ec + ["-keyout", d + "/server.key", "-out", d + "/server.csr", "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", d + "/server.csr", "-CA", d + "/ca.pem", "-CAkey", d + "/ca.key",
             "-CAcreateserial", "-out", d + "/server.pem", "-days", "2", "-extfile", d + "/server.ext"],
            ["req"] + ec + ["-keyout", d + "/client.key", "-out", d + "/client.csr", "-subj", "/CN=bitsd test client"],
            ["x509", "-req", "-in", d + "/client.csr", "-CA", d + "/ca.pem", "-CAkey", d + "/ca.key",
             "-CAcreateserial", "-out", d + "/client.pem", "-days", "2", "-extfile", d + "/client.ext"],
        ]
        for step in steps where runCommand("/usr/bin/openssl", step) == nil {
            throw NSError(domain: "TestPKI", code: 1,
                          userInfo: [NSLocalizedDescriptionKey: "openssl \(step.prefix(2).joined(separator: " ")) failed"])
        }
    }

    func bytes(_ path: String) -> [UInt8] { readAll(path) }
}

/// Shared set-up for engine tests: a temporary directory, a fault server, a recording
/// delegate and an engine; extra helper servers are stopped in tearDown.
class EngineTestCase: XCTestCase {
    var directory: TemporaryDirectory!
    var server: FaultServerProcess!
    var delegate: RecordingDelegate!
    var engine: TransferEngine!
    var helpers: [ScriptServerProcess] = []
    var descriptors: [Int32] = []
    private var nextID: TransferID = 1

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
        let root = directory.file("root")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        server = try FaultServerProcess(root: root)
        delegate = RecordingDelegate()
        engine = TransferEngine(delegate: delegate, userAgent: "bitsd-test/1.0")
    }

    override func tearDown() {
        engine?.shutdown()
        server?.stop()
        for helper in helpers { helper.stop() }
        helpers = []
        for fd in descriptors { close(fd) }
        descriptors = []
        directory?.remove()
    }

    func destination(_ name: String = "out", prefill: [UInt8] = []) -> (path: String, fd: Int32) {
        let path = directory.file(name)
        writeAll(path, prefill)
        let fd = openFile(path)
        descriptors.append(fd)
        return (path, fd)
    }

    func request(url: String, fd: Int32, resume: UInt64 = 0, ifRange: String? = nil, rate: UInt64 = 0,
                 http: HTTPOptions = HTTPOptions()) -> DownloadRequest {
        defer { nextID += 1 }
        return DownloadRequest(id: nextID, source: .url(url), destinationDescriptor: fd, resumeOffset: resume,
                               ifRange: ifRange, maxBytesPerSecond: rate, stallTimeoutSeconds: 30,
                               connectTimeoutSeconds: 10, http: http)
    }

    /// Starts a request and waits for its end; checks the event order.
    func download(_ request: DownloadRequest, file: StaticString = #filePath, line: UInt = #line) -> TransferOutcome? {
        engine.start(request)
        let outcome = delegate.waitForEnd(request.id)
        XCTAssertNotNil(outcome, "no didEnd for \(request.id)", file: file, line: line)
        delegate.assertWellOrdered(request.id, file: file, line: line)
        return outcome
    }

    func failure(_ outcome: TransferOutcome?) -> (TransferFailure, UInt64)? {
        if case let .failed(failure, bytes) = outcome { return (failure, bytes) }
        return nil
    }

    /// The sentence carried by a failure (nil for `.httpStatus`).
    func message(_ failure: TransferFailure) -> String? {
        Mirror(reflecting: failure).children.first?.value as? String
    }

    func startScript(_ name: String, _ arguments: [String]) throws -> ScriptServerProcess {
        let portFile = directory.file(".\(name)-\(helpers.count).port")
        let helper = try ScriptServerProcess(script: name, arguments: arguments, portFile: portFile)
        helpers.append(helper)
        return helper
    }
}
