import Foundation
import XCTest

extension BitsTestCase {
    /// Starts `Tests/Support/proxyserver.py` on `port` (0 = any) with `arguments`, stopped
    /// after the test; returns the port it listens on.
    func startProxy(port: Int = 0, _ arguments: [String]) throws -> Int {
        let dir = "\(env.directory)/proxy-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = ["\(TestEnvironment.repoRoot)/Tests/Support/proxyserver.py", "--port", String(port),
                       "--port-file", "\(dir)/port"] + arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        addCleanup { p.terminate(); p.waitUntilExit() }
        guard waitUntil(timeout: 5, { FileManager.default.fileExists(atPath: "\(dir)/port") }),
              let text = try? String(contentsOfFile: "\(dir)/port", encoding: .utf8),
              let listening = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw HarnessError("proxyserver.py did not start")
        }
        return listening
    }
}

/// ProxyUsage override / no-proxy through a loopback forward proxy, with proxy credentials.
final class ProxyTests: BitsTestCase {
    var proxyPort = 0
    var proxyLog = ""

    override func setUpWithError() throws {
        try super.setUpWithError()
        proxyLog = "\(env.directory)/proxy-forwarded-\(UUID().uuidString.prefix(6)).log"
        proxyPort = try startProxy(["--auth", "pxuser:pxpass", "--log", proxyLog])
    }

    func forwarded() -> String { (try? String(contentsOfFile: proxyLog, encoding: .utf8)) ?? "" }

    func testOverrideGoesThroughTheProxyWithItsCredentials() throws {
        let dir = try downloadDirectory(alice)
        let url = http.url("/small.bin")
        let job = try createJob(as: alice, name: "proxied")
        _ = try addFile(as: alice, job: job, url: url, local: "\(dir)/p.bin")
        try mustSetProperty(as: alice, job, "ProxyUsage", type: "s", value: "override")
        try mustSetProperty(as: alice, job, "ProxyList", type: "s", value: "http://127.0.0.1:\(proxyPort)")
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["error"], timeout: 10, failOn: ["transferred"])
        XCTAssertEqual(try property(as: alice, job, "ErrorCode").string, "http-407", "no proxy credentials yet")
        _ = try mustCall(as: alice, job, BitsNames.job, "SetCredentials", "ssss", ["proxy", "basic", "pxuser", "pxpass"])
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["transferred"], timeout: 10)
        XCTAssertTrue(forwarded().contains(url), "the proxy did not forward \(url): \(forwarded())")
        try complete(as: alice, job: job)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/p.bin"), env.files["small.bin"]?.sha256)
    }

    func testNoProxyAndBypassListConnectDirectly() throws {
        let dir = try downloadDirectory(alice)
        let direct = http.url("/small.bin")
        let job = try createJob(as: alice, name: "direct")
        _ = try addFile(as: alice, job: job, url: direct, local: "\(dir)/d.bin")
        try mustSetProperty(as: alice, job, "ProxyUsage", type: "s", value: "no-proxy")
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["transferred"], timeout: 10)

        let bypassed = http.url("/small.bin")
        let other = try createJob(as: alice, name: "bypass")
        _ = try addFile(as: alice, job: other, url: bypassed, local: "\(dir)/b.bin")
        try mustSetProperty(as: alice, other, "ProxyUsage", type: "s", value: "override")
        try mustSetProperty(as: alice, other, "ProxyList", type: "s", value: "http://127.0.0.1:\(proxyPort)")
        try mustSetProperty(as: alice, other, "ProxyBypassList", type: "s", value: "127.0.0.1")
        try resume(as: alice, job: other)
        try waitForState(as: alice, job: other, ["transferred"], timeout: 10)
        XCTAssertFalse(forwarded().contains(direct) || forwarded().contains(bypassed), "went through the proxy: \(forwarded())")
    }
}

/// ProxyUsage preconfig follows the system's settings: here the daemon's environment
/// (http_proxy), as a unit's Environment= would set it.
final class ProxyPreconfigTests: BitsTestCase {
    static let proxyPort = closedLoopbackPort()
    override class var daemonEnvironment: [String: String] { ["http_proxy": "http://127.0.0.1:\(proxyPort)"] }

    func testPreconfigUsesTheSystemProxyAndNoProxyDoesNot() throws {
        let log = "\(env.directory)/proxy-pre-\(UUID().uuidString.prefix(6)).log"
        _ = try startProxy(port: Self.proxyPort, ["--log", log])

        let downloads = try downloadDirectory(alice)
        let viaProxy = http.url("/small.bin")
        let job = try createJob(as: alice, name: "preconfig")
        _ = try addFile(as: alice, job: job, url: viaProxy, local: "\(downloads)/pre.bin")
        XCTAssertEqual(try property(as: alice, job, "ProxyUsage").string, "preconfig")
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["transferred"], timeout: 10)
        let forwarded = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        XCTAssertTrue(forwarded.contains(viaProxy), "preconfig did not use the system proxy: \(forwarded)")

        let direct = http.url("/small.bin")
        let other = try createJob(as: alice, name: "no-proxy")
        _ = try addFile(as: alice, job: other, url: direct, local: "\(downloads)/direct.bin")
        try mustSetProperty(as: alice, other, "ProxyUsage", type: "s", value: "no-proxy")
        try resume(as: alice, job: other)
        try waitForState(as: alice, job: other, ["transferred"], timeout: 10)
        XCTAssertFalse(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains(direct), "no-proxy went through the proxy")
    }
}
