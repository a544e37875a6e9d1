/// Validation of caller-supplied values. Every failure is an `InvalidArgs` sentence that names
/// the offending value.
public enum InputValidation {
    /// Shortened, printable rendering of a caller's value for error messages.
    public static func quote(_ value: String, limit: Int = 120) -> String {
        var text = String(value.unicodeScalars.map { scalar -> Character in
            scalar.value < 0x20 || scalar.value == 0x7f ? "?" : Character(scalar)
        })
        if text.count > limit { text = String(text.prefix(limit)) + "…" }
        return "'\(text)'"
    }

    public static func displayName(_ value: String) throws -> String {
        guard value.count <= JobDefaults.displayNameMaxLength else {
            throw ServiceError.invalidArgs("Display name \(quote(value, limit: 40)) is \(value.count) characters long; the limit is \(JobDefaults.displayNameMaxLength).")
        }
        return value
    }

    public static func description(_ value: String) throws -> String {
        guard value.count <= JobDefaults.descriptionMaxLength else {
            throw ServiceError.invalidArgs("Description \(quote(value, limit: 40)) is \(value.count) characters long; the limit is \(JobDefaults.descriptionMaxLength).")
        }
        return value
    }

    /// Parses an enumeration value, naming the allowed values when it is not one of them.
    public static func enumValue<E: RawRepresentable & CaseIterable>(_ type: E.Type, _ value: String, what: String) throws -> E
    where E.RawValue == String {
        if let parsed = E(rawValue: value) { return parsed }
        let allowed = E.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
        throw ServiceError.invalidArgs("\(what) \(quote(value)) is not one of \(allowed).")
    }

    /// A remote URL for a download: http, https or file, at most 2,200 characters, no spaces
    /// or control characters, a host for http(s), an absolute path for file.
    public static func downloadURL(_ value: String) throws -> RemoteURL {
        guard !value.isEmpty else { throw ServiceError.invalidArgs("The remote URL is empty.") }
        // Messages quote the URL without its password: they may be logged.
        func quote(_ value: String, limit: Int = 120) -> String {
            InputValidation.quote(RemoteURL.redactingPassword(value), limit: limit)
        }
        // The byte count bounds the character count: count Characters only when it must.
        guard value.utf8.count <= JobDefaults.urlMaxLength || value.count <= JobDefaults.urlMaxLength else {
            throw ServiceError.invalidArgs("Remote URL \(quote(value, limit: 60)) is \(value.count) characters long; the limit is \(JobDefaults.urlMaxLength).")
        }
        // In UTF-8 these bytes only ever stand for themselves.
        guard !value.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7f }) else {
            throw ServiceError.invalidArgs("Remote URL \(quote(value)) contains spaces or control characters; escape them.")
        }
        guard let url = RemoteURL(value) else {
            throw ServiceError.invalidArgs("Remote URL \(quote(value)) is not a valid absolute URL (expected scheme://host/path).")
        }
        switch url.scheme {
        case "http", "https":
            guard !url.host.isEmpty else {
                throw ServiceError.invalidArgs("Remote URL \(quote(value)) has no host name.")
            }
        case "file":
            guard url.host.isEmpty || url.host == "localhost", url.path.hasPrefix("/") else {
                throw ServiceError.invalidArgs("Remote URL \(quote(value)) must be file:///absolute/path (local files only).")
            }
        default:
            throw ServiceError.invalidArgs("Remote URL \(quote(value)) uses the unsupported scheme '\(url.scheme)'; use http, https or file.")
        }
        return url
    }

    /// A local path: absolute, normalized (no empty, `.` or `..` components, no trailing
    /// slash), at most 4,096 bytes.
    public static func localPath(_ value: String, what: String = "Local path") throws -> String {
        guard value.hasPrefix("/") else {
            throw ServiceError.invalidArgs("\(what) \(quote(value)) is not an absolute path.")
        }
        guard value.utf8.count <= JobDefaults.pathMaxLength else {
            throw ServiceError.invalidArgs("\(what) \(quote(value, limit: 60)) is longer than \(JobDefaults.pathMaxLength) bytes.")
        }
        guard value != "/", !value.hasSuffix("/") else {
            throw ServiceError.invalidArgs("\(what) \(quote(value)) names a directory; give a file name.")
        }
        guard !value.utf8.contains(where: { $0 < 0x20 || $0 == 0x7f }) else {
            throw ServiceError.invalidArgs("\(what) \(quote(value)) contains control characters.")
        }
        // Split on the byte '/', as the kernel does (not on Characters).
        let components = value.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst()
        for component in components
        where component.isEmpty || component.elementsEqual(".".utf8) || component.elementsEqual("..".utf8) {
            throw ServiceError.invalidArgs("\(what) \(quote(value)) is not normalized: it contains an empty, '.' or '..' component.")
        }
        guard let last = components.last, last.count <= 255 else {
            throw ServiceError.invalidArgs("\(what) \(quote(value, limit: 60)) has a file name longer than 255 bytes.")
        }
        return value
    }

    /// `MinimumRetryDelay`: values below the floor are raised to it, as BITS does.
    public static func minimumRetryDelay(_ value: UInt32) -> UInt32 {
        max(value, JobDefaults.minimumRetryDelayFloor)
    }
}

