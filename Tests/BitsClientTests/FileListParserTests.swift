@testable import bitsctl
import XCTest

final class FileListParserTests: XCTestCase {
    func testPairsCommentsAndBlankLines() throws {
        let text = """
        # a list for add-files
        https://example.org/a.iso /tmp/a.iso

           https://example.org/b.iso    /tmp/b.iso   # trailing comment
        \t
        https://example.org/c.iso\t/tmp/c.iso
        """
        XCTAssertEqual(flatten(try FileListParser.parse(text)), [
            ["https://example.org/a.iso", "/tmp/a.iso"],
            ["https://example.org/b.iso", "/tmp/b.iso"],
            ["https://example.org/c.iso", "/tmp/c.iso"],
        ])
    }

    func testTrailingNewlineIsNotAnError() throws {
        XCTAssertEqual(flatten(try FileListParser.parse("u1 /l1\nu2 /l2\n")), [["u1", "/l1"], ["u2", "/l2"]])
    }

    func testQuotedNamesKeepSpaces() throws {
        let text = #"https://example.org/my%20file.txt "/home/me/My Documents/my file.txt""#
        XCTAssertEqual(flatten(try FileListParser.parse(text)),
                       [["https://example.org/my%20file.txt", "/home/me/My Documents/my file.txt"]])
    }

    func testQuotedEmptyFieldCounts() throws {
        // "" is an (empty) field: the service, not the parser, rejects empty names.
        XCTAssertEqual(flatten(try FileListParser.parse(#"https://example.org/a """#)), [["https://example.org/a", ""]])
    }

    func testWrongFieldCountNamesTheLine() {
        let text = "# header\nhttps://example.org/a /tmp/a\n\nhttps://example.org/b\n"
        XCTAssertEqual(thrownMessage { try FileListParser.parse(text) },
                       "Line 4 of the list has 1 field(s); expected `remote local`.")
        XCTAssertEqual(thrownMessage { try FileListParser.parse("a b c") },
                       "Line 1 of the list has 3 field(s); expected `remote local`.")
    }

    func testUnclosedQuoteNamesTheLine() {
        XCTAssertEqual(thrownMessage { try FileListParser.parse("u1 /l1\nu2 \"/tmp/with space") },
                       "Line 2 of the list has an unclosed quote.")
    }

    func testEmptyListIsAnError() {
        for text in ["", "\n\n", "# only a comment\n   \n"] {
            XCTAssertEqual(thrownMessage { try FileListParser.parse(text) }, "The list names no files.", "input \(text.debugDescription)")
        }
    }

    func testWindowsLineEndings() throws {
        // A list saved on Windows (CRLF): "\r\n" is one Character in Swift.
        XCTAssertEqual(flatten(try FileListParser.parse("u1 /l1\r\nu2 /l2\r\n")), [["u1", "/l1"], ["u2", "/l2"]])
        XCTAssertEqual(thrownMessage { try FileListParser.parse("u1 /l1\r\nu2\r\n") },
                       "Line 2 of the list has 1 field(s); expected `remote local`.")
    }
}

extension FileListParserTests {
    func testHashInsideQuotesIsPartOfTheName() throws {
        let text = #"https://example.org/a "/tmp/issue #1.txt" # comment"#
        XCTAssertEqual(flatten(try FileListParser.parse(text)), [["https://example.org/a", "/tmp/issue #1.txt"]])
    }
}
