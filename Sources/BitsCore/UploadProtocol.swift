/// Client side of the BITS Upload Protocol ([MC-BUP]; bits-reference §6.3), free of any
/// transport: request headers per packet, Ack parsing, what the client does after each Ack,
/// error classification (bits-reference §3.1), fragment sizing and Host-Id affinity.
///
/// One session uploads one file with `BITS_POST` packets, one outstanding request at a time:
/// (Ping) → Create-Session → Fragment × N → (reply download for upload-reply) → Close-Session;
/// Cancel-Session when the job is cancelled. Every answer is an Ack ([MC-BUP] 2.2.1).
///
/// Section numbers are [MC-BUP]'s; `W:` pages are learn.microsoft.com/windows/win32/bits/.
public enum UploadProtocol {
    /// The only upload protocol GUID BITS knows: "BITS 1.5 Upload Protocol" ([MC-BUP] 2.2.2.2).
    public static let protocolGUID = "{7df0354d-249b-430f-820d-3d2a9bef4931}"
    /// The HTTP extension method of every packet ([MC-BUP] 2.2.1).
    public static let method = "BITS_POST"
    /// What we offer in `BITS-Supported-Protocols`, most preferred first.
    public static let supportedProtocols: [String] = [protocolGUID]
    /// IIS 7+ request filtering default (`maxAllowedContentLength`): a larger request body is
    /// refused with 404 (404.13) before the BITS extension sees it (W:bits-iis-extension-properties).
    public static let iisDefaultRequestLimit: UInt64 = 30_000_000

    // MARK: - Caps on server-controlled strings (stored in the queue database)

    /// Longest `BITS-Session-Id` accepted (a GUID is 38 characters); a longer one is "no usable
    /// BITS-Session-Id".
    public static let maxSessionIDLength = 256
    /// Longest `BITS-Host-Id` used (a host name is at most 253 bytes, plus a port); a longer
    /// one is ignored (no web-farm affinity).
    public static let maxHostIDLength = 261
    /// Longest `BITS-Reply-URL` accepted: the URL limit of AddFile (`JobDefaults.urlMaxLength`).
    public static let maxReplyURLLength = JobDefaults.urlMaxLength

    // MARK: - Codes

    /// HRESULTs that appear in `BITS-Error-Code` ([MC-BUP] 2.2.1.2; bitsmsg.h).
    public enum HResult {
        /// Sent with 416 ([MC-BUP] 2.2.1.2).
        public static let success: UInt32 = 0x0000_0000
        public static let sessionNotFound: UInt32 = 0x8020_001F   // BG_E_SESSION_NOT_FOUND
        public static let tooLarge: UInt32 = 0x8020_0020          // BG_E_TOO_LARGE
        public static let protocolMismatch: UInt32 = 0x8020_0022  // BG_E_CLIENT_SERVER_PROTOCOL_MISMATCH
        public static let invalidArgument: UInt32 = 0x8007_0057   // E_INVALIDARG
        public static let accessDenied: UInt32 = 0x8007_0005      // E_ACCESSDENIED
        public static let fail: UInt32 = 0x8000_4005              // E_FAIL
        /// BG_E_HTTP_ERROR_nnn = base + HTTP status.
        public static let httpErrorBase: UInt32 = 0x8019_0000

        /// Symbolic name of a known code, for messages.
        public static func name(_ code: UInt32) -> String? {
            switch code {
            case success: "S_OK"
            case sessionNotFound: "BG_E_SESSION_NOT_FOUND"
            case tooLarge: "BG_E_TOO_LARGE"
            case protocolMismatch: "BG_E_CLIENT_SERVER_PROTOCOL_MISMATCH"
            case invalidArgument: "E_INVALIDARG"
            case accessDenied: "E_ACCESSDENIED"
            case fail: "E_FAIL"
            case 0x8007_0070, 0x8007_0112: "ERROR_DISK_FULL"  // the second as printed in [MC-BUP] 2.2.1.2
            case httpErrorBase + 100 ... httpErrorBase + 599: "BG_E_HTTP_ERROR_\(code - httpErrorBase)"
            default: nil
            }
        }
    }

    /// `BITS-Error-Context` values ([MC-BUP] 2.2.1.2; BG_ERROR_CONTEXT).
    public enum WireContext {
        /// CONTEXT_SERVER / BG_ERROR_CONTEXT_REMOTE_FILE: the BITS server failed.
        public static let remoteFile: UInt32 = 0x5
        /// BG_ERROR_CONTEXT_REMOTE_APPLICATION: the server application behind it failed.
        public static let remoteApplication: UInt32 = 0x7
    }

    /// Job error codes this file reports beyond the existing catalog (`ErrorCode.protocolError`,
    /// `ErrorCode.http(_:)`). Meant to move into `ErrorCode` and its catalog.
    // MARK: - Packets