/// The parts of an absolute URL the service needs: scheme, host, path. Parsing is deliberately
/// strict and simple; libcurl does the real work.
public struct RemoteURL: Sendable, Equatable {
    public let text: String
    /// Lowercased scheme.
    public let scheme: String
    /// Host (without port or user info), lowercased.
    public let host: String
    /// The port as written (digits), "" when none.
    public let port: String
    /// Path with percent-escapes decoded for `file` URLs; raw for others.
    public let path: String

    /// `scheme://host:port` (port "" when none): which server the URL names, e.g. to reuse an
    /// answer about one file's server for the next file of the same server.
    public var origin: String { "\(scheme)://\(host):\(port)" }

    public init?(_ text: String) {
        // On UTF-8 bytes: every delimiter is ASCII, and Character iteration (grapheme
        // breaking) cost microseconds per URL on the per-file path.
        let utf8 = text.utf8
        guard let colon = utf8.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let schemeBytes = utf8[..<colon]
        guard let first = schemeBytes.first, ASCII.isLetter(first),
              schemeBytes.allSatisfy({ ASCII.isLetter($0) || ASCII.isDigit($0) || $0 == UInt8(ascii: "+")
                  || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }) else { return nil }
        let afterColon = utf8[utf8.index(after: colon)...]
        guard afterColon.starts(with: "//".utf8) else { return nil }
        let afterSlashes = afterColon.dropFirst(2)
        let authorityEnd = afterSlashes.firstIndex(where: {
            $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#")
        }) ?? afterSlashes.endIndex
        var authority = afterSlashes[..<authorityEnd]
        if let at = authority.lastIndex(of: UInt8(ascii: "@")) { authority = authority[authority.index(after: at)...] }
        var host = authority
        var port = authority[authority.endIndex...]
        if host.first == UInt8(ascii: "[") {
            guard let close = host.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            if let portColon = host[close...].firstIndex(of: UInt8(ascii: ":")) { port = host[host.index(after: portColon)...] }
            host = host[...close]
        } else if let portColon = host.lastIndex(of: UInt8(ascii: ":")) {
            port = host[host.index(after: portColon)...]
            host = host[..<portColon]
        }
        guard port.allSatisfy(ASCII.isDigit) else { return nil }
        var pathBytes = afterSlashes[authorityEnd...]
        if let end = pathBytes.firstIndex(where: { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }) {
            pathBytes = pathBytes[..<end]
        }
        var path = String(decoding: pathBytes, as: UTF8.self)
        let scheme = String(decoding: schemeBytes.map(ASCII.lowercased), as: UTF8.self)
        if scheme == "file" {
            guard let decoded = RemoteURL.percentDecode(path) else { return nil }
            path = decoded
        }
        self.text = text
        self.scheme = scheme
        self.host = String(decoding: host, as: UTF8.self).lowercased()
        self.port = String(decoding: port, as: UTF8.self)
        self.path = path
    }

