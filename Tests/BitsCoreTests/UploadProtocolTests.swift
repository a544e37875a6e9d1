import XCTest
@testable import BitsCore

final class UploadProtocolTests: XCTestCase {
    typealias UP = UploadProtocol
    let sid = "{5A8B1C2D-0000-4000-8000-00000000ABCD}"

    private func ack(_ status: Int, _ lines: [String] = [], packetType: Bool = true) -> UP.Ack {
        UP.Ack(status: status, headerLines: (packetType ? ["BITS-Packet-Type: Ack"] : []) + lines)
    }

    private func fragment(_ offset: UInt64, _ length: UInt64, _ total: UInt64, name: String? = nil) -> UP.Packet {
        .fragment(sessionID: sid, offset: offset, length: length, total: total, contentName: name)
    }

    private func failure(_ outcome: UP.Outcome, file: StaticString = #filePath, line: UInt = #line) -> UP.Failure? {
        guard case .failed(let f) = outcome else {
            XCTFail("expected a failure, got \(outcome)", file: file, line: line)
            return nil
        }
        return f
    }

    // MARK: Constants and headers

    func testConstants() {
        XCTAssertEqual(UP.protocolGUID, "{7df0354d-249b-430f-820d-3d2a9bef4931}")
        XCTAssertEqual(UP.method, "BITS_POST")
        XCTAssertEqual(UP.FragmentSizer.initialSize, 1_048_576)
        XCTAssertEqual(UP.FragmentSizer.minimumSize, 65_536)
        XCTAssertEqual(UP.FragmentSizer.maximumSize, 67_108_864)
    }

    func testPingAndSessionPacketHeaders() {
        XCTAssertEqual(UP.headers(for: .ping), ["BITS-Packet-Type: Ping", "Content-Length: 0"])
        XCTAssertEqual(UP.headers(for: .createSession), [
            "BITS-Packet-Type: Create-Session",
            "BITS-Supported-Protocols: {7df0354d-249b-430f-820d-3d2a9bef4931}",
            "Content-Length: 0",
        ])
        XCTAssertEqual(UP.headers(for: .closeSession(sessionID: sid)), [
            "BITS-Packet-Type: Close-Session", "BITS-Session-Id: \(sid)", "Content-Length: 0",
        ])
        XCTAssertEqual(UP.headers(for: .cancelSession(sessionID: sid)), [
            "BITS-Packet-Type: Cancel-Session", "BITS-Session-Id: \(sid)", "Content-Length: 0",
        ])
    }

    func testFragmentHeadersFirstAndLater() {
        XCTAssertEqual(UP.headers(for: fragment(0, 1024, 5000, name: "/home/ann/docs/report.pdf")), [
            "BITS-Packet-Type: Fragment",
            "BITS-Session-Id: \(sid)",
            "Content-Name: report.pdf",
            "Content-Range: bytes 0-1023/5000",
            "Content-Length: 1024",
        ])
        // Content-Name goes with the first fragment only, even when the caller passes it.
        XCTAssertEqual(UP.headers(for: fragment(1024, 3976, 5000, name: "/home/ann/docs/report.pdf")), [
            "BITS-Packet-Type: Fragment",
            "BITS-Session-Id: \(sid)",
            "Content-Range: bytes 1024-4999/5000",
            "Content-Length: 3976",
        ])
        XCTAssertEqual(UP.headers(for: fragment(0, 1, 1, name: "plain.txt"))[2], "Content-Name: plain.txt")
        XCTAssertFalse(UP.headers(for: fragment(0, 1, 1, name: nil)).contains { $0.hasPrefix("Content-Name") })
        XCTAssertFalse(UP.headers(for: fragment(0, 1, 1, name: "dir/")).contains { $0 == "Content-Name: " })
        XCTAssertEqual(UP.headers(for: fragment(0, 1, 1, name: "dir/")).filter { $0.hasPrefix("Content-Name") },
                       ["Content-Name: dir"])
    }

    func testEmptyFileFragment() {
        XCTAssertEqual(UP.headers(for: fragment(0, 0, 0, name: "empty.bin")), [
            "BITS-Packet-Type: Fragment",
            "BITS-Session-Id: \(sid)",
            "Content-Name: empty.bin",
            "Content-Range: bytes */0",
            "Content-Length: 0",
        ])
        XCTAssertEqual(UP.contentRange(of: .ping), nil)
    }

    func testHeaderValuesCannotInjectHeaders() {
        let lines = UP.headers(for: fragment(0, 10, 10, name: "evil\r\nX-Injected: 1.txt"))
        XCTAssertTrue(lines.contains("Content-Name: evil__X-Injected: 1.txt"))
        XCTAssertFalse(lines.contains { $0.contains("\r") || $0.contains("\n") })
    }

    func testPacketProperties() {
        XCTAssertEqual(fragment(5, 10, 20).bodyLength, 10)
        XCTAssertEqual(UP.Packet.closeSession(sessionID: "x").bodyLength, 0)
        XCTAssertEqual(UP.Packet.cancelSession(sessionID: "x").sessionID, "x")
        XCTAssertNil(UP.Packet.createSession.sessionID)
        XCTAssertEqual(fragment(5, 10, 20).summary, "Fragment bytes 5-14/20 (session \(sid))")
    }

    // MARK: Ack parsing

