import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The loopback test server `Tests/Support/faultserver.py`, started for one test and stopped
/// by pid (also when the test fails).
final class FaultServerProcess {
    static let script: String = {
        // Tests/BitsTransferTests/FaultServerProcess.swift → Tests/Support/faultserver.py
        let here = URL(fileURLWithPath: #filePath)
        return here.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Support/faultserver.py").path
    }()

    let process = Process()
    let port: Int
    let root: String

    init(root: String) throws {
        self.root = root
        let portFile = root + "/.port"
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [Self.script, "--root", root, "--port", "0", "--port-file", portFile]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        guard let port = waitForPort(file: portFile, process: process) else {
            Self.kill(process)
            throw NSError(domain: "FaultServer", code: 1,
                          userInfo: [NSLocalizedDescriptionKey: "faultserver.py did not report a port"])
        }
        self.port = port
    }

    /// `http://127.0.0.1:PORT` + path (which starts with "/").
    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// The server's request log.
    func requests() -> [[String: Any]] {
        guard let data = runCommand("/usr/bin/curl", ["-s", "--noproxy", "*", url("/_control/requests")]),
              let list = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else { return [] }
        return list
    }

    func resetLog() {
        runCommand("/usr/bin/curl", ["-s", "--noproxy", "*", "-X", "POST", url("/_control/reset")])
    }

    func stop() { Self.kill(process) }

    static func kill(_ process: Process) {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