    /// A request packet ([MC-BUP] 2.2.2–2.2.11).
    public enum Packet: Sendable, Equatable {
        case ping
        case createSession
        /// `length` bytes from `offset` of a `total`-byte file. `length` is 0 only for an empty
        /// file (`total` 0). `contentName` is sent with the fragment at offset 0 only.
        case fragment(sessionID: String, offset: UInt64, length: UInt64, total: UInt64, contentName: String?)
        case closeSession(sessionID: String)
        case cancelSession(sessionID: String)

        /// The `BITS-Packet-Type` value (spelled as Windows sends it).
        public var typeName: String {
            switch self {
            case .ping: "Ping"
            case .createSession: "Create-Session"
            case .fragment: "Fragment"
            case .closeSession: "Close-Session"
            case .cancelSession: "Cancel-Session"
            }
        }

        public var sessionID: String? {
            switch self {
            case .ping, .createSession: nil
            case .fragment(let id, _, _, _, _), .closeSession(let id), .cancelSession(let id): id
            }
        }

        /// Bytes in the request body (only a Fragment has one).
        public var bodyLength: UInt64 {
            if case .fragment(_, _, let length, _, _) = self { return length }
            return 0
        }

        /// "Fragment bytes 0-1023/4096 (session {…})" and the like, for messages.
        public var summary: String {
            switch self {
            case .ping, .createSession: return typeName
            case .fragment(let id, _, _, _, _):
                return "Fragment \(UploadProtocol.contentRange(of: self) ?? "") (session \(id))"
            case .closeSession(let id), .cancelSession(let id):
                return "\(typeName) (session \(id))"
            }
        }
    }

    /// The request headers of `packet`, as "Name: value" lines ([MC-BUP] 2.2.2–2.2.11;
    /// W:fragment). `Content-Length` is always present (also 0: the server answers 411
    /// without it, [MC-BUP] 3.2.5.2.3, and libcurl does not add it for a bodiless custom
    /// method). Control characters in values are replaced by `_`.
    public static func headers(for packet: Packet) -> [String] {
        var lines = ["BITS-Packet-Type: \(packet.typeName)"]
        switch packet {
        case .ping:
            break
        case .createSession:
            lines.append("BITS-Supported-Protocols: \(supportedProtocols.joined(separator: " "))")
        case .fragment(let id, let offset, _, _, let contentName):
            lines.append("BITS-Session-Id: \(headerValue(id))")
            if offset == 0, let contentName, let name = baseName(contentName) {
                lines.append("Content-Name: \(headerValue(name))")
            }
            lines.append("Content-Range: \(contentRange(of: packet)!)")
        case .closeSession(let id), .cancelSession(let id):
            lines.append("BITS-Session-Id: \(headerValue(id))")
        }
        lines.append("Content-Length: \(packet.bodyLength)")
        return lines
    }

    /// `bytes FIRST-LAST/TOTAL` (zero-based, inclusive) for a fragment; `bytes */TOTAL` when it
    /// carries no bytes (the empty file: `bytes */0`). Nil for other packets.
    public static func contentRange(of packet: Packet) -> String? {
        guard case .fragment(_, let offset, let length, let total, _) = packet else { return nil }
        if length == 0 { return "bytes */\(total)" }
        // Saturating: a fragment that would end past the largest offset is never sent, but
        // its description must not trap.
        return "bytes \(offset)-\(offset.addingSaturating(length) - 1)/\(total)"
    }

    /// The file name without its directories, or nil when nothing is left.
    static func baseName(_ path: String) -> String? {
        let name = path.split(separator: "/", omittingEmptySubsequences: true).last.map(String.init) ?? ""
        return name.isEmpty ? nil : name
    }

    static func headerValue(_ value: String) -> String {
        String(String.UnicodeScalarView(value.unicodeScalars.map {
            $0.value < 0x20 || $0.value == 0x7f ? "_" : $0
        }))
    }

    // MARK: - Ack

    /// An Ack packet ([MC-BUP] 2.2.3–2.2.11): the HTTP status plus the BITS headers, parsed
    /// case-insensitively. Values that do not parse are nil and named in `malformedHeaders`.
    public struct Ack: Sendable, Equatable {
        public var status: Int
        /// Every header, keyed by lower-cased name (the first occurrence wins).
        public var fields: [String: String]
        /// Names (as sent) of BITS headers whose value could not be parsed.
        public var malformedHeaders: [String]

