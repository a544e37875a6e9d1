import BitsCore
import BitsTransfer
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// TLS options against Tests/Support/tlsserver.py with a CA made at test time; HTTPS-to-HTTP
/// redirects.
final class EngineTLSTests: EngineTestCase {
    private var pki: TestPKI!
    private var www: String!
    private var content: [UInt8] = []

    override func setUpWithError() throws {
        try super.setUpWithError()
        pki = try TestPKI(directory: directory.file("pki"))
        www = directory.file("www")
        try FileManager.default.createDirectory(atPath: www, withIntermediateDirectories: true)
        content = generatedBytes(0..<200_000)
        writeAll(www + "/file.bin", content)
    }

    private func startTLS(requireClientCertificate: Bool = false) throws -> ScriptServerProcess {
        var arguments = ["--root", www!, "--cert", pki.serverCertificate, "--key", pki.serverKey]
        if requireClientCertificate { arguments += ["--client-ca", pki.caCertificate] }
        return try startScript("tlsserver.py", arguments)
    }

    private func options(verifyPeer: Bool, _ configure: (inout HTTPOptions) -> Void = { _ in }) -> HTTPOptions {
        var options = HTTPOptions()
        options.verifyPeer = verifyPeer
        configure(&options)
        return options
    }

    func testUntrustedServerFailsAsTLSAndUnverifiedSucceeds() throws {
        let tls = try startTLS()
        let url = "https://127.0.0.1:\(tls.port)/file.bin"
        let out = destination()
        let (failure, bytes) = try XCTUnwrap(failure(download(request(url: url, fd: out.fd, http: options(verifyPeer: true)))))
        guard case .tls(let text) = failure else { return XCTFail("got \(failure)") }
        XCTAssertTrue(text.contains(url), text)
        XCTAssertEqual(bytes, 0)

        let out2 = destination("out2")
        let req = request(url: url, fd: out2.fd, http: options(verifyPeer: false))
        XCTAssertEqual(download(req), .finished(bytesOnDisk: UInt64(content.count)))
        XCTAssertTrue(readAll(out2.path) == content)
        XCTAssertEqual(delegate.response(req.id)?.status, 200)
    }

    func testRevocationCheckNeedsAStapledResponse() throws {
        // The test server staples no OCSP response, so asking for one fails the handshake.
        let tls = try startTLS()
        let out = destination()
        let req = request(url: "https://127.0.0.1:\(tls.port)/file.bin", fd: out.fd,
                          http: options(verifyPeer: false) { $0.checkRevocation = true })
        let (failure, _) = try XCTUnwrap(failure(download(req)))
        guard case .tls = failure else { return XCTFail("got \(failure)") }
    }

    func testClientCertificate() throws {
        let tls = try startTLS(requireClientCertificate: true)
        let url = "https://127.0.0.1:\(tls.port)/file.bin"
        let out = destination()
        let (failure, bytes) = try XCTUnwrap(failure(download(request(url: url, fd: out.fd, http: options(verifyPeer: false)))))
        // TLS 1.3 servers refuse a missing certificate after the handshake: curl reads either
        // the alert (.tls) or a socket the server already closed (.connectionReset).
        switch failure {
        case .tls, .connectionReset: break
        default: return XCTFail("got \(failure)")
        }
        XCTAssertEqual(bytes, 0)
        XCTAssertEqual(readAll(out.path).count, 0)

        let out2 = destination("out2")
        let req = request(url: url, fd: out2.fd, http: options(verifyPeer: false) {
            $0.clientCertificatePEM = pki.bytes(pki.clientCertificate)
            $0.clientKeyPEM = pki.bytes(pki.clientKey)
        })
        XCTAssertEqual(download(req), .finished(bytesOnDisk: UInt64(content.count)))
        XCTAssertTrue(readAll(out2.path) == content)

        // A certificate that is not PEM fails as TLS too.
        let out3 = destination("out3")
        let req3 = request(url: url, fd: out3.fd, http: options(verifyPeer: false) {
            $0.clientCertificatePEM = Array("not a certificate".utf8)
            $0.clientKeyPEM = pki.bytes(pki.clientKey)
        })
        guard case .tls = try XCTUnwrap(self.failure(download(req3))).0 else { return XCTFail() }
    }

    func testHTTPSToHTTPRedirect() throws {
        let tls = try startTLS()
        let target = server.url("/_gen/6000")
        let start = "https://127.0.0.1:\(tls.port)/redirect?to=\(target)"
        let out = destination()
        let (failure, bytes) = try XCTUnwrap(failure(download(request(url: start, fd: out.fd, http: options(verifyPeer: false)))))
        guard case .redirectDenied(let text) = failure else { return XCTFail("got \(failure)") }
        XCTAssertTrue(text.contains(start) && text.contains(target), text)
        XCTAssertEqual(bytes, 0)
        XCTAssertEqual(readAll(out.path).count, 0)
        XCTAssertTrue(server.requests().isEmpty, "the http URL was fetched")

        let out2 = destination("out2")
        let req = request(url: start, fd: out2.fd, http: options(verifyPeer: false) { $0.allowHTTPSToHTTPRedirect = true })
        XCTAssertEqual(download(req), .finished(bytesOnDisk: 6000))
        XCTAssertEqual(delegate.response(req.id)?.effectiveURL, target)
        XCTAssertTrue(readAll(out2.path) == generatedBytes(0..<6000))

        // https to https is always fine.
        let out3 = destination("out3")
        let secure = "https://127.0.0.1:\(tls.port)/redirect?to=https://127.0.0.1:\(tls.port)/file.bin"
        let req3 = request(url: secure, fd: out3.fd, http: options(verifyPeer: false))
        XCTAssertEqual(download(req3), .finished(bytesOnDisk: UInt64(content.count)))
    }
}
