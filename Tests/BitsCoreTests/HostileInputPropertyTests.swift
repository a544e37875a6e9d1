import XCTest
@testable import BitsCore

/// Generated hostile input for the pure rules: saturating arithmetic, job sums, URL and path
/// validation, byte ranges, password redaction and the BITS upload protocol's numbers. Each
/// test checks properties against an exact model (128-bit arithmetic where numbers overflow)
/// over a few thousand cases from a fixed seed; a failure names the case.
final class HostileInputPropertyTests: XCTestCase {
    private typealias UP = UploadProtocol

    // MARK: - Saturating arithmetic and sums

    func testSaturatingArithmeticMatchesExactArithmetic() {
        var rng = SplitMix64(seed: 0x5341_5455)
        func clampI(_ value: Int128) -> Int64 { value > Int128(Int64.max) ? .max : value < Int128(Int64.min) ? .min : Int64(value) }
        func clampU(_ value: Int128) -> UInt64 { value > Int128(UInt64.max) ? .max : value < 0 ? 0 : UInt64(value) }
        for n in 0..<5000 {
            let a = rng.edgy(), b = rng.edgy()
            XCTAssertEqual(a.addingSaturating(b), clampU(Int128(a) + Int128(b)), "case \(n)")
            XCTAssertEqual(a.subtractingSaturating(b), clampU(Int128(a) - Int128(b)), "case \(n)")
            XCTAssertEqual(a.multipliedSaturating(by: b % (1 << 40)), clampU(Int128(a) * Int128(b % (1 << 40))), "case \(n)")
            let x = Int64(bitPattern: rng.edgy()), y = Int64(bitPattern: rng.edgy())
            XCTAssertEqual(x.addingSaturating(y), clampI(Int128(x) + Int128(y)), "case \(n)")
            XCTAssertEqual(x.subtractingSaturating(y), clampI(Int128(x) - Int128(y)), "case \(n)")
            let small = Int64(bitPattern: rng.next()) >> 20
            XCTAssertEqual(x.multipliedSaturating(by: small), clampI(Int128(x) * Int128(small)), "case \(n)")
            let list = (0..<Int(rng.next() % 6)).map { _ in rng.edgy() }
            XCTAssertEqual(list.saturatingSum(), clampU(list.reduce(Int128(0)) { $0 + Int128($1) }), "case \(n)")
        }
        let counts = (0..<2000).map { _ in UInt32(truncatingIfNeeded: rng.edgy()) }
        for count in counts { XCTAssertEqual(count.addingSaturating(1), count == .max ? .max : count + 1) }
    }

    func testJobSumsSaturateAndSizesStayKnown() {
        var rng = SplitMix64(seed: 0x4A4F_4253)
        for n in 0..<2000 {
            var job = Job(id: .random(), type: .download, owner: 1000, displayName: "sums", now: 0)
            var exactTotal = Int128(0), exactDone = Int128(0), known = true
            for i in 0..<Int(rng.next() % 8) {
                var file = JobFile(remoteName: "http://h/\(i)", localName: "/tmp/\(i)", temporaryName: "/tmp/t\(i)")
                file.bytesTotal = rng.next() % 6 == 0 ? nil : rng.edgy()
                file.bytesTransferred = rng.edgy()
                file.completed = rng.next() % 2 == 0
                if let total = file.bytesTotal { exactTotal += Int128(total) } else { known = false }
                exactDone += Int128(file.bytesTransferred)
                job.files.append(file)
            }
            if known {
                XCTAssertEqual(job.bytesTotal, UInt64(min(exactTotal, Int128(UInt64.max - 1))), "case \(n)")
            } else {
                XCTAssertNil(job.bytesTotal, "case \(n)")
            }
            XCTAssertEqual(job.bytesTransferred, UInt64(min(exactDone, Int128(UInt64.max))), "case \(n)")
            XCTAssertEqual(Int(job.filesTotal), job.files.count)
            XCTAssertEqual(Int(job.filesTransferred), job.files.filter(\.completed).count)
        }
    }

