import ArgumentParser
import BitsCore

/// Parses bitsadmin's range list: `offset:length` pairs separated by commas, length `eof`
/// meaning "to the end of the file" (UINT64_MAX on the bus). The service checks overlaps
/// and limits; this only checks the syntax.
enum RangeListParser {
    static func parse(_ text: String) throws -> [(offset: UInt64, length: UInt64)] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingBlanks() }
        return try items.map { item in
            let parts = item.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let offset = UInt64(parts[0]) else {
                throw ValidationError("\"\(item)\" is not a range; write offset:length or offset:eof.")
            }
            if parts[1].lowercased() == "eof" { return (offset, UInt64.max) }
            guard let length = UInt64(parts[1]) else {
                throw ValidationError("\"\(item)\" has a bad length \"\(parts[1])\"; write a number or eof.")
            }
            return (offset, length)
        }
    }
}