        public init(status: Int, headerLines: [String]) {
            self.status = status
            var fields: [String: String] = [:]
            for raw in headerLines {
                // "\r\n" is one Character: strip line ends by scalar.
                var scalars = Substring(raw).unicodeScalars
                while let last = scalars.last, last == "\r" || last == "\n" { scalars = scalars.dropLast() }
                let line = Substring(scalars)
                // libcurl hands over every response of an exchange (100 Continue, 401 before
                // the authenticated answer): only the last response's headers count.
                if line.hasPrefix("HTTP/") { fields = [:]; continue }
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = line[..<colon].trimmingWhitespace().lowercased()
                guard !name.isEmpty, fields[name] == nil else { continue }
                fields[name] = String(line[line.index(after: colon)...].trimmingWhitespace())
            }
            self.fields = fields
            self.malformedHeaders = []
            for name in ["BITS-Received-Content-Range", "BITS-Error-Code", "BITS-Error",
                         "BITS-Error-Context", "BITS-Host-Id-Fallback-Timeout"] {
                guard let value = fields[name.lowercased()], !value.isEmpty else { continue }
                let valid = switch name {
                case "BITS-Received-Content-Range": UInt64(value) != nil
                case "BITS-Host-Id-Fallback-Timeout": UInt32(value) != nil
                default: UploadProtocol.parseHex(value) != nil
                }
                if !valid { malformedHeaders.append(name) }
            }
        }

        public func header(_ name: String) -> String? {
            fields[name.lowercased()].flatMap { $0.isEmpty ? nil : $0 }
        }

        /// `BITS-Packet-Type` (should be "Ack").
        public var packetType: String? { header("BITS-Packet-Type") }
        public var isAck: Bool { packetType?.lowercased() == "ack" }
        public var sessionID: String? { header("BITS-Session-Id") }
        /// `BITS-Protocol`: the GUID the server chose (Create-Session Ack).
        public var protocolID: String? { header("BITS-Protocol") }
        /// `BITS-Received-Content-Range`: the next offset the server expects.
        public var receivedContentRange: UInt64? { header("BITS-Received-Content-Range").flatMap { UInt64($0) } }
        public var replyURL: String? { header("BITS-Reply-URL") }
        /// `BITS-Host-Id`; nil when longer than `maxHostIDLength` bytes.
        public var hostID: String? {
            header("BITS-Host-Id").flatMap { $0.utf8.count <= UploadProtocol.maxHostIDLength ? $0 : nil }
        }
        /// `BITS-Host-Id-Fallback-Timeout` in seconds (0xFFFFFFFF = infinite, [MC-BUP] 3.1.2.3).
        public var hostIDFallbackTimeout: UInt32? { header("BITS-Host-Id-Fallback-Timeout").flatMap { UInt32($0) } }
        /// `BITS-Error-Code` (the Windows docs' name) or `BITS-Error` ([MC-BUP] 2.2.1.2's), hex.
        public var errorCode: UInt32? {
            (header("BITS-Error-Code") ?? header("BITS-Error")).flatMap(UploadProtocol.parseHex)
        }
        public var errorContext: UInt32? { header("BITS-Error-Context").flatMap(UploadProtocol.parseHex) }
        /// `Retry-After` in delta-seconds (an HTTP-date is ignored).
        public var retryAfterSeconds: UInt32? { header("Retry-After").flatMap { UInt32($0) } }
    }

    /// "0x8020001F", "0X5", "8020001F" (hexadecimal, as [MC-BUP] writes them) or a negative
    /// decimal HRESULT ("-2145386465"); nil when it is none of these or does not fit 32 bits.
    public static func parseHex(_ text: String) -> UInt32? {
        let value = text.trimmingWhitespace()
        if value.hasPrefix("-") { return Int32(value).map { UInt32(bitPattern: $0) } }
        let digits = value.hasPrefix("0x") || value.hasPrefix("0X") ? value.dropFirst(2) : value[...]
        guard !digits.isEmpty, digits.count <= 8 else { return nil }
        return UInt32(digits, radix: 16)
    }

    // MARK: - Outcomes

    /// What the Create-Session Ack set up ([MC-BUP] 2.2.3.2).
    public struct Session: Sendable, Equatable {
        public var id: String
        public var protocolID: String
        /// `BITS-Host-Id`: send later packets to this host (see `HostAffinity`).
        public var hostID: String?
        /// `BITS-Host-Id-Fallback-Timeout` in seconds, nil when absent.
        public var hostIDFallbackTimeout: UInt32?

        public init(id: String, protocolID: String = UploadProtocol.protocolGUID, hostID: String? = nil,
                    hostIDFallbackTimeout: UInt32? = nil) {
            self.id = id
            self.protocolID = protocolID
            self.hostID = hostID
            self.hostIDFallbackTimeout = hostIDFallbackTimeout
        }
    }