    func testUploadSourceStampsSaturate() {
        var rng = SplitMix64(seed: 0x5354_414D)
        for n in 0..<4000 {
            let seconds = rng.pick([Int64(bitPattern: rng.edgy()), 9_223_372_036, 9_223_372_037, -9_223_372_036, -9_223_372_037])
            let nanos = rng.next() % 4 == 0 ? Int64(bitPattern: rng.edgy()) : Int64(bitPattern: rng.edgy()) % 1_000_000_000
            let exact = Int128(seconds) * 1_000_000_000 + Int128(nanos)
            let expected = exact > Int128(Int64.max) ? Int64.max : exact < Int128(Int64.min) ? Int64.min : Int64(exact)
            XCTAssertEqual(UploadState.modifiedStamp(seconds: seconds, nanoseconds: nanos), expected, "case \(n)")
        }
        // `touch -d @100000000000000`: after 2262, all far-future times read the same.
        XCTAssertEqual(UploadState.modifiedStamp(seconds: 100_000_000_000_000, nanoseconds: 0), Int64.max)
        XCTAssertEqual(UploadState.modifiedStamp(seconds: 1_700_000_000, nanoseconds: 5), 1_700_000_000_000_000_005)
    }

    func testNotificationThrottleWaitsAtMostTheInterval() {
        var rng = SplitMix64(seed: 0x5448_524F)
        for n in 0..<3000 {
            var throttle = NotificationThrottle()
            var now = rng.edgy()
            for _ in 0..<4 {
                let interval = UInt32(truncatingIfNeeded: rng.edgy())
                if let wait = throttle.changed(now: now, interval: interval) {
                    XCTAssertLessThanOrEqual(wait, UInt64(interval), "case \(n)")
                    if wait > 0 {
                        now = now.addingSaturating(wait)  // the scheduled send happens then
                        throttle.flush(now: now)
                    }
                }
                now = now.addingSaturating(rng.next() % 1000)
            }
        }
    }

    func testBandwidthRatesAreExactOrNil() {
        var rng = SplitMix64(seed: 0x5241_5445)
        for n in 0..<3000 {
            let value = rng.edgy()
            let suffix = rng.pick(["", "K", "m", "G", "k"])
            let multiplier: UInt64 = ["K": 1 << 10, "k": 1 << 10, "m": 1 << 20, "G": 1 << 30][suffix] ?? 1
            let exact = Int128(value) * Int128(multiplier)
            XCTAssertEqual(BandwidthPolicy.parseRate("\(value)\(suffix)"), exact > Int128(UInt64.max) ? nil : UInt64(exact),
                           "case \(n): \(value)\(suffix)")
        }
        XCTAssertNil(BandwidthPolicy.parseRate(String(repeating: "9", count: 400) + "G"))
    }

    // MARK: - URLs, paths, ranges

