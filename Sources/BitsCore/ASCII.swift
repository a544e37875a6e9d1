/// Byte-level helpers for the ASCII parts of protocol text (URL schemes, header names). Working
/// on UTF-8 bytes avoids Character iteration (grapheme breaking), which is far slower and
/// treats a delimiter followed by a combining mark as a different character.
public enum ASCII {
    @inlinable public static func isLetter(_ byte: UInt8) -> Bool { (byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A }
    @inlinable public static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
    /// The byte with A–Z mapped to a–z; every other byte unchanged.
    @inlinable public static func lowercased(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte }
}

extension StringProtocol {
    /// Whether the two are equal ignoring ASCII case (header field names, URL schemes).
    public func equalsIgnoringASCIICase(_ other: some StringProtocol) -> Bool {
        utf8.count == other.utf8.count && hasPrefixIgnoringASCIICase(other)
    }

    /// Whether the string starts with `prefix`, ignoring ASCII case.
    public func hasPrefixIgnoringASCIICase(_ prefix: some StringProtocol) -> Bool {
        utf8.count >= prefix.utf8.count
            && zip(utf8, prefix.utf8).allSatisfy { ASCII.lowercased($0) == ASCII.lowercased($1) }
    }
}