    /// What the client does after an Ack.
    public enum Outcome: Sendable, Equatable {
        /// Ping answered; go on with Create-Session.
        case pinged
        /// Session open; send Fragments with `session.id` (to the Host-Id URL if any).
        case sessionCreated(Session)
        /// Fragment stored; send the next one from `nextOffset`. `complete` when the server
        /// holds all `total` bytes; `replyURL` (upload-reply) is given on the final Ack only.
        case fragmentAccepted(nextOffset: UInt64, complete: Bool, replyURL: String?)
        /// 416: the server expects a different offset; continue from `nextOffset` (same session).
        case resync(nextOffset: UInt64)
        /// 413 (or IIS's 404 for a body over its request limit): resend from the same offset
        /// with a smaller fragment (`FragmentSizer.recordTooLarge`).
        case shrinkFragment
        /// BG_E_SESSION_NOT_FOUND: the server forgot the session; start again with
        /// Create-Session and upload from offset 0 ([MC-BUP] 3.1.5.1.7, 3.1.5.2.1).
        case sessionNotFound
        /// Close-Session or Cancel-Session done (Cancel also when the session was already gone).
        case sessionClosed
        /// Give up this attempt: retry later (transient) or put the job in ERROR (fatal).
        case failed(Failure)
    }

    /// A failed packet, classified for the job (maps 1:1 to `ClassifiedFailure`).
    public struct Failure: Error, Sendable, Equatable {
        public var disposition: FailureDisposition
        public var context: ErrorContext
        public var code: ErrorCode
        /// One sentence naming the packet, the HTTP status and the BITS error.
        public var description: String
        public var httpStatus: Int?
        public var bitsErrorCode: UInt32?
        public var bitsErrorContext: UInt32?
        public var retryAfterSeconds: UInt32?

        public var classified: ClassifiedFailure {
            ClassifiedFailure(disposition: disposition, context: context, code: code,
                              description: description, retryAfterSeconds: retryAfterSeconds)
        }
    }

    // MARK: - Interpretation

    /// Decides what an Ack to `packet` means ([MC-BUP] 3.1.5.1.7, 3.1.5.2.1–3.1.5.2.6).
    ///
    /// - `highestSentOffset`: the end (exclusive) of the furthest byte sent in this session,
    ///   defaulting to this fragment's end. A server may acknowledge more than this fragment
    ///   when an earlier fragment's Ack was lost; claiming bytes beyond it, or beyond the
    ///   total, is a protocol error. Pass `total` if the high-water mark is unknown.
    /// - `replyExpected`: upload-reply job; the final Fragment Ack must carry
    ///   `BITS-Reply-URL` ([MC-BUP] 3.1.5.2.4).
    public static func interpret(packet: Packet, ack: Ack, highestSentOffset: UInt64? = nil,
                                 replyExpected: Bool = false) -> Outcome {
        if (200...299).contains(ack.status) {
            return interpretSuccess(packet: packet, ack: ack, highestSentOffset: highestSentOffset,
                                    replyExpected: replyExpected)
        }
        // Session lost: restart for every packet but Cancel-Session, where there is nothing
        // left to cancel ([MC-BUP] 3.1.5.2.1). A lost session cannot answer Create-Session.
        if ack.errorCode == HResult.sessionNotFound {
            switch packet {
            case .cancelSession: return .sessionClosed
            case .ping, .fragment, .closeSession: return .sessionNotFound
            case .createSession: break
            }
        }
        // 416 and 413 concern the BITS server's handling of the fragment; with context 0x7
        // the server application answered, and §3.1's rule applies instead (`classify`).
        if case .fragment(_, let offset, let length, let total, _) = packet,
           ack.errorContext != WireContext.remoteApplication {
            if ack.status == 416 {
                return resync(packet: packet, ack: ack, offset: offset, length: length, total: total,
                              highestSentOffset: highestSentOffset)
            }
            // [MC-BUP] 3.1.5.2.4: on 413 send smaller fragments. IIS request filtering answers
            // 404 without BITS headers for a body over its limit.
            let iisLimit = ack.status == 404 && ack.errorCode == nil && length > iisDefaultRequestLimit
            if ack.status == 413 || iisLimit {
                if length > FragmentSizer.minimumSize { return .shrinkFragment }
                return .failed(failure(packet, ack, .fatal, .remoteFile, .uploadTooLarge,
                    "the server refuses even a \(length)-byte fragment (the minimum is \(FragmentSizer.minimumSize) bytes)."))
            }
        }
        return .failed(classify(packet: packet, ack: ack))
    }