    func testRemoteURLPartsAreFoundAndBounded() {
        var rng = SplitMix64(seed: 0x5552_4C53)
        for n in 0..<4000 {
            let scheme = rng.pick(["http", "HTTPS", "file", "ftp", "x+y-z.1"])
            let user = rng.pick(["", "u@", "user:pw@", "a:b:c@", "%40:%3A@", "é:ü@"])
            let host = rng.pick(["Example.COM", "127.0.0.1", "[::1]", "[fe80::1%25eth0]", "", "h\(rng.next() % 100)"])
            let port = rng.pick(["", ":", ":80", ":\(rng.edgy())", ":" + rng.string(from: "0123456789", count: Int(rng.next() % 40))])
            let path = rng.pick(["", "/", "/a/b", "/%41%42", "/" + rng.string(from: "ab/%é", count: Int(rng.next() % 20))])
            let tail = rng.pick(["", "?q=1", "#f", "?a=b@c:d/e", "?x#y"])
            let text = "\(scheme)://\(user)\(host)\(port)\(path)\(tail)"
            guard let url = RemoteURL(text) else {
                // Only a malformed file path escape can make a well-formed URL unparseable.
                XCTAssertTrue(scheme == "file" && path.contains("%"), "case \(n): \(text)")
                continue
            }
            XCTAssertEqual(url.text, text)
            XCTAssertEqual(url.scheme, scheme.lowercased(), "case \(n)")
            XCTAssertEqual(url.host, host.lowercased(), "case \(n): \(text)")
            XCTAssertEqual(url.port, String(port.dropFirst()), "case \(n): \(text)")
            XCTAssertTrue(url.port.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }, "case \(n)")
            if scheme != "file" { XCTAssertEqual(url.path, path, "case \(n): \(text)") }
            XCTAssertEqual(url.origin, "\(scheme.lowercased())://\(host.lowercased()):\(port.dropFirst())")
        }
        // Garbage: nil, or a URL whose scheme is a well-formed scheme.
        for n in 0..<3000 {
            let text = rng.string(from: "ab:/@[]%?#09 .\u{0}é", count: Int(rng.next() % 30))
            if let url = RemoteURL(text) {
                XCTAssertTrue(text.contains("://") && url.port.allSatisfy(\.isNumber), "case \(n): \(text.debugDescription)")
                XCTAssertTrue(url.scheme.first?.isLetter == true, "case \(n)")
            }
        }
    }

    func testDownloadURLValidationHoldsItsPromises() {
        var rng = SplitMix64(seed: 0x444C_5552)
        for n in 0..<4000 {
            let scheme = rng.pick(["http", "https", "file", "ftp", "HTTP"])
            let secret = "S3cr" + rng.string(from: "et!$", count: 4)
            let user = rng.pick(["", "user:\(secret)@"])
            let host = rng.pick(["example.com", "", "localhost", "[::1]"])
            let port = rng.pick(["", ":8080", ":\(rng.edgy())", ":99999999999999999999999"])
            let path = rng.pick(["/a", "", "/" + String(repeating: "x", count: Int(rng.next() % 2300)), "/a b", "/a\u{7f}", "/%00"])
            let text = "\(scheme)://\(user)\(host)\(port)\(path)"
            do {
                let url = try InputValidation.downloadURL(text)
                XCTAssertLessThanOrEqual(text.count, JobDefaults.urlMaxLength, "case \(n)")
                XCTAssertFalse(text.utf8.contains { $0 <= 0x20 || $0 == 0x7f }, "case \(n)")
                XCTAssertTrue(["http", "https", "file"].contains(url.scheme), "case \(n)")
                if url.scheme == "file" {
                    XCTAssertTrue(url.path.hasPrefix("/") && (url.host.isEmpty || url.host == "localhost"), "case \(n)")
                } else {
                    XCTAssertFalse(url.host.isEmpty, "case \(n)")
                }
            } catch let error as ServiceError {
                XCTAssertFalse(error.message.contains(secret), "case \(n): the password is in \(error.message)")
                XCTAssertLessThan(error.message.utf8.count, 400, "case \(n): the message quotes too much")
            } catch {
                XCTFail("case \(n): \(error)")
            }
        }
    }

    func testLocalPathsAgreeWithTheRules() {
        var rng = SplitMix64(seed: 0x5041_5448)
        for n in 0..<4000 {
            let components = (0..<Int(rng.next() % 5)).map { _ in
                rng.pick(["a", "", ".", "..", "...", "é", "x\u{1}", String(repeating: "n", count: rng.pick([255, 256, 300, 4000]))])
            }
            let text = rng.pick(["/", "", "./"]) + components.joined(separator: "/") + rng.pick(["", "/"])
            let valid: Bool = {
                guard text.hasPrefix("/"), text.utf8.count <= JobDefaults.pathMaxLength, text != "/", !text.hasSuffix("/"),
                      !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else { return false }
                let parts = text.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
                return parts.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." } && parts.last!.utf8.count <= 255
            }()
            XCTAssertEqual((try? InputValidation.localPath(text)) != nil, valid, "case \(n): \(text.prefix(80).debugDescription)")
        }
    }

    func testRangesAreRefusedExactlyWhenEmptyOverflowingOrOverlapping() {
        var rng = SplitMix64(seed: 0x5247_4E53)
        for n in 0..<4000 {
            let ranges = (0..<Int(rng.next() % 5)).map { _ in
                FileRange(offset: rng.edgy(), length: rng.next() % 4 == 0 ? FileRange.toEndOfFile : rng.edgy())
            }
            // The model, in 128 bits: [offset, end) with end = 2^64 for a to-EOF range.
            let spans = ranges.map { range -> (UInt128, UInt128) in
                (UInt128(range.offset), range.length == .max ? UInt128(UInt64.max) + 1 : UInt128(range.offset) + UInt128(range.length))
            }
            let valid = !ranges.isEmpty
                && ranges.allSatisfy { $0.length > 0 && $0.offset != .max }
                && spans.allSatisfy { $0.1 <= UInt128(UInt64.max) + 1 }
                && ranges.indices.allSatisfy { i in
                    ranges.indices.allSatisfy { j in
                        i == j || spans[i].1 <= spans[j].0 || spans[j].1 <= spans[i].0
                    }
                }
            let description = "case \(n): \(ranges.map { "(\($0.offset), \($0.length))" })"
            // Exceptions: a length that ends exactly at 2^64 overflows the check (refused), and
            // equal offsets of two ranges are an overlap whatever their lengths.
            let endsAtTop = ranges.contains { $0.length != .max && UInt128($0.offset) + UInt128($0.length) > UInt128(UInt64.max) }
            XCTAssertEqual((try? InputValidation.ranges(ranges)) != nil, valid && !endsAtTop, description)
        }
    }

    // MARK: - Redaction

    func testRedactionRemovesExactlyThePassword() {
        var rng = SplitMix64(seed: 0x5245_4441)
        for n in 0..<4000 {
            let scheme = rng.pick(["http://", "https://", "socks5h://", ""])
            let user = rng.string(from: "abcé%._-", count: Int(rng.next() % 8))
            let password = rng.string(from: "abc:é%!$&'()*+,;=@", count: Int(rng.next() % 12))
            let host = rng.pick(["proxy.example", "[::1]", "10.0.0.1", ""]) + rng.pick(["", ":3128", ":0"])
            let rest = rng.pick(["", "/", "/p?q=a:b@c", "#x@y", "?u=v:w@z"])
            let url = "\(scheme)\(user):\(password)@\(host)\(rest)"
            // The user information ends at the last "@" of the authority, the password starts
            // after the first ":" of it: a "@" in the password leaves its tail to the password.
            let redacted = RemoteURL.redactingPassword(url)
            XCTAssertEqual(redacted, "\(scheme)\(user):***@\(host)\(rest)", "case \(n): \(url)")
            XCTAssertEqual(RemoteURL.redactingPassword(redacted), redacted, "case \(n): not idempotent")
            let plain = "\(scheme)\(user.isEmpty ? "" : user + "@")\(host)\(rest)"
            if !user.contains(":") {
                XCTAssertEqual(RemoteURL.redactingPassword(plain), plain, "case \(n): nothing to redact in \(plain)")
            }
            // A proxy list: every entry redacted, separators kept. (A password with a list
            // separator must be percent-encoded there: ProxyList refuses the split entries.)
            let separators = [" ", ";", ",", "; "]
            let listed = "\(scheme)\(user):\(password.filter { !" ;,".contains($0) })@\(host)\(rest)"
            let entries = [listed, plain, "http://a:b@c:1"]
            let list = zip(entries, separators).map { $0 + $1 }.joined()
            let expected = zip(entries.map(RemoteURL.redactingPassword), separators).map { $0 + $1 }.joined()
            XCTAssertEqual(RemoteURL.redactingPasswords(inList: list), expected, "case \(n)")
        }
        XCTAssertEqual(RemoteURL.redactingPassword("https://user:secret@host:8443/p"), "https://user:***@host:8443/p")
        XCTAssertEqual(RemoteURL.redactingPassword("user:secret@proxy:3128"), "user:***@proxy:3128")
        XCTAssertEqual(RemoteURL.redactingPassword("http://host/x?u=a:b@c"), "http://host/x?u=a:b@c")
        XCTAssertEqual(RemoteURL.redactingPassword("http://u:p@ss@host/"), "http://u:***@host/")
        XCTAssertEqual(RemoteURL.redactingPasswords(inList: "http://a:b@p1:1;p2:2 u:v@p3"), "http://a:***@p1:1;p2:2 u:***@p3")
    }

    func testValidationMessagesNeverQuoteAPassword() {
        for text in ["ftp://user:hunter2@host/x", "http://user:hunter2@/x", "http://user:hunter2@h/a b"] {
            XCTAssertThrowsError(try InputValidation.downloadURL(text)) { error in
                let message = (error as? ServiceError)?.message ?? ""
                XCTAssertFalse(message.contains("hunter2"), message)
                XCTAssertTrue(message.contains("user:***@"), message)
            }
        }
        XCTAssertThrowsError(try InputValidation.proxyList("ftp://user:hunter2@proxy:1", what: "ProxyList")) { error in
            XCTAssertFalse("\(error)".contains("hunter2"))
        }
    }

    // MARK: - BITS upload protocol

    func testAckNumbersParseOrAreMalformed() {
        var rng = SplitMix64(seed: 0x4143_4B53)
        for n in 0..<4000 {
            let value = rng.edgy()
            let received = rng.pick([String(value), "-\(value)", "+\(value)", "\(value)0", "0x\(value)",
                                     rng.string(from: "0123456789", count: 19 + Int(rng.next() % 30))])
            let timeout = rng.pick([String(value), String(UInt32.max), "4294967296", "-1"])
            let code = rng.pick(["0x" + String(UInt32(truncatingIfNeeded: value), radix: 16), String(Int32(truncatingIfNeeded: value)),
                                 "0x1" + String(repeating: "0", count: 8), "-2147483649", "zz"])
            let ack = UP.Ack(status: 200, headerLines: ["BITS-Received-Content-Range: \(received)",
                                                         "BITS-Host-Id-Fallback-Timeout: \(timeout)",
                                                         "BITS-Error-Code: \(code)", "Retry-After: \(timeout)"])
            XCTAssertEqual(ack.receivedContentRange, UInt64(received), "case \(n): \(received)")
            XCTAssertEqual(ack.malformedHeaders.contains("BITS-Received-Content-Range"), UInt64(received) == nil, "case \(n)")
            XCTAssertEqual(ack.hostIDFallbackTimeout, UInt32(timeout), "case \(n)")
            XCTAssertEqual(ack.retryAfterSeconds, UInt32(timeout), "case \(n)")
            let expectedCode: UInt32? = code.hasPrefix("-") ? Int32(code).map { UInt32(bitPattern: $0) }
                : code.hasPrefix("0x") ? (code.count <= 10 ? UInt32(code.dropFirst(2), radix: 16) : nil)
                : Int32(code).flatMap { $0 >= 0 && code.count <= 8 ? UInt32(code, radix: 16) : nil }
            XCTAssertEqual(ack.errorCode, expectedCode, "case \(n): \(code)")
        }
    }

    func testFragmentAcksNeverClaimMoreThanSentOrTheFile() {
        var rng = SplitMix64(seed: 0x4652_4147)
        let sid = "{00000000-0000-4000-8000-000000000001}"
        for n in 0..<5000 {
            let offset = rng.edgy(), length = rng.edgy(), total = rng.edgy()
            let highest: UInt64? = rng.next() % 3 == 0 ? nil : rng.edgy()
            let next = rng.pick([rng.edgy(), offset, offset &+ 1, total, offset.addingSaturating(length)])
            let status = rng.pick([200, 201, 416, 413, 404, 500])
            let packet = UP.Packet.fragment(sessionID: sid, offset: offset, length: length, total: total, contentName: "f")
            let ack = UP.Ack(status: status, headerLines: ["BITS-Packet-Type: Ack", "BITS-Session-Id: \(sid)",
                                                            "BITS-Received-Content-Range: \(next)"])
            let outcome = UP.interpret(packet: packet, ack: ack, highestSentOffset: highest, replyExpected: rng.next() % 2 == 0)
            let end = offset.addingSaturating(length)
            let sentEnd = max(highest ?? end, end)
            let context = "case \(n): offset \(offset) length \(length) total \(total) next \(next) status \(status)"
            switch outcome {
            case let .fragmentAccepted(accepted, complete, _):
                XCTAssertTrue((200...299).contains(status), context)
                XCTAssertEqual(accepted, next, context)
                XCTAssertLessThanOrEqual(accepted, total, context)
                XCTAssertLessThanOrEqual(accepted, sentEnd, context)
                XCTAssertEqual(complete, accepted == total, context)
                XCTAssertTrue(accepted >= end || accepted > offset || length == 0, context + ": no progress")
            case .resync(let resumed):
                XCTAssertEqual(status, 416, context)
                XCTAssertNotEqual(resumed, offset, context)
                XCTAssertLessThanOrEqual(resumed, min(total, sentEnd), context)
            case .shrinkFragment:
                XCTAssertTrue(status == 413 || status == 404, context)
                XCTAssertGreaterThan(length, UP.FragmentSizer.minimumSize, context)
            case .failed(let failure):
                XCTAssertFalse(failure.description.isEmpty, context)
            default:
                XCTFail(context + ": \(outcome)")
            }
            // The packet's own headers: the range reads back as the bytes it covers.
            let header = UP.headers(for: packet).first { $0.hasPrefix("Content-Range: ") }!
            if length == 0 {
                XCTAssertEqual(header, "Content-Range: bytes */\(total)", context)
            } else {
                XCTAssertEqual(header, "Content-Range: bytes \(offset)-\(end - 1)/\(total)", context)
            }
            XCTAssertTrue(UP.headers(for: packet).contains("Content-Length: \(length)"), context)
        }
    }

    func testServerStringsAreCapped() {
        let sid = String(repeating: "s", count: UP.maxSessionIDLength)
        func create(_ id: String) -> UP.Outcome {
            UP.interpret(packet: .createSession, ack: UP.Ack(status: 200, headerLines: [
                "BITS-Packet-Type: Ack", "BITS-Protocol: \(UP.protocolGUID)", "BITS-Session-Id: \(id)",
                "BITS-Host-Id: " + String(repeating: "h", count: UP.maxHostIDLength + 1)]))
        }
        guard case .sessionCreated(let session) = create(sid) else { return XCTFail("a 256-byte session id is usable") }
        XCTAssertNil(session.hostID, "an overlong Host-Id gives no affinity")
        guard case .failed(let failure) = create(sid + "s") else { return XCTFail("a 257-byte session id is not") }
        XCTAssertEqual(failure.code, .protocolError)
        let hostAck = UP.Ack(status: 200, headerLines: ["BITS-Host-Id: " + String(repeating: "h", count: UP.maxHostIDLength)])
        XCTAssertEqual(hostAck.hostID?.count, UP.maxHostIDLength)

        let reply = "http://h/" + String(repeating: "r", count: UP.maxReplyURLLength)
        let final = UP.Ack(status: 200, headerLines: ["BITS-Packet-Type: Ack", "BITS-Received-Content-Range: 10",
                                                       "BITS-Reply-URL: \(reply)"])
        let packet = UP.Packet.fragment(sessionID: "x", offset: 0, length: 10, total: 10, contentName: nil)
        guard case .failed(let tooLong) = UP.interpret(packet: packet, ack: final, replyExpected: true) else {
            return XCTFail("an upload-reply job needs a usable reply URL")
        }
        XCTAssertEqual(tooLong.code, .protocolError)
        XCTAssertEqual(UP.interpret(packet: packet, ack: final, replyExpected: false),
                       .fragmentAccepted(nextOffset: 10, complete: true, replyURL: nil), "an upload job drops it")
    }

    func testFragmentSizerStaysWithinItsBounds() {
        var rng = SplitMix64(seed: 0x5349_5A45)
        typealias Sizer = UP.FragmentSizer
        for n in 0..<3000 {
            var sizer = Sizer(size: rng.edgy())
            for _ in 0..<10 {
                switch rng.next() % 3 {
                case 0: sizer.recordAcknowledged(length: rng.edgy(), elapsed: .milliseconds(Int64(rng.next() % 40_000)))
                case 1: sizer.recordTooLarge(failedLength: rng.edgy())
                default: break
                }
                XCTAssertTrue((Sizer.minimumSize...Sizer.maximumSize).contains(sizer.size), "case \(n)")
                XCTAssertLessThanOrEqual(sizer.size, sizer.ceiling, "case \(n)")
                let offset = rng.edgy(), total = rng.edgy()
                let length = sizer.length(at: offset, total: total)
                XCTAssertEqual(length, offset >= total ? 0 : min(sizer.size, total - offset), "case \(n)")
            }
        }
    }

    func testHostAffinityTimeoutsOfAnySize() {
        var rng = SplitMix64(seed: 0x4146_4649)
        for n in 0..<2000 {
            let seconds = UInt32(truncatingIfNeeded: rng.edgy())
            let affinity = UP.HostAffinity(originalURL: "https://farm.example/up", hostID: "node7:8443",
                                           fallbackTimeoutSeconds: seconds)
            XCTAssertEqual(affinity.affinityURL, "https://node7:8443/up")
            let failing = Duration.seconds(Int64(rng.next() % (UInt64(UInt32.max) + 2)))
            let expected = seconds != UInt32.max && failing >= .seconds(Int64(seconds))
            XCTAssertEqual(affinity.shouldFallBack(failingFor: failing), expected, "case \(n): \(seconds) s vs \(failing)")
            XCTAssertEqual(affinity.url(failingFor: failing), expected ? affinity.originalURL : affinity.affinityURL)
        }
    }

    func testSettingsFromCallersKeepTheirBounds() throws {
        var rng = SplitMix64(seed: 0x5345_5454)
        for n in 0..<3000 {
            var job = Job(id: .random(), type: .download, owner: 1000, displayName: "s", now: 0)
            let flags = UInt32(truncatingIfNeeded: rng.edgy())
            XCTAssertEqual((try? JobSettingRules.apply(.notifyFlags(flags), to: &job)) != nil, flags & ~0x1f == 0, "case \(n)")
            let delay = UInt32(truncatingIfNeeded: rng.edgy())
            _ = try JobSettingRules.apply(.minimumRetryDelay(delay), to: &job)
            XCTAssertEqual(job.minimumRetryDelay, max(delay, JobDefaults.minimumRetryDelayFloor), "case \(n)")
            let size = rng.edgy()
            _ = try JobSettingRules.apply(.maximumDownloadSize(size), to: &job)
            XCTAssertEqual(job.options.maximumDownloadSize, size)
        }
    }
}
