import BitsCore
import BitsTransfer
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `HTTPOptions` against the fault server and the loopback proxy: credentials, method,
/// maximum size, redirect policy, proxy settings.
final class EngineHTTPOptionsTests: EngineTestCase {
    private static let secret = "s3cret-Pa55"

    private func http(_ configure: (inout HTTPOptions) -> Void) -> HTTPOptions {
        var options = HTTPOptions()
        configure(&options)
        return options
    }

    // MARK: - Credentials

    private func checkAuth(_ scheme: String, _ credentialScheme: Credential.Scheme) throws {
        let path = "/_gen/20000?auth=\(scheme)&user=alice&pass=\(Self.secret)"
        let good = Credential(target: .server, scheme: credentialScheme, userName: "alice", password: Self.secret)
        let out = destination("good-\(scheme)")
        let ok = request(url: server.url(path), fd: out.fd, http: http { $0.credentials = [good] })
        XCTAssertEqual(download(ok), .finished(bytesOnDisk: 20_000))
        XCTAssertTrue(readAll(out.path) == generatedBytes(0..<20_000))

        let wrong = Credential(target: .server, scheme: credentialScheme, userName: "alice", password: "wrong-\(Self.secret)x")
        let cases: [(String, [Credential])] = [("wrong", [wrong]), ("missing", [])]
        for (name, credentials) in cases {
            let bad = destination("\(name)-\(scheme)")
            let req = request(url: server.url(path), fd: bad.fd, http: http { $0.credentials = credentials })
            let outcome = download(req)
            XCTAssertEqual(outcome, .failed(.httpStatus(401, retryAfterSeconds: nil), bytesOnDisk: 0), "\(scheme) \(name)")
            XCTAssertFalse("\(String(describing: outcome))".contains(Self.secret))
            XCTAssertEqual(readAll(bad.path).count, 0)
        }
    }

    func testBasicAuth() throws { try checkAuth("basic", .basic) }

    func testDigestAuth() throws { try checkAuth("digest", .digest) }

    func testDigestChosenAmongSeveralSchemes() throws {
        // Basic and digest offered: curl asks the server first and answers its digest challenge.
        let path = "/_gen/5000?auth=digest&user=bob&pass=\(Self.secret)"
        let out = destination()
        let credentials = [Credential(target: .server, scheme: .basic, userName: "bob", password: Self.secret),
                           Credential(target: .server, scheme: .digest, userName: "bob", password: Self.secret)]
        let req = request(url: server.url(path), fd: out.fd, http: http { $0.credentials = credentials })
        XCTAssertEqual(download(req), .finished(bytesOnDisk: 5000))
        let authorizations = server.requests().compactMap { ($0["headers"] as? [String: String])?["Authorization"] }
        XCTAssertFalse(authorizations.contains { $0.hasPrefix("Basic") }, "the password went out as Basic")
        XCTAssertTrue(authorizations.contains { $0.hasPrefix("Digest") })
    }

    func testPasswordNeverInFailureMessages() throws {
        // Failures with a message (connection refused, redirect denied) never carry credentials.
        let credentials = [Credential(target: .server, scheme: .basic, userName: "carol", password: Self.secret),
                           Credential(target: .proxy, scheme: .basic, userName: "carol", password: Self.secret)]
        let out = destination()
        let urls = ["http://127.0.0.1:\(closedLoopbackPort())/x",
                    server.url("/start?redirect=\(server.url("/_gen/10"))")]
        for url in urls {
            let req = request(url: url, fd: out.fd, http: http {
                $0.credentials = credentials
                $0.redirectPolicy = .deny
            })
            let (failure, _) = try XCTUnwrap(failure(download(req)))
            let text = try XCTUnwrap(message(failure))
            XCTAssertFalse(text.contains(Self.secret), text)
            XCTAssertFalse("\(failure)".contains(Self.secret))
        }
    }

    // MARK: - Method

    func testHeadWritesAnEmptyFile() throws {
        let out = destination(prefill: [1, 2, 3])
        let req = request(url: server.url("/_gen/5000"), fd: out.fd, resume: 3, http: http { $0.method = "HEAD" })
        XCTAssertEqual(download(req), .finished(bytesOnDisk: 0))
        XCTAssertEqual(readAll(out.path).count, 0)
        let logged = try XCTUnwrap(server.requests().last)
        XCTAssertEqual(logged["method"] as? String, "HEAD")
        XCTAssertTrue(logged["range"] is NSNull || logged["range"] == nil)
        XCTAssertEqual(delegate.response(req.id)?.totalSize, 0)
    }

