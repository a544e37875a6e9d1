import Foundation
import XCTest

/// Credentials and client certificates through the service: digest against the fault
/// server, and a TLS server on loopback that requires a client certificate, which the
/// daemon reads from PEM files with the owner's rights.
final class TLSAndDigestTests: BitsTestCase {

    func testDigestCredentials() throws {
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "digest")
        _ = try addFile(as: alice, job: job, url: http.url("/small.bin", [("auth", "digest"), ("user", "dora"), ("pass", "d1gest")]),
                        local: "\(dir)/d.bin")
        _ = try mustCall(as: alice, job, BitsNames.job, "SetCredentials", "ssss", ["server", "digest", "dora", "d1gest"])
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["transferred"], timeout: 15, failOn: ["error"])
        try complete(as: alice, job: job)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/d.bin"), env.files["small.bin"]?.sha256)
    }

    func testClientCertificateReadAsTheOwner() throws {
        let pki = "\(env.directory)/pki-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: pki, withIntermediateDirectories: true)
        try "subjectAltName=IP:127.0.0.1\n".write(toFile: "\(pki)/server.ext", atomically: true, encoding: .utf8)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for step in [["req", "-x509"] + ec + ["-keyout", "\(pki)/ca.key", "-out", "\(pki)/ca.pem", "-days", "2", "-subj", "/CN=itest CA"],
                     ["req"] + ec + ["-keyout", "\(pki)/server.key", "-out", "\(pki)/server.csr", "-subj", "/CN=127.0.0.1"],
                     ["x509", "-req", "-in", "\(pki)/server.csr", "-CA", "\(pki)/ca.pem", "-CAkey", "\(pki)/ca.key",
                      "-CAcreateserial", "-out", "\(pki)/server.pem", "-days", "2", "-extfile", "\(pki)/server.ext"],
                     ["req"] + ec + ["-keyout", "\(pki)/client.key", "-out", "\(pki)/client.csr", "-subj", "/CN=alice"],
                     ["x509", "-req", "-in", "\(pki)/client.csr", "-CA", "\(pki)/ca.pem", "-CAkey", "\(pki)/ca.key",
                      "-CAcreateserial", "-out", "\(pki)/client.pem", "-days", "2"]] {
            let r = try ProcessRunner.run(["/usr/bin/openssl"] + step)
            XCTAssertEqual(r.status, 0, "openssl \(step[0]) failed")
        }
        // The client key lives in alice's directory, readable by alice only.
        let keys = try downloadDirectory(alice, "keys")
        for name in ["client.pem", "client.key"] {
            try FileManager.default.copyItem(atPath: "\(pki)/\(name)", toPath: "\(keys)/\(name)")
            chown("\(keys)/\(name)", alice.uid, alice.gid)
            chmod("\(keys)/\(name)", 0o600)
        }
        let www = "\(pki)/www"
        try FileManager.default.createDirectory(atPath: www, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "\(http.root)/small.bin", toPath: "\(www)/small.bin")
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        server.arguments = ["\(TestEnvironment.repoRoot)/Tests/Support/tlsserver.py", "--root", www,
                            "--cert", "\(pki)/server.pem", "--key", "\(pki)/server.key",
                            "--client-ca", "\(pki)/ca.pem", "--port", "0", "--port-file", "\(pki)/port"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        addCleanup { server.terminate(); server.waitUntilExit() }
        XCTAssertTrue(waitUntil(timeout: 5) { FileManager.default.fileExists(atPath: "\(pki)/port") })
        let port = (try String(contentsOfFile: "\(pki)/port", encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)
        let url = "https://127.0.0.1:\(port)/small.bin"
        let dir = try downloadDirectory(alice)

        // Without a certificate the server refuses the client. TLS 1.3 does that after the
        // handshake, so curl sees the alert (fatal "tls") or a closed socket ("connection-reset").
        let bare = try createJob(as: alice, name: "no cert")
        _ = try addFile(as: alice, job: bare, url: url, local: "\(dir)/bare.bin")
        try mustSetProperty(as: alice, bare, "VerifyPeer", type: "b", value: false)
        try resume(as: alice, job: bare)
        try waitForState(as: alice, job: bare, ["error", "transient-error"], timeout: 15, failOn: ["transferred"])
        XCTAssertTrue(["tls", "connection-reset"].contains(try property(as: alice, bare, "ErrorCode").string ?? ""))
        XCTAssertFalse(TestFiles.exists("\(dir)/bare.bin"))

        // A key alice cannot read is refused at SetClientCertificate.
        let job = try createJob(as: alice, name: "cert")
        _ = try addFile(as: alice, job: job, url: url, local: "\(dir)/c.bin")
        assertError(try call(as: alice, job, BitsNames.job, "SetClientCertificate", "ss", ["\(keys)/client.pem", "\(pki)/ca.key"]),
                    ["org.freedesktop.DBus.Error.AccessDenied"], mentioning: ["ca.key"])
        _ = try mustCall(as: alice, job, BitsNames.job, "SetClientCertificate", "ss", ["\(keys)/client.pem", "\(keys)/client.key"])
        try mustSetProperty(as: alice, job, "VerifyPeer", type: "b", value: false)
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["transferred"], timeout: 15, failOn: ["error"])
        try complete(as: alice, job: job)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/c.bin"), env.files["small.bin"]?.sha256)
    }
}