    func testAckParsingIsCaseInsensitive() {
        let a = UP.Ack(status: 200, headerLines: [
            "HTTP/1.1 200 OK\r\n",
            "bits-packet-type: ack\r\n",
            "BITS-PROTOCOL:{7DF0354D-249B-430F-820D-3D2A9BEF4931}",
            "Bits-Session-Id:   {ABC}  ",
            "bits-received-content-range: 213",
            "BITS-Reply-URL: http://srv/_reply/1",
            "BITS-Host-Id: node7.farm.example",
            "BITS-Host-Id-Fallback-Timeout: 300",
            "Content-Length: 0",
            "",
        ])
        XCTAssertEqual(a.status, 200)
        XCTAssertEqual(a.packetType, "ack")
        XCTAssertTrue(a.isAck)
        XCTAssertEqual(a.protocolID, "{7DF0354D-249B-430F-820D-3D2A9BEF4931}")
        XCTAssertEqual(a.sessionID, "{ABC}")
        XCTAssertEqual(a.receivedContentRange, 213)
        XCTAssertEqual(a.replyURL, "http://srv/_reply/1")
        XCTAssertEqual(a.hostID, "node7.farm.example")
        XCTAssertEqual(a.hostIDFallbackTimeout, 300)
        XCTAssertNil(a.errorCode)
        XCTAssertNil(a.errorContext)
        XCTAssertEqual(a.header("content-length"), "0")
        XCTAssertEqual(a.malformedHeaders, [])
    }

    func testAckErrorCodesAreHex() {
        let a = ack(500, ["BITS-Error-Code: 0x8020001F", "BITS-Error-Context: 0x5"])
        XCTAssertEqual(a.errorCode, 0x8020_001F)
        XCTAssertEqual(a.errorContext, 5)
        XCTAssertEqual(ack(500, ["bits-error-code: 0X80200020", "bits-error-context: 7"]).errorCode, 0x8020_0020)
        XCTAssertEqual(ack(500, ["bits-error-code: 0X80200020", "bits-error-context: 7"]).errorContext, 7)
        // [MC-BUP] 2.2.1.2 calls the header BITS-Error.
        XCTAssertEqual(ack(400, ["BITS-Error: x80070057"]).errorCode, nil)
        XCTAssertEqual(ack(400, ["BITS-Error: 0x80070057"]).errorCode, 0x8007_0057)
        XCTAssertEqual(ack(416, ["BITS-Error-Code: 0x00000000"]).errorCode, 0)
        XCTAssertEqual(ack(500, ["BITS-Error-Code: 80004005"]).errorCode, 0x8000_4005)
        XCTAssertEqual(ack(500, ["BITS-Error-Code: -2145386465"]).errorCode, 0x8020_001F)
        XCTAssertEqual(UP.parseHex("0x123456789"), nil)
        XCTAssertEqual(UP.parseHex("zz"), nil)
        XCTAssertEqual(UP.parseHex(""), nil)
        let bad = ack(200, ["BITS-Received-Content-Range: 12x", "BITS-Error-Code: bogus"])
        XCTAssertNil(bad.receivedContentRange)
        XCTAssertNil(bad.errorCode)
        XCTAssertEqual(bad.malformedHeaders, ["BITS-Received-Content-Range", "BITS-Error-Code"])
    }

    func testAckKeepsOnlyTheLastResponseOfAnExchange() {
        let a = UP.Ack(status: 200, headerLines: [
            "HTTP/1.1 401 Unauthorized", "WWW-Authenticate: Negotiate", "BITS-Error-Code: 0x80070005", "",
            "HTTP/1.1 200 OK", "BITS-Packet-Type: Ack", "BITS-Received-Content-Range: 10", "",
        ])
        XCTAssertNil(a.errorCode)
        XCTAssertNil(a.header("WWW-Authenticate"))
        XCTAssertEqual(a.receivedContentRange, 10)
        XCTAssertEqual(ack(503, ["Retry-After: 120"]).retryAfterSeconds, 120)
    }

    // MARK: Ping / Create-Session

    func testPingAck() {
        XCTAssertEqual(UP.interpret(packet: .ping, ack: ack(200)), .pinged)
        let f = failure(UP.interpret(packet: .ping, ack: ack(200, packetType: false)))
        XCTAssertEqual(f?.code, .protocolError)
        XCTAssertEqual(f?.disposition, .fatal)
        XCTAssertTrue(f?.description.contains("not a BITS Ack") ?? false)
    }

    func testCreateSessionSuccess() {
        let a = ack(200, ["BITS-Protocol: {7DF0354D-249B-430F-820D-3D2A9BEF4931}", "BITS-Session-Id: \(sid)",
                          "Accept-Encoding: identity", "BITS-Host-Id: 10.0.0.7", "BITS-Host-Id-Fallback-Timeout: 60"])
        XCTAssertEqual(UP.interpret(packet: .createSession, ack: a), .sessionCreated(UP.Session(
            id: sid, protocolID: "{7DF0354D-249B-430F-820D-3D2A9BEF4931}", hostID: "10.0.0.7", hostIDFallbackTimeout: 60)))
        let created = ack(201, ["BITS-Protocol: 7df0354d-249b-430f-820d-3d2a9bef4931", "BITS-Session-Id: s1"])
        XCTAssertEqual(UP.interpret(packet: .createSession, ack: created), .sessionCreated(UP.Session(
            id: "s1", protocolID: "7df0354d-249b-430f-820d-3d2a9bef4931")))
    }