    func testPostAndCustomMethodReachTheServerWithoutRange() throws {
        let www = directory.file("www")
        try FileManager.default.createDirectory(atPath: www, withIntermediateDirectories: true)
        let pki = try TestPKI(directory: directory.file("pki"))
        let tls = try startScript("tlsserver.py", ["--root", www, "--cert", pki.serverCertificate, "--key", pki.serverKey])
        for method in ["POST", "DELETE"] {
            // A resume offset and a validator are ignored: the file is rewritten from 0.
            let out = destination("out-\(method)", prefill: [UInt8](repeating: 0x41, count: 100))
            let req = request(url: "https://127.0.0.1:\(tls.port)/echo", fd: out.fd, resume: 50, ifRange: "\"x\"",
                              http: http { $0.method = method; $0.verifyPeer = false })
            let expected = "\(method) /echo 0 range=-\n"
            XCTAssertEqual(download(req), .finished(bytesOnDisk: UInt64(expected.utf8.count)), method)
            XCTAssertEqual(String(decoding: readAll(out.path), as: UTF8.self), expected)
            XCTAssertEqual(delegate.response(req.id)?.writeOffset, 0)
        }
        let bad = destination("bad")
        let req = request(url: server.url("/_gen/10"), fd: bad.fd, http: http { $0.method = "GET X" })
        guard case .protocolError = try XCTUnwrap(failure(download(req))).0 else { return XCTFail() }
    }

    // MARK: - Maximum size

    func testAnnouncedSizeOverTheCapFailsBeforeWriting() throws {
        let prefix = generatedBytes(0..<1000)
        let out = destination(prefill: prefix)
        let req = request(url: server.url("/_gen/100000"), fd: out.fd, resume: 1000, http: http { $0.maximumSize = 50_000 })
        let (failure, bytes) = try XCTUnwrap(failure(download(req)))
        guard case .maximumDownloadSizeExceeded(let text) = failure else { return XCTFail("got \(failure)") }
        XCTAssertTrue(text.contains("50000"), text)
        XCTAssertEqual(bytes, 1000)
        XCTAssertEqual(readAll(out.path), prefix, "the destination was touched")
        XCTAssertNil(delegate.response(req.id))

        // Exactly at the cap is fine.
        let out2 = destination("out2")
        let req2 = request(url: server.url("/_gen/50000"), fd: out2.fd, http: http { $0.maximumSize = 50_000 })
        XCTAssertEqual(download(req2), .finished(bytesOnDisk: 50_000))
    }

    func testUnannouncedBodyOverTheCapFailsWhenCrossingIt() throws {
        let out = destination()
        let req = request(url: server.url("/_gen/300000?fault=nolength"), fd: out.fd, http: http { $0.maximumSize = 100_000 })
        let (failure, bytes) = try XCTUnwrap(failure(download(req)))
        guard case .maximumDownloadSizeExceeded(let text) = failure else { return XCTFail("got \(failure)") }
        XCTAssertTrue(text.contains("100000"), text)
        XCTAssertLessThanOrEqual(bytes, 100_000)
        XCTAssertGreaterThan(bytes, 0)
        let content = readAll(out.path)
        XCTAssertEqual(UInt64(content.count), bytes)
        XCTAssertTrue(content == generatedBytes(0..<content.count))
    }

    // MARK: - Redirects

    func testRedirectPolicies() throws {
        let target = server.url("/_gen/5000")
        for policy in [RedirectPolicy.allow, .allowReport] {
            let out = destination("out-\(policy.rawValue)")
            let req = request(url: server.url("/start?redirect=\(target)&code=301&tag=\(policy.rawValue)"), fd: out.fd,
                              http: http { $0.redirectPolicy = policy })
            XCTAssertEqual(download(req), .finished(bytesOnDisk: 5000))
            XCTAssertEqual(delegate.response(req.id)?.effectiveURL, target)
            XCTAssertTrue(readAll(out.path) == generatedBytes(0..<5000))
        }
        // Denied: nothing written, both URLs named; a relative Location is made absolute.
        for location in [target, "/_gen/5000"] {
            let out = destination("denied", prefill: [9, 9])
            let start = server.url("/start?redirect=\(location)")
            let req = request(url: start, fd: out.fd, http: http { $0.redirectPolicy = .deny })
            let (failure, bytes) = try XCTUnwrap(failure(download(req)))
            guard case .redirectDenied(let text) = failure else { return XCTFail("got \(failure)") }
            XCTAssertTrue(text.contains(target) && text.contains(start) && text.contains("deny"), text)
            XCTAssertEqual(bytes, 0)
            XCTAssertEqual(readAll(out.path), [9, 9])
            XCTAssertNil(delegate.response(req.id))
        }
    }

