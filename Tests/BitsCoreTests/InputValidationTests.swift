import XCTest
@testable import BitsCore

final class InputValidationTests: XCTestCase {
    func assertInvalid(_ body: @autoclosure () throws -> Any, mentions value: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            let e = error as? ServiceError
            XCTAssertEqual(e?.name, .invalidArgs, file: file, line: line)
            XCTAssertTrue(e?.message.contains(value) == true, "\(e?.message ?? "") lacks \(value)", file: file, line: line)
        }
    }

    func testURLs() throws {
        XCTAssertEqual(try InputValidation.downloadURL("http://example.org/a").host, "example.org")
        XCTAssertEqual(try InputValidation.downloadURL("HTTPS://u:p@[::1]:8443/x?y").scheme, "https")
        XCTAssertEqual(try InputValidation.downloadURL("file:///tmp/a%20b").path, "/tmp/a b")
        assertInvalid(try InputValidation.downloadURL("ftp://h/x"), mentions: "ftp")
        assertInvalid(try InputValidation.downloadURL("gopher://h/x"), mentions: "gopher")
        assertInvalid(try InputValidation.downloadURL("http:///nohost"), mentions: "http:///nohost")
        assertInvalid(try InputValidation.downloadURL("relative/path"), mentions: "relative/path")
        assertInvalid(try InputValidation.downloadURL("http://h/a b"), mentions: "a b")
        assertInvalid(try InputValidation.downloadURL("file://remote/x"), mentions: "file://remote/x")
        assertInvalid(try InputValidation.downloadURL("http://h/" + String(repeating: "a", count: 2300)), mentions: "2200")
        assertInvalid(try InputValidation.downloadURL(""), mentions: "empty")
    }

    func testOriginsNameTheServer() {
        XCTAssertEqual(RemoteURL("http://127.0.0.1:8080/a/b?c#d")?.origin, "http://127.0.0.1:8080")
        XCTAssertEqual(RemoteURL("HTTPS://User:pw@Example.ORG/x")?.origin, "https://example.org:")
        XCTAssertEqual(RemoteURL("http://[::1]:81/x")?.origin, "http://[::1]:81")
        XCTAssertEqual(RemoteURL("http://[::1]/x")?.port, "")
        XCTAssertEqual(RemoteURL("http://a.example:1/f1")?.origin, RemoteURL("http://a.example:1/f2")?.origin)
        XCTAssertNotEqual(RemoteURL("http://a.example:1/f")?.origin, RemoteURL("http://a.example:2/f")?.origin)
        XCTAssertNil(RemoteURL("http://[::1]:8x/"))
        XCTAssertNil(RemoteURL("http://host:8x/"))
    }

    /// The parser works on UTF-8 bytes: non-ASCII text around the delimiters, a delimiter
    /// followed by a combining mark, and non-ASCII digits in the port.
    func testURLsAreParsedOnBytes() throws {
        let url = try XCTUnwrap(RemoteURL("http://Bücher.Example:8080/ä/ö?x=ü#frag"))
        XCTAssertEqual(url.scheme, "http")
        XCTAssertEqual(url.host, "bücher.example")
        XCTAssertEqual(url.port, "8080")
        XCTAssertEqual(url.path, "/ä/ö")
        // "/" + U+0301 is one Character, but the slash still ends the authority.
        XCTAssertEqual(RemoteURL("http://h/\u{301}x")?.host, "h")
        XCTAssertEqual(RemoteURL("file:///tmp/%C3%A4")?.path, "/tmp/ä")
        XCTAssertNil(RemoteURL("http://host:٨٠/"), "Arabic-Indic digits are not a port")
        XCTAssertNil(RemoteURL("hüttp://h/x"), "a scheme is ASCII")
        XCTAssertNil(RemoteURL("1http://h/x"), "a scheme starts with a letter")
        XCTAssertEqual(RemoteURL("svn+SSH://h/x")?.scheme, "svn+ssh")
        XCTAssertNil(RemoteURL("http:/h/x"))
        XCTAssertNil(RemoteURL("file:///tmp/%zz"))
        // 2,200 characters are allowed even when they take more bytes.
        XCTAssertNoThrow(try InputValidation.downloadURL("http://h/" + String(repeating: "é", count: 2191)))
        assertInvalid(try InputValidation.downloadURL("http://h/" + String(repeating: "é", count: 2192)), mentions: "2201")
        assertInvalid(try InputValidation.downloadURL("http://h/a\u{7f}"), mentions: "control")
    }

    func testASCIICaseHelpers() {
        XCTAssertTrue("FILE:///x".hasPrefixIgnoringASCIICase("file:"))
        XCTAssertTrue("file:".hasPrefixIgnoringASCIICase("File:"))
        XCTAssertFalse("fil".hasPrefixIgnoringASCIICase("file:"))
        XCTAssertFalse("http://x".hasPrefixIgnoringASCIICase("file:"))
        XCTAssertTrue("Content-Length".equalsIgnoringASCIICase("content-length"))
        XCTAssertFalse("Ä".equalsIgnoringASCIICase("ä"), "only ASCII folds")
        XCTAssertEqual(ASCII.lowercased(UInt8(ascii: "Z")), UInt8(ascii: "z"))
        XCTAssertEqual(ASCII.lowercased(UInt8(ascii: "[")), UInt8(ascii: "["))
        XCTAssertFalse(ASCII.isLetter(UInt8(ascii: "@")))
        XCTAssertFalse(ASCII.isLetter(UInt8(ascii: "`")))
        XCTAssertTrue(ASCII.isLetter(UInt8(ascii: "A")) && ASCII.isLetter(UInt8(ascii: "z")))
    }

    func testLocalPaths() throws {
        XCTAssertEqual(try InputValidation.localPath("/home/a/file"), "/home/a/file")
        assertInvalid(try InputValidation.localPath("relative"), mentions: "relative")
        assertInvalid(try InputValidation.localPath("/tmp/../etc/passwd"), mentions: "/tmp/../etc/passwd")
        assertInvalid(try InputValidation.localPath("/tmp/./x"), mentions: "/tmp/./x")
        assertInvalid(try InputValidation.localPath("/tmp//x"), mentions: "/tmp//x")
        assertInvalid(try InputValidation.localPath("/tmp/dir/"), mentions: "/tmp/dir/")
        assertInvalid(try InputValidation.localPath("/"), mentions: "'/'")
        assertInvalid(try InputValidation.localPath("/tmp/" + String(repeating: "n", count: 300)), mentions: "255")
        // Components are split on the byte '/', as the kernel does, even before a combining mark.
        assertInvalid(try InputValidation.localPath("/tmp/../\u{301}x"), mentions: "normalized")
        assertInvalid(try InputValidation.localPath("/tmp/" + String(repeating: "é", count: 128)), mentions: "255")
        XCTAssertNoThrow(try InputValidation.localPath("/tmp/" + String(repeating: "é", count: 127)))
        assertInvalid(try InputValidation.localPath("/tmp/a\u{1f}"), mentions: "control")
    }

    func testStringsAndEnums() throws {
        XCTAssertNoThrow(try InputValidation.displayName(String(repeating: "x", count: 256)))
        assertInvalid(try InputValidation.displayName(String(repeating: "x", count: 257)), mentions: "257")
        assertInvalid(try InputValidation.description(String(repeating: "x", count: 1025)), mentions: "1025")
        XCTAssertEqual(try InputValidation.enumValue(JobPriority.self, "low", what: "Priority"), .low)
        assertInvalid(try InputValidation.enumValue(JobPriority.self, "urgent", what: "Priority"), mentions: "urgent")
        assertInvalid(try InputValidation.enumValue(JobType.self, "sideways", what: "Job type"), mentions: "sideways")
        XCTAssertEqual(InputValidation.minimumRetryDelay(1), 5)
        XCTAssertEqual(InputValidation.minimumRetryDelay(60), 60)
        XCTAssertEqual(InputValidation.quote("a\u{1}b"), "'a?b'")
    }

    func testJobIDs() {
        let id = JobID.random()
        XCTAssertEqual(id.hex.count, 32)
        XCTAssertEqual(JobID(guid: id.guid), id)
        XCTAssertEqual(JobID(guid: "{" + id.guid.uppercased() + "}"), id)
        XCTAssertEqual(JobID(pathElement: id.hex), id)
        XCTAssertNil(JobID(guid: "not-a-guid"))
        XCTAssertNil(JobID(guid: "0123456789abcdef0123456789abcdef"))
        XCTAssertNil(JobID(pathElement: id.hex.uppercased()))
    }
}