    func testCreateSessionProtocolMismatch() {
        let missing = failure(UP.interpret(packet: .createSession, ack: ack(200, ["BITS-Session-Id: \(sid)"])))
        XCTAssertEqual(missing?.code, ErrorCode.uploadProtocolMismatch)
        XCTAssertEqual(missing?.code.rawValue, "upload-protocol-mismatch")
        XCTAssertEqual(missing?.disposition, .fatal)
        XCTAssertEqual(missing?.context, .remoteFile)
        XCTAssertTrue(missing?.description.contains("sent no BITS-Protocol") ?? false)
        let other = failure(UP.interpret(packet: .createSession, ack: ack(200, [
            "BITS-Protocol: {00000000-0000-0000-0000-000000000001}", "BITS-Session-Id: \(sid)"])))
        XCTAssertEqual(other?.code, ErrorCode.uploadProtocolMismatch)
        XCTAssertTrue(other?.description.contains("{00000000-0000-0000-0000-000000000001}") ?? false)
        // What [MC-BUP] 3.2.5.2.4 servers answer when no protocol is common: 400 E_INVALIDARG.
        let refused = failure(UP.interpret(packet: .createSession, ack: ack(400, [
            "BITS-Error-Code: 0x80070057", "BITS-Error-Context: 0x5"])))
        XCTAssertEqual(refused?.code, .http(400))
        XCTAssertEqual(refused?.disposition, .fatal)
    }

    func testCreateSessionWithoutSessionID() {
        let f = failure(UP.interpret(packet: .createSession, ack: ack(200, ["BITS-Protocol: \(UP.protocolGUID)"])))
        XCTAssertEqual(f?.code, .protocolError)
        XCTAssertEqual(f?.disposition, .fatal)
    }

    func testCreateSessionErrorStatuses() {
        // W:ack-for-create-session: 403 not allowed, 404 no such URL, 409 exists and no overwrite.
        for status in [403, 404, 409] {
            let f = failure(UP.interpret(packet: .createSession, ack: ack(status)))
            XCTAssertEqual(f?.disposition, .fatal, "\(status)")
            XCTAssertEqual(f?.code, .http(status))
            XCTAssertEqual(f?.context, .remoteFile)
        }
        // Session-not-found cannot be fixed by another Create-Session: a plain 500 failure.
        let lost = failure(UP.interpret(packet: .createSession, ack: ack(500, ["BITS-Error-Code: 0x8020001F"])))
        XCTAssertEqual(lost?.disposition, .transient)
        XCTAssertEqual(lost?.code, ErrorCode.uploadSessionNotFound)
    }

    // MARK: Fragments

    func testFragmentAcknowledged() {
        let a = ack(200, ["BITS-Session-Id: \(sid)", "BITS-Received-Content-Range: 213"])
        XCTAssertEqual(UP.interpret(packet: fragment(128, 85, 1000), ack: a),
                       .fragmentAccepted(nextOffset: 213, complete: false, replyURL: nil))
        let last = ack(200, ["BITS-Received-Content-Range: 1000"])
        XCTAssertEqual(UP.interpret(packet: fragment(900, 100, 1000), ack: last),
                       .fragmentAccepted(nextOffset: 1000, complete: true, replyURL: nil))
        let empty = ack(200, ["BITS-Received-Content-Range: 0"])
        XCTAssertEqual(UP.interpret(packet: fragment(0, 0, 0), ack: empty),
                       .fragmentAccepted(nextOffset: 0, complete: true, replyURL: nil))
    }

    func testFragmentReplyURL() {
        let final = ack(200, ["BITS-Received-Content-Range: 10", "BITS-Reply-URL: http://srv/_reply/9"])
        XCTAssertEqual(UP.interpret(packet: fragment(0, 10, 10), ack: final, replyExpected: true),
                       .fragmentAccepted(nextOffset: 10, complete: true, replyURL: "http://srv/_reply/9"))
        // Not the final fragment: a stray reply URL is not passed on.
        let early = ack(200, ["BITS-Received-Content-Range: 5", "BITS-Reply-URL: http://srv/_reply/9"])
        XCTAssertEqual(UP.interpret(packet: fragment(0, 5, 10), ack: early, replyExpected: true),
                       .fragmentAccepted(nextOffset: 5, complete: false, replyURL: nil))
        // [MC-BUP] 3.1.5.2.4: no Reply-URL on the final Ack of an upload-reply job is an error.
        let missing = failure(UP.interpret(packet: fragment(0, 10, 10), ack: ack(200, ["BITS-Received-Content-Range: 10"]),
                                           replyExpected: true))
        XCTAssertEqual(missing?.code, .protocolError)
        XCTAssertEqual(missing?.disposition, .fatal)
        XCTAssertTrue(missing?.description.contains("BITS-Reply-URL") ?? false)
    }

