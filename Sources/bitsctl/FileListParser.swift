import ArgumentParser

/// Parses an `add-files` list: one `remote local` pair per line, `#` starts a comment, blank
/// lines are skipped. A local name with spaces can be quoted with double quotes.
enum FileListParser {
    static func parse(_ text: String) throws -> [(remote: String, local: String)] {
        var pairs: [(remote: String, local: String)] = []
        // `isNewline`: a CRLF list (saved on Windows) has "\r\n" lines, one Character each.
        for (number, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let fields = try split(String(line), line: number + 1)
            if fields.isEmpty { continue }
            guard fields.count == 2 else {
                throw ValidationError("Line \(number + 1) of the list has \(fields.count) field(s); expected `remote local`.")
            }
            pairs.append((fields[0], fields[1]))
        }
        guard !pairs.isEmpty else { throw ValidationError("The list names no files.") }
        return pairs
    }

    /// Whitespace-separated fields; "double quotes" keep spaces (and `#`); `#` outside quotes
    /// starts a comment.
    private static func split(_ line: String, line number: Int) throws -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        var inField = false
        for character in line {
            if character == "\"" { quoted.toggle(); inField = true; continue }
            if character == "#" && !quoted { break }
            if character.isWhitespace && !quoted {
                if inField { fields.append(current); current = ""; inField = false }
                continue
            }
            current.append(character)
            inField = true
        }
        guard !quoted else { throw ValidationError("Line \(number) of the list has an unclosed quote.") }
        if inField { fields.append(current) }
        return fields
    }
}
