import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The loopback test server `Tests/Support/faultserver.py`, started for one test and stopped
/// by pid (also when the test fails): a `ScriptServerProcess` plus the fault server's URL
/// and control endpoints.
final class FaultServerProcess {
    private let server: ScriptServerProcess
    var port: Int { server.port }
    let root: String

    init(root: String) throws {
        self.root = root
        server = try ScriptServerProcess(script: "faultserver.py", arguments: ["--root", root], portFile: root + "/.port")
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

    func stop() { server.stop() }
}