    func testFragmentAckBeyondWhatWasSentIsFatal() {
        let beyondSent = failure(UP.interpret(packet: fragment(0, 100, 1000), ack: ack(200, ["BITS-Received-Content-Range: 150"])))
        XCTAssertEqual(beyondSent?.code, .protocolError)
        XCTAssertEqual(beyondSent?.disposition, .fatal)
        XCTAssertEqual(beyondSent?.context, .remoteFile)
        XCTAssertTrue(beyondSent?.description.contains("beyond the 100 bytes sent") ?? false)
        let beyondTotal = failure(UP.interpret(packet: fragment(900, 100, 1000), ack: ack(200, ["BITS-Received-Content-Range: 1001"]),
                                               highestSentOffset: 5000))
        XCTAssertTrue(beyondTotal?.description.contains("beyond the file size 1000") ?? false)
        // A lost Ack: the server already had bytes up to 200 from an earlier send.
        XCTAssertEqual(UP.interpret(packet: fragment(100, 50, 1000), ack: ack(200, ["BITS-Received-Content-Range: 200"]),
                                    highestSentOffset: 200),
                       .fragmentAccepted(nextOffset: 200, complete: false, replyURL: nil))
    }

    func testFragmentAckWithoutOrWithBadRangeIsFatal() {
        let none = failure(UP.interpret(packet: fragment(0, 10, 20), ack: ack(200)))
        XCTAssertEqual(none?.code, .protocolError)
        XCTAssertTrue(none?.description.contains("no BITS-Received-Content-Range") ?? false)
        let bad = failure(UP.interpret(packet: fragment(0, 10, 20), ack: ack(200, ["BITS-Received-Content-Range: ten"])))
        XCTAssertTrue(bad?.description.contains("malformed BITS-Received-Content-Range 'ten'") ?? false)
        let stuck = failure(UP.interpret(packet: fragment(10, 10, 20), ack: ack(200, ["BITS-Received-Content-Range: 10"])))
        XCTAssertTrue(stuck?.description.contains("no progress") ?? false)
        let otherSession = failure(UP.interpret(packet: fragment(0, 10, 20), ack: ack(200, [
            "BITS-Session-Id: {other}", "BITS-Received-Content-Range: 10"])))
        XCTAssertEqual(otherSession?.code, .protocolError)
        // Same id, other spelling: fine.
        XCTAssertEqual(UP.interpret(packet: fragment(0, 10, 20), ack: ack(200, [
            "BITS-Session-Id: \(sid.lowercased().dropFirst().dropLast())", "BITS-Received-Content-Range: 10"])),
                       .fragmentAccepted(nextOffset: 10, complete: false, replyURL: nil))
    }

    func testFragment416Resync() {
        // The server holds fewer bytes than we thought (test server: 416 with 0x00000000).
        let behind = ack(416, ["BITS-Received-Content-Range: 4096", "BITS-Error-Code: 0x00000000", "BITS-Error-Context: 0x5"])
        XCTAssertEqual(UP.interpret(packet: fragment(8192, 4096, 20000), ack: behind), .resync(nextOffset: 4096))
        // The server holds more (an Ack was lost).
        XCTAssertEqual(UP.interpret(packet: fragment(0, 100, 1000), ack: ack(416, ["BITS-Received-Content-Range: 300"]),
                                    highestSentOffset: 300), .resync(nextOffset: 300))
        let noRange = failure(UP.interpret(packet: fragment(100, 100, 1000), ack: ack(416)))
        XCTAssertEqual(noRange?.code, .protocolError)
        XCTAssertEqual(noRange?.disposition, .fatal)
        XCTAssertEqual(noRange?.httpStatus, 416)
        let same = failure(UP.interpret(packet: fragment(100, 100, 1000), ack: ack(416, ["BITS-Received-Content-Range: 100"])))
        XCTAssertTrue(same?.description.contains("same offset 100") ?? false)
        let tooFar = failure(UP.interpret(packet: fragment(0, 100, 1000), ack: ack(416, ["BITS-Received-Content-Range: 500"])))
        XCTAssertTrue(tooFar?.description.contains("beyond the 100 bytes sent") ?? false)
        let pastEnd = failure(UP.interpret(packet: fragment(0, 100, 1000), ack: ack(416, ["BITS-Received-Content-Range: 2000"]),
                                           highestSentOffset: 1000))
        XCTAssertTrue(pastEnd?.description.contains("beyond the file size 1000") ?? false)
    }

    func testFragment413Shrinks() {
        let tooBig = ack(413, ["BITS-Error-Code: 0x80200020", "BITS-Error-Context: 0x5", "BITS-Received-Content-Range: 0"])
        XCTAssertEqual(UP.interpret(packet: fragment(0, 1 << 20, 10 << 20), ack: tooBig), .shrinkFragment)
        XCTAssertEqual(UP.interpret(packet: fragment(0, 65_537, 10 << 20), ack: ack(413)), .shrinkFragment)
        // At the minimum there is nothing left to shrink.
        let f = failure(UP.interpret(packet: fragment(0, 65_536, 10 << 20), ack: tooBig))
        XCTAssertEqual(f?.code, ErrorCode.uploadTooLarge)
        XCTAssertEqual(f?.disposition, .fatal)
        XCTAssertEqual(f?.context, .remoteFile)
        XCTAssertTrue(f?.description.contains("HTTP 413") ?? false)
        XCTAssertTrue(f?.description.contains("0x80200020 (BG_E_TOO_LARGE)") ?? false)
        // IIS request filtering: 404 without BITS headers for a body over 30,000,000 bytes.
        XCTAssertEqual(UP.interpret(packet: fragment(0, 32 << 20, 100 << 20), ack: ack(404, packetType: false)), .shrinkFragment)
        XCTAssertEqual(failure(UP.interpret(packet: fragment(0, 16 << 20, 100 << 20), ack: ack(404)))?.code, .http(404))
    }