    static func interpretSuccess(packet: Packet, ack: Ack, highestSentOffset: UInt64?,
                                 replyExpected: Bool) -> Outcome {
        guard ack.isAck else {
            return .failed(failure(packet, ack, .fatal, .remoteFile, .protocolError,
                "the answer is not a BITS Ack (no 'BITS-Packet-Type: Ack'); the URL is not served by a BITS upload server."))
        }
        if let sent = packet.sessionID, let echoed = ack.sessionID, !sameSessionID(sent, echoed) {
            return .failed(failure(packet, ack, .fatal, .remoteFile, .protocolError,
                "the Ack names session \(InputValidation.quote(echoed)), not the one sent."))
        }
        switch packet {
        case .ping:
            return .pinged
        case .createSession:
            guard let chosen = ack.protocolID,
                  supportedProtocols.contains(where: { sameGUID($0, chosen) }) else {
                let what = ack.protocolID.map { "chose the unknown protocol \(InputValidation.quote($0))" }
                    ?? "sent no BITS-Protocol"
                return .failed(failure(packet, ack, .fatal, .remoteFile, .uploadProtocolMismatch,
                    "the server \(what); we support only \(protocolGUID) (BITS 1.5 upload)."))
            }
            guard let id = ack.sessionID, id.utf8.count <= maxSessionIDLength,
                  !id.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
                return .failed(failure(packet, ack, .fatal, .remoteFile, .protocolError,
                    "the Ack carries no usable BITS-Session-Id."))
            }
            return .sessionCreated(Session(id: id, protocolID: chosen, hostID: ack.hostID,
                                           hostIDFallbackTimeout: ack.hostIDFallbackTimeout))
        case .fragment(_, let offset, let length, let total, _):
            let end = offset.addingSaturating(length)
            guard let next = ack.receivedContentRange else {
                return .failed(rangeMissing(packet, ack))
            }
            let sentEnd = max(highestSentOffset ?? end, end)
            if let bad = badRange(next, total: total, sentEnd: sentEnd) {
                return .failed(failure(packet, ack, .fatal, .remoteFile, .protocolError, bad))
            }
            // [MC-BUP] 3.2.5.2.6: a fragment the server cannot append gets 416, so a 200 that
            // does not move past the fragment's start would make us resend it forever.
            if next < end, next <= offset, length > 0 {
                return .failed(failure(packet, ack, .fatal, .remoteFile, .protocolError,
                    "the server accepted the fragment but expects offset \(next) next, which is no progress."))
            }
            let complete = next == total
            if complete, replyExpected, ack.replyURL == nil {
                return .failed(failure(packet, ack, .fatal, .remoteFile, .protocolError,
                    "the final Ack of an upload-reply job carries no BITS-Reply-URL; the server is not set up to reply."))
            }
            var replyURL = complete ? ack.replyURL : nil
            if let reply = replyURL, reply.utf8.count > maxReplyURLLength {
                // Kept in the queue database: an upload job drops it, an upload-reply job fails.
                guard !replyExpected else {
                    return .failed(failure(packet, ack, .fatal, .remoteFile, .protocolError,
                        "the BITS-Reply-URL of the final Ack is \(reply.utf8.count) bytes long; the limit is \(maxReplyURLLength)."))
                }
                replyURL = nil
            }
            return .fragmentAccepted(nextOffset: next, complete: complete, replyURL: replyURL)
        case .closeSession, .cancelSession:
            return .sessionClosed
        }
    }

    static func resync(packet: Packet, ack: Ack, offset: UInt64, length: UInt64, total: UInt64,
                       highestSentOffset: UInt64?) -> Outcome {
        guard let next = ack.receivedContentRange else { return .failed(rangeMissing(packet, ack)) }
        let end = offset.addingSaturating(length)
        let sentEnd = max(highestSentOffset ?? end, end)
        if let bad = badRange(next, total: total, sentEnd: sentEnd) {
            return .failed(failure(packet, ack, .fatal, .remoteFile, .protocolError, bad))
        }
        guard next != offset else {
            return .failed(failure(packet, ack, .fatal, .remoteFile, .protocolError,
                "the server rejected the fragment as out of sequence but expects the same offset \(offset)."))
        }
        return .resync(nextOffset: next)
    }

    static func badRange(_ next: UInt64, total: UInt64, sentEnd: UInt64) -> String? {
        if next > total {
            return "BITS-Received-Content-Range \(next) is beyond the file size \(total)."
        }
        if next > sentEnd {
            return "BITS-Received-Content-Range \(next) is beyond the \(sentEnd) bytes sent."
        }
        return nil
    }

    static func rangeMissing(_ packet: Packet, _ ack: Ack) -> Failure {
        let how = ack.malformedHeaders.contains("BITS-Received-Content-Range")
            ? "a malformed BITS-Received-Content-Range \(InputValidation.quote(ack.header("BITS-Received-Content-Range") ?? ""))"
            : "no BITS-Received-Content-Range"
        return failure(packet, ack, .fatal, .remoteFile, .protocolError, "the Ack carries \(how).")
    }

    /// The failure an error Ack stands for. `interpret` uses it for every error it does not
    /// handle itself; callers may use it for any error Ack (e.g. to report a session that
    /// keeps getting lost). Rules, first match wins:
    ///
    /// | Condition | Disposition | Context | Code |
    /// |---|---|---|---|
    /// | `BITS-Error-Context` 0x7 | §3.1 server-application rule (`serverApplicationDisposition`) | remote-application | `remote-application-http-NNN` |
    /// | BG_E_SESSION_NOT_FOUND | transient | remote-file | `upload-session-not-found` |
    /// | BG_E_TOO_LARGE | fatal | remote-file | `upload-too-large` |
    /// | 501 with E_ACCESSDENIED | fatal | remote-file | `upload-not-enabled` |
    /// | E_INVALIDARG | fatal | remote-file | `http-NNN` |
    /// | anything else | `bitsServerDisposition(status)` | remote-file | `http-NNN` |
    public static func classify(packet: Packet, ack: Ack) -> Failure {
        let status = ack.status
        if ack.errorContext == WireContext.remoteApplication {
            return failure(packet, ack, serverApplicationDisposition(status), .remoteApplication,
                           ErrorCode.remoteApplication(status), "the server application failed.")
        }
        switch ack.errorCode {
        case HResult.sessionNotFound?:
            return failure(packet, ack, .transient, .remoteFile, .uploadSessionNotFound,
                           "the server does not know the upload session.")
        case HResult.tooLarge?:
            return failure(packet, ack, .fatal, .remoteFile, .uploadTooLarge,
                           "the file is larger than the server accepts.")
        case HResult.accessDenied? where status == 501:
            return failure(packet, ack, .fatal, .remoteFile, .uploadNotEnabled,
                           "BITS uploads are not enabled for this URL on the server.")
        case HResult.invalidArgument?:
            return failure(packet, ack, .fatal, .remoteFile, .http(status),
                           "the server rejected the request headers.")
        default:
            break
        }
        let hint: String
        switch status {
        case 300...399: hint = "BITS upload packets are not redirected."
        case 401, 407: hint = "authentication failed."
        case 403: hint = "the server refuses the upload to this URL."
        case 404: hint = "the upload URL does not exist on the server."
        case 409: hint = "the file exists on the server and may not be overwritten."
        case 501: hint = "the server does not implement BITS_POST; is the BITS upload extension enabled?"
        default: hint = (500...599).contains(status) ? "the server failed." : "the request failed."
        }
        return failure(packet, ack, bitsServerDisposition(status), .remoteFile, .http(status), hint)
    }

    /// Upload server-application HTTP codes (bits-reference §3.1, W:handling-server-application-errors):
    /// 3xx transient except 300–305 and 307 (fatal); 4xx fatal except 408 and 409
    /// (transient); 5xx transient except 501 and 505 (fatal); anything else transient.
    public static func serverApplicationDisposition(_ status: Int) -> FailureDisposition {
        switch status {
        case 300...305, 307: .fatal
        case 408, 409: .transient
        case 400...499: .fatal
        case 501, 505: .fatal
        default: .transient
        }
    }

    /// Errors of the BITS server itself (context remote-file), in line with
    /// `FailureClassifier` for downloads: 5xx transient except 501 (no BITS_POST / uploads
    /// disabled) and 505; 408 and 429 transient; other 4xx fatal (403/404/409 are final per
    /// W:ack-for-create-session); 3xx fatal (not followed); anything else transient.
    public static func bitsServerDisposition(_ status: Int) -> FailureDisposition {
        switch status {
        case 501, 505: .fatal
        case 500...599: .transient
        case 408, 429: .transient
        case 300...499: .fatal
        default: .transient
        }
    }

    static func failure(_ packet: Packet, _ ack: Ack, _ disposition: FailureDisposition,
                        _ context: ErrorContext, _ code: ErrorCode, _ explanation: String) -> Failure {
        var text = "\(packet.summary): the server answered HTTP \(ack.status) (\(FailureClassifier.httpReason(ack.status)))"
        if let code = ack.errorCode {
            text += " with BITS-Error-Code \(hex(code))"
            if let name = HResult.name(code) { text += " (\(name))" }
            if let ctx = ack.errorContext {
                let ctxName = ctx == WireContext.remoteFile ? " (remote file)"
                    : ctx == WireContext.remoteApplication ? " (remote application)" : ""
                text += " in context 0x\(String(ctx, radix: 16, uppercase: true))\(ctxName)"
            }
        }
        text += "; " + explanation
        return Failure(disposition: disposition, context: context, code: code, description: text,
                       httpStatus: ack.status, bitsErrorCode: ack.errorCode,
                       bitsErrorContext: ack.errorContext, retryAfterSeconds: ack.retryAfterSeconds)
    }

    static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    /// Session ids compare case-insensitively, braces optional (the test server does the same).
    static func sameSessionID(_ a: String, _ b: String) -> Bool { sameGUID(a, b) }

    static func sameGUID(_ a: String, _ b: String) -> Bool {
        func norm(_ s: String) -> String {
            var t = s.trimmingWhitespace()
            if t.hasPrefix("{") && t.hasSuffix("}") && t.count >= 2 { t = String(t.dropFirst().dropLast()) }
            return t.lowercased()
        }
        return norm(a) == norm(b)
    }

    // MARK: - Close / Cancel

    /// Whether to resend a Close-Session or Cancel-Session after this Ack: on 5xx unless
    /// BG_E_SESSION_NOT_FOUND; never on 1xx–4xx (W:ack-for-close-session,
    /// W:ack-for-cancel-session). Cancel-Session is retried for up to 24 h (bits-reference §1.5).
    public static func shouldRetryClose(ack: Ack) -> Bool {
        (500...599).contains(ack.status) && ack.errorCode != HResult.sessionNotFound
    }

    // MARK: - Fragment size

    /// Fragment length control. The protocol leaves the size to the client ([MC-BUP] 3.1.5.2.4
    /// <16>); this starts at 1 MiB, doubles after a full fragment acknowledged in under 2 s,
    /// halves after one that took over 20 s, and after a 413 halves and never grows past the
    /// new size again. Always within [`minimumSize`, `maximumSize`].
    public struct FragmentSizer: Sendable, Equatable {
        public static let initialSize: UInt64 = 1 << 20
        public static let minimumSize: UInt64 = 64 << 10
        public static let maximumSize: UInt64 = 64 << 20
        public static let growBelow: Duration = .seconds(2)
        public static let shrinkAbove: Duration = .seconds(20)

        public private(set) var size: UInt64
        /// Largest size allowed after the server refused a bigger fragment (413).
        public private(set) var ceiling: UInt64

        public init(size: UInt64 = FragmentSizer.initialSize) {
            self.size = min(max(size, Self.minimumSize), Self.maximumSize)
            self.ceiling = Self.maximumSize
        }

        /// Length of the next fragment from `offset` of a `total`-byte file.
        public func length(at offset: UInt64, total: UInt64) -> UInt64 {
            offset >= total ? 0 : min(size, total - offset)
        }

        /// A fragment of `length` bytes was acknowledged `elapsed` after it was sent. Only a
        /// full-size fragment can make the size grow (a short last fragment says nothing).
        public mutating func recordAcknowledged(length: UInt64, elapsed: Duration) {
            if elapsed > Self.shrinkAbove {
                size = max(Self.minimumSize, size / 2)
            } else if elapsed < Self.growBelow, length >= size {
                size = min(size * 2, ceiling)
            }
        }

        /// The server refused a `failedLength`-byte fragment as too large (413). Returns false
        /// when it cannot get smaller (the fragment was already at most `minimumSize`).
        @discardableResult
        public mutating func recordTooLarge(failedLength: UInt64) -> Bool {
            guard failedLength > Self.minimumSize else { return false }
            size = max(Self.minimumSize, min(size, failedLength) / 2)
            ceiling = size
            return true
        }
    }

    // MARK: - Host-Id affinity

    /// Web-farm affinity ([MC-BUP] 1.3.4.2, 2.2.3.2, 3.1.2.3, 3.1.5.1.7): after a
    /// Create-Session Ack with `BITS-Host-Id`, every later packet of the session goes to that
    /// host. Once packets have failed without progress for `BITS-Host-Id-Fallback-Timeout`
    /// seconds, the client goes back to the original URL (and stays there for this session);
    /// without a timeout (or 0xFFFFFFFF) it never falls back.
    public struct HostAffinity: Sendable, Equatable {
        public let originalURL: String
        /// The original URL with its host replaced; nil without a (usable) Host-Id.
        public let affinityURL: String?
        /// Nil = never fall back.
        public let fallbackTimeout: Duration?

        public init(originalURL: String, hostID: String?, fallbackTimeoutSeconds: UInt32?) {
            self.originalURL = originalURL
            self.affinityURL = hostID.flatMap { UploadProtocol.replacingHost(in: originalURL, with: $0) }
            if let seconds = fallbackTimeoutSeconds, seconds != UInt32.max {
                self.fallbackTimeout = .seconds(Int64(seconds))
            } else {
                self.fallbackTimeout = nil
            }
        }

        public init(originalURL: String, ack: Ack) {
            self.init(originalURL: originalURL, hostID: ack.hostID, fallbackTimeoutSeconds: ack.hostIDFallbackTimeout)
        }

        public init(originalURL: String, session: Session) {
            self.init(originalURL: originalURL, hostID: session.hostID,
                      fallbackTimeoutSeconds: session.hostIDFallbackTimeout)
        }

        /// `failingFor`: time since the first failed packet to the Host-Id URL with no
        /// progress since (nil while nothing is failing).
        public func shouldFallBack(failingFor: Duration?) -> Bool {
            guard affinityURL != nil, let failingFor, let fallbackTimeout else { return false }
            return failingFor >= fallbackTimeout
        }

        /// The URL for the next packet.
        public func url(failingFor: Duration? = nil) -> String {
            guard let affinityURL, !shouldFallBack(failingFor: failingFor) else { return originalURL }
            return affinityURL
        }
    }

    /// `url` with its host replaced by `hostID` (a name, IPv4 address, IPv6 address with or
    /// without brackets, optionally with ":port"); scheme, user info, port (unless `hostID`
    /// names one), path and query stay. IPv6 literals are bracketed, a zone's '%' escaped as
    /// %25 (RFC 6874). Nil when `url` has no authority or `hostID` is not a plain host.
    public static func replacingHost(in url: String, with hostID: String) -> String? {
        guard let (host, newPort) = parseHostID(hostID),
              let (scheme, afterScheme) = splitScheme(url) else { return nil }
        let authorityEnd = afterScheme.firstIndex(where: { "/?#".contains($0) }) ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        let rest = afterScheme[authorityEnd...]
        var userInfo = Substring("")
        var hostPort = authority
        if let at = authority.lastIndex(of: "@") {
            userInfo = authority[...at]
            hostPort = authority[authority.index(after: at)...]
        }
        guard !hostPort.isEmpty else { return nil }
        var oldPort: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { return nil }
            let after = hostPort[hostPort.index(after: close)...]
            if after.hasPrefix(":") { oldPort = after.dropFirst() }
        } else if let colon = hostPort.lastIndex(of: ":") {
            oldPort = hostPort[hostPort.index(after: colon)...]
        }
        let port = newPort ?? oldPort.flatMap { $0.isEmpty ? nil : String($0) }
        return "\(scheme)://\(userInfo)\(host)\(port.map { ":" + $0 } ?? "")\(rest)"
    }

    /// ("http", "host:port/path?q") of "http://host:port/path?q"; nil without "scheme://".
    static func splitScheme(_ url: String) -> (Substring, Substring)? {
        guard let colon = url.firstIndex(of: ":") else { return nil }
        let scheme = url[..<colon]
        guard let first = scheme.first, first.isLetter,
              scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }),
              url[colon...].hasPrefix("://") else { return nil }
        return (scheme, url[url.index(colon, offsetBy: 3)...])
    }

    /// (host as it goes into a URL, port) of a `BITS-Host-Id` value.
    static func parseHostID(_ raw: String) -> (String, String?)? {
        let value = raw.trimmingWhitespace()
        guard !value.isEmpty,
              !value.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7f || "/?#@\\".unicodeScalars.contains($0) })
        else { return nil }
        func validPort(_ p: Substring) -> String? {
            guard !p.isEmpty, p.count <= 5, p.allSatisfy(\.isASCII), let n = Int(p), (1...65535).contains(n) else { return nil }
            return String(p)
        }
        if value.hasPrefix("[") {
            guard let close = value.firstIndex(of: "]"), value.index(after: value.startIndex) < close else { return nil }
            let host = String(value[...close])
            let after = value[value.index(after: close)...]
            if after.isEmpty { return (host, nil) }
            guard after.hasPrefix(":"), let port = validPort(after.dropFirst()) else { return nil }
            return (host, port)
        }
        let colons = value.filter { $0 == ":" }.count
        switch colons {
        case 0:
            return (String(value), nil)
        case 1:
            let colon = value.firstIndex(of: ":")!
            let host = value[..<colon]
            guard !host.isEmpty, let port = validPort(value[value.index(after: colon)...]) else { return nil }
            return (String(host), port)
        default:
            guard value.allSatisfy({ $0.isHexDigit || ":.%".contains($0) || $0.isLetter || $0.isNumber }) else { return nil }
            return ("[" + value.map { $0 == "%" ? "%25" : String($0) }.joined() + "]", nil)
        }
    }

    /// An absolute URL for `BITS-Reply-URL`, which may be relative to the request URL
    /// (absolute URLs are returned unchanged). Nil when empty or `requestURL` has no authority.
    public static func resolveReplyURL(_ reply: String, requestURL: String) -> String? {
        let value = reply.trimmingWhitespace()
        guard !value.isEmpty else { return nil }
        if let colon = value.firstIndex(of: ":"),
           !value[..<colon].contains(where: { "/?#".contains($0) }),
           value[colon...].hasPrefix("://") { return String(value) }
        guard let (scheme, afterScheme) = splitScheme(requestURL) else { return nil }
        if value.hasPrefix("//") { return "\(scheme):\(value)" }
        let authorityEnd = afterScheme.firstIndex(where: { "/?#".contains($0) }) ?? afterScheme.endIndex
        let origin = requestURL[..<authorityEnd]
        if value.hasPrefix("/") { return "\(origin)\(value)" }
        var path = afterScheme[authorityEnd...]
        if let end = path.firstIndex(where: { "?#".contains($0) }) { path = path[..<end] }
        let directory = path.lastIndex(of: "/").map { path[...$0] } ?? "/"
        return "\(origin)\(directory)\(value)"
    }
}

private extension StringProtocol {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        var start = scalars.startIndex, end = scalars.endIndex
        while start < end, scalars[start] == " " || scalars[start] == "\t" { start = scalars.index(after: start) }
        while end > start {
            let before = scalars.index(before: end)
            guard scalars[before] == " " || scalars[before] == "\t" else { break }
            end = before
        }
        return String(String.UnicodeScalarView(scalars[start..<end]))
    }
}
