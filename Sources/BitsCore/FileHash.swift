/// A hash algorithm of verified downloads (`ExpectedHash`, `Hash`, RFC 9530 digest fields).
public enum HashAlgorithm: String, Sendable, Codable, CaseIterable {
    case sha256
    case sha512

    /// Digest length in bytes.
    public var byteCount: Int { self == .sha256 ? 32 : 64 }
}

/// A file digest as the contract writes it: `sha256:<64 hex>` or `sha512:<128 hex>`, lower case.
public struct FileHash: Sendable, Equatable, Hashable, CustomStringConvertible {
    public let algorithm: HashAlgorithm
    public let digest: [UInt8]

    public init?(algorithm: HashAlgorithm, digest: [UInt8]) {
        guard digest.count == algorithm.byteCount else { return nil }
        self.algorithm = algorithm
        self.digest = digest
    }

    /// `sha256:<hex>`, the property's text.
    public var text: String { "\(algorithm.rawValue):\(Self.hex(digest))" }
    public var description: String { text }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses an `ExpectedHash` value: nil for `""` (no expected hash), else the hash. Upper-
    /// and lower-case hex digits are accepted (the text is normalized to lower case); anything
    /// else is `InvalidArgs` naming the value.
    public static func parseExpected(_ value: String) throws -> FileHash? {
        if value.isEmpty { return nil }
        func invalid(_ why: String) -> ServiceError {
            ServiceError.invalidArgs("ExpectedHash \(InputValidation.quote(value, limit: 160)) is not valid: \(why); expected \"\", \"sha256:\" and 64 hex digits or \"sha512:\" and 128 hex digits.")
        }
        let bytes = Array(value.utf8)
        guard bytes.count <= 7 + 128, let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else {
            throw invalid("no algorithm prefix or too long")
        }
        let name = String(decoding: bytes[..<colon], as: UTF8.self)
        guard let algorithm = HashAlgorithm(rawValue: name) else { throw invalid("unknown algorithm") }
        let digits = bytes[(colon + 1)...]
        guard digits.count == algorithm.byteCount * 2 else {
            throw invalid("\(digits.count) hex digits instead of \(algorithm.byteCount * 2)")
        }
        var digest: [UInt8] = []
        digest.reserveCapacity(algorithm.byteCount)
        var high: UInt8? = nil
        for c in digits {
            guard let nibble = hexValue(c) else { throw invalid("not a hex digit") }
            if let h = high {
                digest.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return FileHash(algorithm: algorithm, digest: digest)
    }

    /// The value of one hex digit, or nil.
    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// The `Repr-Digest` and `Content-Digest` fields of RFC 9530: Structured Field dictionaries
/// (RFC 8941) of algorithm keys and byte-sequence values, `sha-256=:<base64>:`. Only sha-256
/// and sha-512 are used; other algorithms and parameters are ignored. Parsing is bounded (a
/// field over `maxFieldBytes` is ignored) and strict: a malformed field yields nothing and is
/// ignored as if absent, and so is a value of the wrong length for its algorithm.
public enum DigestFields {
    public static let maxFieldBytes = 4096

    /// The sha-256 and sha-512 digests announced by a response's header block for its
    /// representation: `Repr-Digest` first, then `Content-Digest` (for a whole 200 response
    /// both describe the same bytes). Each algorithm at most once, the first value wins.
    public static func digests(reprDigest: String?, contentDigest: String?) -> [FileHash] {
        var result: [FileHash] = []
        for field in [reprDigest, contentDigest] {
            guard let field else { continue }
            for hash in parse(field) where !result.contains(where: { $0.algorithm == hash.algorithm }) {
                result.append(hash)
            }
        }
        return result
    }

    /// The sha-256 and sha-512 members of one field value; [] when it is malformed.
    public static func parse(_ field: String) -> [FileHash] {
        let bytes = Array(field.utf8)
        guard bytes.count <= maxFieldBytes else { return [] }
        var i = 0
        var result: [FileHash] = []
        func skipSpaces() { while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 { i += 1 } }
        skipSpaces()
        if i == bytes.count { return [] }
        while true {
            // key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )
            let keyStart = i
            guard i < bytes.count, (bytes[i] >= 0x61 && bytes[i] <= 0x7a) || bytes[i] == 0x2a else { return [] }
            while i < bytes.count, isKeyCharacter(bytes[i]) { i += 1 }
            let key = String(decoding: bytes[keyStart..<i], as: UTF8.self)
            var value: [UInt8]? = nil
            if i < bytes.count, bytes[i] == UInt8(ascii: "=") {
                i += 1
                guard i < bytes.count else { return [] }
                if bytes[i] == UInt8(ascii: ":") {
                    i += 1
                    let start = i
                    while i < bytes.count, bytes[i] != UInt8(ascii: ":") { i += 1 }
                    guard i < bytes.count, let decoded = base64(bytes[start..<i]) else { return [] }
                    i += 1
                    value = decoded
                } else {
                    // Another bare item (integer, string, token, boolean): not a digest; skip it.
                    guard skipBareItem(bytes, &i) else { return [] }
                }
            }
            // Parameters: ;key[=bare-item]
            while i < bytes.count, bytes[i] == UInt8(ascii: ";") {
                i += 1
                skipSpaces()
                guard i < bytes.count, (bytes[i] >= 0x61 && bytes[i] <= 0x7a) || bytes[i] == 0x2a else { return [] }
                while i < bytes.count, isKeyCharacter(bytes[i]) { i += 1 }
                if i < bytes.count, bytes[i] == UInt8(ascii: "=") {
                    i += 1
                    guard skipBareItem(bytes, &i) else { return [] }
                }
            }
            if let value {
                let algorithm: HashAlgorithm? = key == "sha-256" ? .sha256 : (key == "sha-512" ? .sha512 : nil)
                if let algorithm {
                    // A value of another length is not a digest of this algorithm: malformed.
                    guard let hash = FileHash(algorithm: algorithm, digest: value) else { return [] }
                    // A key seen twice: the last value wins (RFC 8941 §4.2.2).
                    result.removeAll { $0.algorithm == algorithm }
                    result.append(hash)
                }
            }
            skipSpaces()
            if i == bytes.count { return result }
            guard bytes[i] == UInt8(ascii: ",") else { return [] }
            i += 1
            skipSpaces()
            guard i < bytes.count else { return [] }  // trailing comma
        }
    }

    private static func isKeyCharacter(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x5f || c == 0x2d || c == 0x2e || c == 0x2a
    }

    /// Skips an integer/decimal, string, token or boolean; false if there is none.
    private static func skipBareItem(_ bytes: [UInt8], _ i: inout Int) -> Bool {
        guard i < bytes.count else { return false }
        let c = bytes[i]
        if c == UInt8(ascii: "\"") {
            i += 1
            while i < bytes.count {
                if bytes[i] == UInt8(ascii: "\\") { i += 2; continue }
                if bytes[i] == UInt8(ascii: "\"") { i += 1; return i <= bytes.count }
                i += 1
            }
            return false
        }
        if c == UInt8(ascii: "?") {
            i += 1
            guard i < bytes.count, bytes[i] == UInt8(ascii: "0") || bytes[i] == UInt8(ascii: "1") else { return false }
            i += 1
            return true
        }
        if c == UInt8(ascii: ":") {
            i += 1
            while i < bytes.count, bytes[i] != UInt8(ascii: ":") { i += 1 }
            guard i < bytes.count else { return false }
            i += 1
            return true
        }
        let start = i
        while i < bytes.count, bytes[i] > 0x20, bytes[i] < 0x7f, bytes[i] != UInt8(ascii: ","), bytes[i] != UInt8(ascii: ";") { i += 1 }
        return i > start
    }

    /// Strict base64 (RFC 4648 alphabet, padding optional but correct if present); nil if malformed.
    static func base64(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        var padding = 0
        for c in text {
            let v: UInt32
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = UInt32(c - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): v = UInt32(c - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(c - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"): v = 62
            case UInt8(ascii: "/"): v = 63
            case UInt8(ascii: "="):
                padding += 1
                continue
            default: return nil
            }
            guard padding == 0 else { return nil }  // data after padding
            accumulator = (accumulator << 6) | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        guard padding <= 2, bits < 6 else { return nil }
        if padding > 0, (text.count % 4) != 0 { return nil }
        return out
    }
}