    func testUploadTooLargeIsFatal() {
        // Test server / [MC-BUP] 2.2.1.2: total above the server's maximum → 500 BG_E_TOO_LARGE.
        let f = failure(UP.interpret(packet: fragment(0, 1024, 1 << 40), ack: ack(500, [
            "BITS-Error-Code: 0x80200020", "BITS-Error-Context: 0x5", "BITS-Received-Content-Range: 0"])))
        XCTAssertEqual(f?.code, ErrorCode.uploadTooLarge)
        XCTAssertEqual(f?.code.rawValue, "upload-too-large")
        XCTAssertEqual(f?.disposition, .fatal)
        XCTAssertEqual(f?.bitsErrorCode, 0x8020_0020)
        XCTAssertEqual(f?.bitsErrorContext, 5)
    }

    // MARK: Session not found

    func testSessionNotFoundRestarts() {
        let lost = ack(500, ["BITS-Error-Code: 0x8020001F", "BITS-Error-Context: 0x5"])
        XCTAssertEqual(UP.interpret(packet: fragment(4096, 4096, 10000), ack: lost), .sessionNotFound)
        XCTAssertEqual(UP.interpret(packet: .closeSession(sessionID: sid), ack: lost), .sessionNotFound)
        XCTAssertEqual(UP.interpret(packet: .ping, ack: lost), .sessionNotFound)
        // Nothing left to cancel ([MC-BUP] 3.1.5.2.1 excepts Cancel-Session).
        XCTAssertEqual(UP.interpret(packet: .cancelSession(sessionID: sid), ack: lost), .sessionClosed)
        // A caller that gives up gets a classified failure.
        let f = UP.classify(packet: fragment(4096, 4096, 10000), ack: lost)
        XCTAssertEqual(f.code.rawValue, "upload-session-not-found")
        XCTAssertEqual(f.disposition, .transient)
        XCTAssertEqual(f.description,
            "Fragment bytes 4096-8191/10000 (session \(sid)): the server answered HTTP 500 (internal server error) with BITS-Error-Code 0x8020001F (BG_E_SESSION_NOT_FOUND) in context 0x5 (remote file); the server does not know the upload session.")
    }

    // MARK: BITS server errors (context 0x5)

    func testBitsServerErrors() {
        let invalid = failure(UP.interpret(packet: fragment(0, 10, 10), ack: ack(400, [
            "BITS-Error-Code: 0x80070057", "BITS-Error-Context: 0x5"])))
        XCTAssertEqual(invalid?.code, .http(400))
        XCTAssertEqual(invalid?.disposition, .fatal)
        XCTAssertEqual(invalid?.context, .remoteFile)
        // E_INVALIDARG stays fatal whatever the status (411: no Content-Length).
        XCTAssertEqual(failure(UP.interpret(packet: .ping, ack: ack(411, ["BITS-Error-Code: 0x80070057"])))?.disposition, .fatal)
        XCTAssertEqual(failure(UP.interpret(packet: .ping, ack: ack(500, ["BITS-Error-Code: 0x80070057"])))?.disposition, .fatal)

        let denied = failure(UP.interpret(packet: .createSession, ack: ack(403, [
            "BITS-Error-Code: 0x80070005", "BITS-Error-Context: 0x5"])))
        XCTAssertEqual(denied?.code, .http(403))
        XCTAssertEqual(denied?.disposition, .fatal)
        XCTAssertTrue(denied?.description.contains("0x80070005 (E_ACCESSDENIED)") ?? false)

        let disabled = failure(UP.interpret(packet: .createSession, ack: ack(501, [
            "BITS-Error-Code: 0x80070005", "BITS-Error-Context: 0x5"])))
        XCTAssertEqual(disabled?.code, ErrorCode.uploadNotEnabled)
        XCTAssertEqual(disabled?.code.rawValue, "upload-not-enabled")
        XCTAssertEqual(disabled?.disposition, .fatal)

        let diskFull = failure(UP.interpret(packet: fragment(0, 10, 10), ack: ack(500, [
            "BITS-Error-Code: 0x80070112", "BITS-Error-Context: 0x5"])))
        XCTAssertEqual(diskFull?.disposition, .transient)
        XCTAssertEqual(diskFull?.code, .http(500))

        let overloaded = failure(UP.interpret(packet: fragment(0, 10, 10), ack: ack(503, [
            "BITS-Error-Code: 0x801901F7", "BITS-Error-Context: 0x5", "Retry-After: 30"])))
        XCTAssertEqual(overloaded?.disposition, .transient)
        XCTAssertEqual(overloaded?.retryAfterSeconds, 30)
        XCTAssertEqual(overloaded?.classified.retryAfterSeconds, 30)
        XCTAssertTrue(overloaded?.description.contains("BG_E_HTTP_ERROR_503") ?? false)

        // No BITS headers at all (a proxy or a server without the extension).
        let proxy = failure(UP.interpret(packet: fragment(0, 10, 10), ack: ack(502, packetType: false)))
        XCTAssertEqual(proxy?.disposition, .transient)
        XCTAssertEqual(proxy?.context, .remoteFile)
        XCTAssertEqual(proxy?.code, .http(502))
        let noPost = failure(UP.interpret(packet: .createSession, ack: ack(501, packetType: false)))
        XCTAssertEqual(noPost?.disposition, .fatal)
        XCTAssertEqual(noPost?.code, .http(501))
        XCTAssertTrue(noPost?.description.contains("does not implement BITS_POST") ?? false)
    }