    /// Decodes %XX escapes; nil for malformed escapes or a decoded NUL.
    static func percentDecode(_ s: String) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(s.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let h = iterator.next(), let l = iterator.next(),
                      let value = UInt8(String(decoding: [h, l], as: UTF8.self), radix: 16), value != 0
                else { return nil }
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}

// MARK: - Redaction

extension RemoteURL {
    /// `url` with the password of its user information replaced by `***`
    /// (`https://user:secret@host/` → `https://user:***@host/`), for log lines and messages.
    /// Text without a `scheme://` prefix is taken as an authority (a `user:secret@proxy:3128`
    /// entry of ProxyList). The user information ends at the last `@` before the first `/`,
    /// `?` or `#` of the authority; its password starts after its first `:`. Anything else is
    /// returned unchanged.
    public static func redactingPassword(_ url: String) -> String {
        let bytes = Array(url.utf8)
        let slash = UInt8(ascii: "/"), colon = UInt8(ascii: ":")
        var start = 0
        // "scheme://": the scheme is a letter followed by letters, digits, '+', '-', '.'.
        if let first = bytes.first, ASCII.isLetter(first),
           let end = bytes.firstIndex(where: { !(ASCII.isLetter($0) || ASCII.isDigit($0) || $0 == UInt8(ascii: "+")
                                                 || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".")) }),
           bytes.count >= end + 3, bytes[end] == colon, bytes[end + 1] == slash, bytes[end + 2] == slash {
            start = end + 3
        }
        let authorityEnd = bytes[start...].firstIndex(where: {
            $0 == slash || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#")
        }) ?? bytes.endIndex
        guard let at = bytes[start..<authorityEnd].lastIndex(of: UInt8(ascii: "@")),
              let passwordStart = bytes[start..<at].firstIndex(of: colon) else { return url }
        return String(decoding: bytes[...passwordStart], as: UTF8.self) + "***"
            + String(decoding: bytes[at...], as: UTF8.self)
    }

    /// A ProxyList (entries separated by spaces, `;` or `,`) with the password of every entry
    /// replaced by `***`; the separators stay as they were.
    public static func redactingPasswords(inList list: String) -> String {
        var result = ""
        var entry = ""
        for character in list {
            if character == " " || character == ";" || character == "," {
                result += redactingPassword(entry)
                entry = ""
                result.append(character)
            } else {
                entry.append(character)
            }
        }
        return result + redactingPassword(entry)
    }
}

// MARK: - Option values

extension InputValidation {
    /// `NotifyCommandLine`: empty, or an absolute program path and its arguments.
    public static func notifyCommandLine(_ argv: [String]) throws -> [String] {
        guard let program = argv.first else { return [] }
        guard program.hasPrefix("/") else {
            throw ServiceError.invalidArgs("NotifyCommandLine program \(quote(program)) is not an absolute path.")
        }
        _ = try localPath(program, what: "NotifyCommandLine program")
        guard !program.contains("=") else {
            throw ServiceError.invalidArgs("NotifyCommandLine program \(quote(program)) contains '='; rename it.")
        }
        let total = argv.reduce(0) { $0 + $1.count + 1 }
        guard total <= JobDefaults.notifyCommandLineMaxLength else {
            throw ServiceError.invalidArgs("NotifyCommandLine is \(total) characters long; the limit is \(JobDefaults.notifyCommandLineMaxLength).")
        }
        return argv
    }

