/// A job's GUID. Canonical text is lowercase `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`; the object
/// path uses the 32 hex digits without dashes.
public struct JobID: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The 32 lowercase hex digits.
    public let hex: String

    /// A new random (version 4) GUID.
    public static func random() -> JobID {
        var g = SystemRandomNumberGenerator()
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &g) }
        bytes[6] = (bytes[6] & 0x0f) | 0x40
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        return JobID(hex: bytes.map { byte in
            let s = String(byte, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined())
    }

    private init(hex: String) { self.hex = hex }

    /// Decodes `{"hex": "<32 hex digits>"}`; anything else (a damaged queue database) is a
    /// decoding error, never a JobID whose `guid` would index past its text.
    public init(from decoder: Decoder) throws {
        enum Keys: String, CodingKey { case hex }
        let container = try decoder.container(keyedBy: Keys.self)
        let text = try container.decode(String.self, forKey: .hex)
        guard let id = JobID(pathElement: text) else {
            throw DecodingError.dataCorruptedError(forKey: .hex, in: container,
                                                   debugDescription: "not 32 lowercase hex digits")
        }
        self = id
    }

    /// Parses a GUID as accepted by `GetJob`: canonical form, optionally in braces, any case.
    public init?(guid text: String) {
        var s = Substring(text)
        if s.hasPrefix("{") && s.hasSuffix("}") { s = s.dropFirst().dropLast() }
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.map(\.count) == [8, 4, 4, 4, 12] else { return nil }
        let joined = parts.joined().lowercased()
        guard joined.allSatisfy({ $0.isHexDigit && $0.isASCII }) else { return nil }
        hex = joined
    }

    /// Parses the 32 hex digits of an object path element.
    public init?(pathElement: String) {
        guard pathElement.count == 32,
              pathElement.allSatisfy({ ($0.isNumber || ("a"..."f").contains($0)) && $0.isASCII })
        else { return nil }
        hex = pathElement
    }

    /// Canonical GUID text.
    public var guid: String {
        let c = Array(hex)
        return [c[0..<8], c[8..<12], c[12..<16], c[16..<20], c[20..<32]].map { String($0) }.joined(separator: "-")
    }

    public var description: String { guid }
}