    func testBitsServerDispositionTable() {
        let fatal: [Int] = [300, 301, 302, 307, 308, 400, 401, 403, 404, 405, 407, 409, 410, 411, 416, 501, 505]
        let transient: [Int] = [100, 408, 429, 500, 502, 503, 504, 506, 599, 600]
        for s in fatal { XCTAssertEqual(UP.bitsServerDisposition(s), .fatal, "\(s)") }
        for s in transient { XCTAssertEqual(UP.bitsServerDisposition(s), .transient, "\(s)") }
    }

    // MARK: Server application errors (context 0x7, bits-reference §3.1)

    func testServerApplicationDispositionTable() {
        for s in 300...305 { XCTAssertEqual(UP.serverApplicationDisposition(s), .fatal, "\(s)") }
        XCTAssertEqual(UP.serverApplicationDisposition(306), .transient)
        XCTAssertEqual(UP.serverApplicationDisposition(307), .fatal)
        XCTAssertEqual(UP.serverApplicationDisposition(308), .transient)
        XCTAssertEqual(UP.serverApplicationDisposition(399), .transient)
        for s in 400...499 where s != 408 && s != 409 {
            XCTAssertEqual(UP.serverApplicationDisposition(s), .fatal, "\(s)")
        }
        XCTAssertEqual(UP.serverApplicationDisposition(408), .transient)
        XCTAssertEqual(UP.serverApplicationDisposition(409), .transient)
        for s in 500...599 where s != 501 && s != 505 {
            XCTAssertEqual(UP.serverApplicationDisposition(s), .transient, "\(s)")
        }
        XCTAssertEqual(UP.serverApplicationDisposition(501), .fatal)
        XCTAssertEqual(UP.serverApplicationDisposition(505), .fatal)
        for s in [100, 102, 204, 600, 999] { XCTAssertEqual(UP.serverApplicationDisposition(s), .transient, "\(s)") }
    }

    func testServerApplicationErrorsUseRemoteApplicationContext() {
        // Test server: the reply handler failed → 500 E_FAIL, context 0x7.
        let failed = failure(UP.interpret(packet: fragment(0, 10, 10), ack: ack(500, [
            "BITS-Error-Code: 0x80004005", "BITS-Error-Context: 0x7", "BITS-Received-Content-Range: 10"]), replyExpected: true))
        XCTAssertEqual(failed?.context, .remoteApplication)
        XCTAssertEqual(failed?.disposition, .transient)
        XCTAssertEqual(failed?.code.rawValue, "remote-application-http-500")
        XCTAssertEqual(failed?.description,
            "Fragment bytes 0-9/10 (session \(sid)): the server answered HTTP 500 (internal server error) with BITS-Error-Code 0x80004005 (E_FAIL) in context 0x7 (remote application); the server application failed.")
        for (status, expected) in [(301, FailureDisposition.fatal), (303, .fatal), (307, .fatal), (306, .transient),
                                   (400, .fatal), (403, .fatal), (404, .fatal), (408, .transient), (409, .transient),
                                   (500, .transient), (501, .fatal), (502, .transient), (503, .transient), (505, .fatal)] {
            let f = failure(UP.interpret(packet: fragment(0, 10, 10), ack: ack(status, [
                "BITS-Error-Code: \(UP.hex(UP.HResult.httpErrorBase + UInt32(status)))", "BITS-Error-Context: 0x7"])))
            XCTAssertEqual(f?.disposition, expected, "\(status)")
            XCTAssertEqual(f?.context, .remoteApplication, "\(status)")
            XCTAssertEqual(f?.code, ErrorCode.remoteApplication(status))
            XCTAssertEqual(f?.httpStatus, status)
            XCTAssertEqual(f?.classified.context, .remoteApplication)
        }
        // Context 0x7 wins over the 413/416 fragment handling: the application answered.
        let app413 = failure(UP.interpret(packet: fragment(0, 1 << 20, 2 << 20), ack: ack(413, [
            "BITS-Error-Context: 0x7", "BITS-Error-Code: 0x8019019D"])))
        XCTAssertEqual(app413?.context, .remoteApplication)
        XCTAssertEqual(app413?.disposition, .fatal)
        XCTAssertEqual(app413?.code.rawValue, "remote-application-http-413")
        let app416 = failure(UP.interpret(packet: fragment(0, 10, 20), ack: ack(416, [
            "BITS-Error-Context: 0x7", "BITS-Received-Content-Range: 5"])))
        XCTAssertEqual(app416?.code.rawValue, "remote-application-http-416")
    }

    // MARK: Close / Cancel

    func testCloseAndCancelSuccess() {
        XCTAssertEqual(UP.interpret(packet: .closeSession(sessionID: sid), ack: ack(200, ["BITS-Session-Id: \(sid)"])), .sessionClosed)
        XCTAssertEqual(UP.interpret(packet: .cancelSession(sessionID: sid), ack: ack(200)), .sessionClosed)
        let f = failure(UP.interpret(packet: .closeSession(sessionID: sid), ack: ack(503)))
        XCTAssertEqual(f?.disposition, .transient)
    }

