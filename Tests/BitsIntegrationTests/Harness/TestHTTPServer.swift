import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The loopback fault-injection HTTP server (`Tests/Support/faultserver.py`) serving a directory
/// of test files with known content.
final class TestHTTPServer {
    let root: String
    let logPath: String
    private(set) var port: Int = 0
    private var process: ManagedProcess?

    init(root: String, logPath: String) throws {
        self.root = root
        self.logPath = logPath
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        chmod(root, 0o755)
    }

    func start(script: String, directory: String) throws {
        let portFile = "\(directory)/http.port"
        try? FileManager.default.removeItem(atPath: portFile)
        let p = try ManagedProcess(name: "faultserver",
                                   command: ["/usr/bin/python3", script, "--root", root, "--port", "0",
                                             "--port-file", portFile],
                                   logPath: logPath)
        process = p
        let ok = waitUntil(timeout: 15) {
            if let s = try? String(contentsOfFile: portFile, encoding: .utf8),
               let n = Int(s.trimmingCharacters(in: .whitespacesAndNewlines)), n > 0 {
                port = n
                return true
            }
            return !p.isRunning
        }
        guard ok, port > 0, p.isRunning else {
            p.stop()
            throw HarnessError("faultserver did not start; log:\n\(p.logTail())")
        }
        guard waitUntil(timeout: 10, { (try? request("GET", "/_control/health"))?.status == 200 }) else {
            p.stop()
            throw HarnessError("faultserver does not answer /_control/health; log:\n\(p.logTail())")
        }
    }

    var isRunning: Bool { process?.isRunning ?? false }
    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// URL of `path` (leading slash) with query switches such as `["fault": "drop", "after": "300000"]`.
    /// A unique `tag` is always added so that `times=` counters and request-log lookups never mix
    /// between tests.
    func url(_ path: String, _ query: [(String, String)] = [], tag: String = UUID().uuidString.prefix(8).lowercased()) -> String {
        var items = query
        items.append(("tag", tag))
        let q = items.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        return "\(baseURL)\(path)?\(q)"
    }

    /// The server's request log (`GET /_control/requests`).
    func requests() throws -> [JSONValue] {
        let r = try request("GET", "/_control/requests")
        guard r.status == 200, let arr = try JSONValue.parse(r.body).array else {
            throw HarnessError("bad /_control/requests answer: \(r.status) \(r.body.prefix(200))")
        }
        return arr
    }

    /// Logged requests whose query contains `tag=<tag>`.
    func requests(tag: String) throws -> [JSONValue] {
        try requests().filter { ($0["query"]?.string ?? "").contains("tag=\(tag)") }
    }

    func reset() throws { _ = try request("POST", "/_control/reset") }

    /// Minimal HTTP/1.1 client over a loopback socket (Connection: close).
    func request(_ method: String, _ path: String) throws -> (status: Int, body: String) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: \(errno)") }
        defer { Glibc.close(fd) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else { throw HarnessError("connect to 127.0.0.1:\(port) failed: errno \(errno)") }
        let req = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        _ = req.withCString { send(fd, $0, strlen($0), 0) }
        var data = Data()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            data.append(contentsOf: buf[0..<n])
        }
        let text = String(decoding: data, as: UTF8.self)
        guard let headEnd = text.range(of: "\r\n\r\n") else { throw HarnessError("bad HTTP answer: \(text.prefix(200))") }
        let statusLine = text[..<headEnd.lowerBound].split(separator: "\r\n").first ?? ""
        let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") ?? 0
        return (status, String(text[headEnd.upperBound...]))
    }

    func logTail(lines: Int = 30) -> String { process?.logTail(lines: lines) ?? "(not started)" }

    func stop() {
        process?.stop()
        process = nil
    }
}

/// A closed loopback port: bind an ephemeral port, note it, close it.
func closedLoopbackPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { Glibc.close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    _ = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return Int(UInt16(bigEndian: addr.sin_port))
}