    // MARK: - Proxy

    private func proxyLog(_ file: String) -> [String] {
        ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func testExplicitProxyAndBypass() throws {
        let log = directory.file("proxy.log")
        let proxy = try startScript("proxyserver.py", ["--log", log])
        let proxyURL = "http://127.0.0.1:\(proxy.port)"
        let through = server.url("/_gen/7000?tag=through")
        let out = destination()
        let req = request(url: through, fd: out.fd, http: http { $0.proxy = .explicit(url: proxyURL, bypass: "") })
        XCTAssertEqual(download(req), .finished(bytesOnDisk: 7000))
        XCTAssertTrue(readAll(out.path) == generatedBytes(0..<7000))
        XCTAssertEqual(proxyLog(log), [through])

        let bypassed = server.url("/_gen/7000?tag=bypassed")
        let out2 = destination("out2")
        let req2 = request(url: bypassed, fd: out2.fd, http: http { $0.proxy = .explicit(url: proxyURL, bypass: "127.0.0.1") })
        XCTAssertEqual(download(req2), .finished(bytesOnDisk: 7000))
        XCTAssertEqual(proxyLog(log), [through])
    }

    func testNoProxyIgnoresTheEnvironment() throws {
        let log = directory.file("proxy.log")
        let proxy = try startScript("proxyserver.py", ["--log", log])
        let names = ["http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"]
        let saved = names.map { ($0, getenv($0).map { String(cString: $0) }) }
        defer {
            for (name, value) in saved {
                if let value { setenv(name, value, 1) } else { unsetenv(name) }
            }
        }
        for name in names { unsetenv(name) }
        setenv("http_proxy", "http://127.0.0.1:\(proxy.port)", 1)

        // The default (.environment) goes through http_proxy ...
        let viaEnvironment = server.url("/_gen/3000?tag=environment")
        let out = destination()
        XCTAssertEqual(download(request(url: viaEnvironment, fd: out.fd)), .finished(bytesOnDisk: 3000))
        XCTAssertEqual(proxyLog(log), [viaEnvironment])
        // ... and .none does not.
        let direct = server.url("/_gen/3000?tag=none")
        let out2 = destination("out2")
        let req = request(url: direct, fd: out2.fd, http: http { $0.proxy = .none })
        XCTAssertEqual(download(req), .finished(bytesOnDisk: 3000))
        XCTAssertEqual(proxyLog(log), [viaEnvironment])
    }

    func testProxyCredentials() throws {
        let proxy = try startScript("proxyserver.py", ["--auth", "pxuser:\(Self.secret)"])
        let proxyURL = "http://127.0.0.1:\(proxy.port)"
        let out = destination()
        let credentials = [Credential(target: .proxy, scheme: .basic, userName: "pxuser", password: Self.secret)]
        let req = request(url: server.url("/_gen/4000"), fd: out.fd, http: http {
            $0.proxy = .explicit(url: proxyURL, bypass: "")
            $0.credentials = credentials
        })
        XCTAssertEqual(download(req), .finished(bytesOnDisk: 4000))
        XCTAssertTrue(readAll(out.path) == generatedBytes(0..<4000))

        let out2 = destination("out2")
        let req2 = request(url: server.url("/_gen/4000"), fd: out2.fd, http: http { $0.proxy = .explicit(url: proxyURL, bypass: "") })
        XCTAssertEqual(download(req2), .failed(.httpStatus(407, retryAfterSeconds: nil), bytesOnDisk: 0))
        XCTAssertEqual(readAll(out2.path).count, 0)
        // Server credentials are not proxy credentials.
        let out3 = destination("out3")
        let serverOnly = [Credential(target: .server, scheme: .basic, userName: "pxuser", password: Self.secret)]
        let req3 = request(url: server.url("/_gen/4000?tag=3"), fd: out3.fd, http: http {
            $0.proxy = .explicit(url: proxyURL, bypass: "")
            $0.credentials = serverOnly
        })
        XCTAssertEqual(download(req3), .failed(.httpStatus(407, retryAfterSeconds: nil), bytesOnDisk: 0))
    }
}