    /// `CustomHeaders`: `Name: value` lines, no line breaks, 16,384 characters in all.
    public static func customHeaders(_ lines: [String]) throws -> [String] {
        var total = 0
        for line in lines {
            total += line.count + 2
            // Scalars, not Characters: "\r\n" is one Character and would slip through.
            guard !line.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) else {
                throw ServiceError.invalidArgs("Custom header \(quote(line)) contains a line break.")
            }
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex,
                  line[..<colon].allSatisfy({ isTokenCharacter($0) }) else {
                throw ServiceError.invalidArgs("Custom header \(quote(line)) is not of the form 'Name: value'.")
            }
        }
        guard total <= JobDefaults.customHeadersMaxLength else {
            throw ServiceError.invalidArgs("CustomHeaders are \(total) characters long; the limit is \(JobDefaults.customHeadersMaxLength).")
        }
        return lines
    }

    /// `HttpMethod`: an HTTP token, upper-cased as given.
    public static func httpMethod(_ value: String) throws -> String {
        guard !value.isEmpty, value.count <= 32, value.allSatisfy({ isTokenCharacter($0) }) else {
            throw ServiceError.invalidArgs("HttpMethod \(quote(value)) is not an HTTP method token.")
        }
        return value
    }

    /// `ProxyList`: proxy URLs or host:port entries separated by spaces or semicolons.
    public static func proxyList(_ value: String, what: String) throws -> String {
        guard value.count <= JobDefaults.proxyListMaxLength else {
            throw ServiceError.invalidArgs("\(what) is \(value.count) characters long; the limit is \(JobDefaults.proxyListMaxLength).")
        }
        for entry in proxyEntries(value) {
            let withScheme = entry.contains("://") ? entry : "http://" + entry
            guard let url = RemoteURL(withScheme), !url.host.isEmpty,
                  ["http", "https", "socks4", "socks4a", "socks5", "socks5h"].contains(url.scheme) else {
                throw ServiceError.invalidArgs("\(what) entry \(quote(RemoteURL.redactingPassword(entry))) is not a proxy address such as http://proxy.example:3128.")
            }
        }
        return value
    }

    /// `ProxyBypassList`: host names, domains or addresses (and `<local>`).
    public static func proxyBypassList(_ value: String) throws -> String {
        guard value.count <= JobDefaults.proxyListMaxLength else {
            throw ServiceError.invalidArgs("ProxyBypassList is \(value.count) characters long; the limit is \(JobDefaults.proxyListMaxLength).")
        }
        for entry in proxyEntries(value) where !(entry == "<local>" || entry.allSatisfy({ $0.isLetter || $0.isNumber || ".-:*[]/".contains($0) })) {
            throw ServiceError.invalidArgs("ProxyBypassList entry \(quote(entry)) is not a host name or address.")
        }
        return value
    }

    /// Entries of a proxy or bypass list.
    public static func proxyEntries(_ value: String) -> [String] {
        value.split(whereSeparator: { $0 == " " || $0 == ";" || $0 == "," }).map(String.init)
    }

    static func isTokenCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || "!#$%&'*+-.^_`|~".contains(c))
    }
}

// MARK: - Ranges

extension InputValidation {
    /// `AddFileWithRanges`: at least one range, no empty range, an offset that is a real
    /// offset, and no overlap (also not between a to-EOF range and a later one).
    public static func ranges(_ ranges: [FileRange]) throws -> [FileRange] {
        guard !ranges.isEmpty else { throw ServiceError.invalidArgs("AddFileWithRanges needs at least one range.") }
        for range in ranges {
            guard range.length > 0 else {
                throw ServiceError.invalidArgs("Range (\(range.offset), 0) is empty.")
            }
            guard range.offset != UInt64.max, range.length == FileRange.toEndOfFile
                    || range.offset.addingReportingOverflow(range.length).overflow == false else {
                throw ServiceError.invalidArgs("Range (\(range.offset), \(range.length)) goes beyond the largest possible offset.")
            }
        }
        let sorted = ranges.sorted { $0.offset < $1.offset }
        for (a, b) in zip(sorted, sorted.dropFirst()) {
            let end = a.length == FileRange.toEndOfFile ? UInt64.max : a.offset + a.length
            if b.offset < end {
                throw ServiceError.invalidArgs("Ranges (\(a.offset), \(a.length == .max ? "EOF" : String(a.length))) and (\(b.offset), \(b.length == .max ? "EOF" : String(b.length))) overlap.")
            }
        }
        return ranges
    }
}
