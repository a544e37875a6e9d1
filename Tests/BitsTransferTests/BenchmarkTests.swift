import BitsCore
@testable import BitsTransfer
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Engine vs `curl -s -o` for a 1 GiB file from nginx on loopback. Prints, never asserts on
/// speed. Skipped unless BITS_BENCH=1 (it writes ~3 GiB of temporary files, removed after).
final class BenchmarkTests: XCTestCase {
    func testBenchmarkAgainstCurl() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["BITS_BENCH"] == "1", "set BITS_BENCH=1 to run")
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx"), "needs /usr/sbin/nginx")
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        chmod(directory.path, 0o755)
        let www = directory.file("www")
        try FileManager.default.createDirectory(atPath: www, withIntermediateDirectories: true)
        chmod(www, 0o755)
        XCTAssertNotNil(runCommand("/bin/sh", ["-c", "head -c 1G /dev/urandom > '\(www)/big.bin' && chmod 644 '\(www)/big.bin'"]))

        let port = closedLoopbackPort()
        let config = directory.file("nginx.conf")
        let temp = directory.file("tmp")
        try """
        daemon off;
        master_process off;
        worker_processes 1;
        error_log \(directory.file("error.log"));
        pid \(directory.file("nginx.pid"));
        events { worker_connections 64; }
        http {
            access_log off;
            sendfile on;
            tcp_nopush on;
            client_body_temp_path \(temp)/body;
            proxy_temp_path \(temp)/proxy;
            fastcgi_temp_path \(temp)/fastcgi;
            uwsgi_temp_path \(temp)/uwsgi;
            scgi_temp_path \(temp)/scgi;
            server { listen 127.0.0.1:\(port); root \(www); }
        }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: temp, withIntermediateDirectories: true)
        let nginx = Process()
        nginx.executableURL = URL(fileURLWithPath: "/usr/sbin/nginx")
        nginx.arguments = ["-c", config, "-p", directory.path]
        nginx.standardError = FileHandle.nullDevice
        try nginx.run()
        defer { ScriptServerProcess.kill(nginx) }
        let url = "http://127.0.0.1:\(port)/big.bin"
        var ready = false
        for _ in 0..<100 where !ready {
            ready = runCommand("/usr/bin/curl", ["-s", "-o", "/dev/null", "-r", "0-0", url]) != nil
            if !ready { usleep(50_000) }
        }
        XCTAssertTrue(ready, "nginx did not come up")

        let output = directory.file("out.bin")
        // Each run starts with no output file and no dirty pages, so writeback of the previous
        // run does not slow the next one.
        func settle() {
            unlink(output)
            runCommand("/bin/sync", [])
        }
        func timeCurl() -> Double {
            settle()
            let start = Date()
            XCTAssertNotNil(runCommand("/usr/bin/curl", ["-s", "-o", output, url]))
            return Date().timeIntervalSince(start)
        }
        func timeEngine(bufferSize: Int) -> Double {
            settle()
            CurlEasyTransfer.bufferSize = bufferSize
            let delegate = RecordingDelegate()
            let engine = TransferEngine(delegate: delegate, userAgent: "bitsd-bench")
            defer { engine.shutdown() }
            let fd = openFile(output, flags: O_RDWR | O_CREAT | O_TRUNC)
            defer { close(fd) }
            let start = Date()
            engine.start(DownloadRequest(id: 1, source: .url(url), destinationDescriptor: fd))
            let outcome = delegate.waitForEnd(1, timeout: 300)
            let elapsed = Date().timeIntervalSince(start)
            XCTAssertEqual(outcome, .finished(bytesOnDisk: 1 << 30))
            return elapsed
        }
        defer { CurlEasyTransfer.bufferSize = 512 * 1024 }

        _ = timeCurl()  // warm the page cache of the source
        let rounds = 5
        var results: [String: [Double]] = [:]
        let names = ["curl -o", "engine 512 KiB", "engine 100 KiB", "engine 16 KiB"]
        for _ in 1...rounds {
            results["curl -o", default: []].append(timeCurl())
            results["engine 512 KiB", default: []].append(timeEngine(bufferSize: 512 * 1024))
            results["engine 100 KiB", default: []].append(timeEngine(bufferSize: 100 * 1024))
            results["engine 16 KiB", default: []].append(timeEngine(bufferSize: 16 * 1024))
        }
        let lines = names.map { name -> String in
            let times = results[name, default: []].sorted()
            let all = times.map { String(format: "%.2f", $0) }.joined(separator: " ")
            let label = name.padding(toLength: 15, withPad: " ", startingAt: 0)
            return label + String(format: " median %.2f s (runs: ", times[times.count / 2]) + all + ")"
        }
        unlink(output)
        print("BENCHMARK 1 GiB from nginx on 127.0.0.1:\n" + lines.joined(separator: "\n"))
    }
}