    func testCloseRetryRule() {
        XCTAssertTrue(UP.shouldRetryClose(ack: ack(500)))
        XCTAssertTrue(UP.shouldRetryClose(ack: ack(503, ["BITS-Error-Code: 0x801901F7"])))
        XCTAssertTrue(UP.shouldRetryClose(ack: ack(599)))
        XCTAssertTrue(UP.shouldRetryClose(ack: ack(500, ["BITS-Error-Code: 0x80004005", "BITS-Error-Context: 0x7"])))
        XCTAssertFalse(UP.shouldRetryClose(ack: ack(500, ["BITS-Error-Code: 0x8020001F", "BITS-Error-Context: 0x5"])))
        for status in [100, 200, 201, 301, 400, 403, 404, 408, 499, 600] {
            XCTAssertFalse(UP.shouldRetryClose(ack: ack(status)), "\(status)")
        }
    }

    // MARK: FragmentSizer

    func testFragmentSizerGrowsAndShrinks() {
        var s = UP.FragmentSizer()
        XCTAssertEqual(s.size, 1 << 20)
        s.recordAcknowledged(length: 1 << 20, elapsed: .milliseconds(500))
        XCTAssertEqual(s.size, 2 << 20)
        s.recordAcknowledged(length: 2 << 20, elapsed: .milliseconds(1999))
        XCTAssertEqual(s.size, 4 << 20)
        s.recordAcknowledged(length: 4 << 20, elapsed: .seconds(2))       // 2 s: not "under 2 s"
        XCTAssertEqual(s.size, 4 << 20)
        s.recordAcknowledged(length: 4 << 20, elapsed: .seconds(20))      // 20 s: not "over 20 s"
        XCTAssertEqual(s.size, 4 << 20)
        s.recordAcknowledged(length: 4 << 20, elapsed: .milliseconds(20_001))
        XCTAssertEqual(s.size, 2 << 20)
        // A short (last) fragment does not make the size grow.
        s.recordAcknowledged(length: 1000, elapsed: .milliseconds(10))
        XCTAssertEqual(s.size, 2 << 20)
        // ...but a slow one still shrinks it.
        s.recordAcknowledged(length: 1000, elapsed: .seconds(60))
        XCTAssertEqual(s.size, 1 << 20)
    }

    func testFragmentSizerBounds() {
        var s = UP.FragmentSizer(size: 32 << 20)
        s.recordAcknowledged(length: 32 << 20, elapsed: .milliseconds(1))
        XCTAssertEqual(s.size, 64 << 20)
        s.recordAcknowledged(length: 64 << 20, elapsed: .milliseconds(1))
        XCTAssertEqual(s.size, UP.FragmentSizer.maximumSize)
        var small = UP.FragmentSizer(size: 100 << 10)
        small.recordAcknowledged(length: 100 << 10, elapsed: .seconds(30))
        XCTAssertEqual(small.size, 65_536)
        small.recordAcknowledged(length: 65_536, elapsed: .seconds(30))
        XCTAssertEqual(small.size, UP.FragmentSizer.minimumSize)
        XCTAssertEqual(UP.FragmentSizer(size: 1).size, 65_536)
        XCTAssertEqual(UP.FragmentSizer(size: .max).size, 64 << 20)
    }

    func testFragmentSizerTooLarge() {
        var s = UP.FragmentSizer(size: 4 << 20)
        XCTAssertTrue(s.recordTooLarge(failedLength: 4 << 20))
        XCTAssertEqual(s.size, 2 << 20)
        XCTAssertEqual(s.ceiling, 2 << 20)
        // It never grows back past the size that worked after the refusal.
        s.recordAcknowledged(length: 2 << 20, elapsed: .milliseconds(100))
        XCTAssertEqual(s.size, 2 << 20)
        // A refused short fragment shrinks below it.
        XCTAssertTrue(s.recordTooLarge(failedLength: 300_000))
        XCTAssertEqual(s.size, 150_000)
        XCTAssertTrue(s.recordTooLarge(failedLength: 150_000))
        XCTAssertEqual(s.size, 75_000)
        XCTAssertTrue(s.recordTooLarge(failedLength: 75_000))
        XCTAssertEqual(s.size, 65_536)
        XCTAssertFalse(s.recordTooLarge(failedLength: 65_536))
        XCTAssertEqual(s.size, 65_536)
        // IIS limit: 64 MiB → 32 MiB (still > 30,000,000) → 16 MiB.
        var big = UP.FragmentSizer(size: 64 << 20)
        big.recordTooLarge(failedLength: 64 << 20)
        big.recordTooLarge(failedLength: 32 << 20)
        XCTAssertEqual(big.size, 16 << 20)
    }

    func testFragmentLength() {
        let s = UP.FragmentSizer()
        XCTAssertEqual(s.length(at: 0, total: 5 << 20), 1 << 20)
        XCTAssertEqual(s.length(at: (5 << 20) - 10, total: 5 << 20), 10)
        XCTAssertEqual(s.length(at: 5 << 20, total: 5 << 20), 0)
        XCTAssertEqual(s.length(at: 0, total: 0), 0)
    }

    // MARK: Host-Id affinity

    func testReplacingHost() {
        XCTAssertEqual(UP.replacingHost(in: "http://farm.example.com/upload/a.bin", with: "node3"),
                       "http://node3/upload/a.bin")
        XCTAssertEqual(UP.replacingHost(in: "https://farm.example.com:8443/up/a.bin?x=1#f", with: "10.1.2.3"),
                       "https://10.1.2.3:8443/up/a.bin?x=1#f")
        XCTAssertEqual(UP.replacingHost(in: "http://user:pw@farm:81/a", with: "node3"), "http://user:pw@node3:81/a")
        XCTAssertEqual(UP.replacingHost(in: "http://farm.example.com/a", with: "2001:db8::7"),
                       "http://[2001:db8::7]/a")
        XCTAssertEqual(UP.replacingHost(in: "http://[::1]:8080/a", with: "[2001:db8::7]"),
                       "http://[2001:db8::7]:8080/a")
        XCTAssertEqual(UP.replacingHost(in: "http://[::1]/a", with: "node3"), "http://node3/a")
        XCTAssertEqual(UP.replacingHost(in: "http://farm/a", with: "fe80::1%eth0"), "http://[fe80::1%25eth0]/a")
        XCTAssertEqual(UP.replacingHost(in: "http://farm:81", with: "node3:8081"), "http://node3:8081")
        XCTAssertEqual(UP.replacingHost(in: "http://farm/a", with: "[2001:db8::7]:9000"), "http://[2001:db8::7]:9000/a")
        XCTAssertEqual(UP.replacingHost(in: "http://farm/a", with: " node3 "), "http://node3/a")
        for bad in ["", "node3/evil", "a@b", "node 3", "node3:0", "node3:port", "[::1", "x?y", "[::1]junk"] {
            XCTAssertNil(UP.replacingHost(in: "http://farm/a", with: bad), bad)
        }
        XCTAssertNil(UP.replacingHost(in: "not a url", with: "node3"))
    }

    func testHostAffinityFallback() {
        let a = ack(200, ["BITS-Protocol: \(UP.protocolGUID)", "BITS-Session-Id: s",
                          "BITS-Host-Id: node3.farm", "BITS-Host-Id-Fallback-Timeout: 600"])
        let affinity = UP.HostAffinity(originalURL: "https://farm/up/a.bin", ack: a)
        XCTAssertEqual(affinity.affinityURL, "https://node3.farm/up/a.bin")
        XCTAssertEqual(affinity.fallbackTimeout, .seconds(600))
        XCTAssertEqual(affinity.url(), "https://node3.farm/up/a.bin")
        XCTAssertEqual(affinity.url(failingFor: .seconds(599)), "https://node3.farm/up/a.bin")
        XCTAssertFalse(affinity.shouldFallBack(failingFor: .seconds(599)))
        XCTAssertTrue(affinity.shouldFallBack(failingFor: .seconds(600)))
        XCTAssertEqual(affinity.url(failingFor: .seconds(600)), "https://farm/up/a.bin")

        // No timeout (or 0xFFFFFFFF, [MC-BUP] 3.1.2.3): never fall back.
        let never = UP.HostAffinity(originalURL: "http://farm/a", hostID: "node3", fallbackTimeoutSeconds: nil)
        XCTAssertNil(never.fallbackTimeout)
        XCTAssertEqual(never.url(failingFor: .seconds(86_400 * 365)), "http://node3/a")
        let infinite = UP.HostAffinity(originalURL: "http://farm/a", hostID: "node3", fallbackTimeoutSeconds: 0xFFFF_FFFF)
        XCTAssertNil(infinite.fallbackTimeout)
        XCTAssertFalse(infinite.shouldFallBack(failingFor: .seconds(1 << 40)))

        // No Host-Id: the original URL; a timeout alone means nothing.
        let none = UP.HostAffinity(originalURL: "http://farm/a", hostID: nil, fallbackTimeoutSeconds: 5)
        XCTAssertNil(none.affinityURL)
        XCTAssertEqual(none.url(failingFor: .seconds(10)), "http://farm/a")
        XCTAssertFalse(none.shouldFallBack(failingFor: .seconds(10)))

        // From the session of a Create-Session outcome.
        guard case .sessionCreated(let session) = UP.interpret(packet: .createSession, ack: a) else {
            return XCTFail("no session")
        }
        XCTAssertEqual(UP.HostAffinity(originalURL: "https://farm/up/a.bin", session: session), affinity)
    }

    func testResolveReplyURL() {
        XCTAssertEqual(UP.resolveReplyURL("http://srv:81/_reply/1", requestURL: "http://farm/up/a"), "http://srv:81/_reply/1")
        XCTAssertEqual(UP.resolveReplyURL("/_reply/1", requestURL: "http://127.0.0.1:8080/up/a.bin?q"),
                       "http://127.0.0.1:8080/_reply/1")
        XCTAssertEqual(UP.resolveReplyURL("r/1", requestURL: "https://h/up/a.bin"), "https://h/up/r/1")
        XCTAssertEqual(UP.resolveReplyURL("//cdn/r", requestURL: "https://h/up/a.bin"), "https://cdn/r")
        XCTAssertEqual(UP.resolveReplyURL("r", requestURL: "https://h"), "https://h/r")
        XCTAssertNil(UP.resolveReplyURL("  ", requestURL: "https://h/a"))
    }
}
