import BitsClient
@testable import bitsctl
import Foundation
import XCTest

final class JSONOutputTests: XCTestCase {
    /// Serialized as `JSONOutput.print(compact: true)` does (keys in byte order, one line).
    func json(_ object: Any) throws -> String {
        JSON(any: object).text(compact: true)
    }

    func testPrettyTextAndEscaping() throws {
        let object: [String: Any] = ["b": ["x", 1], "a": "quote \" backslash \\ newline \n tab \t bell \u{7} é /"]
        XCTAssertEqual(JSON(any: object).text(compact: false),
                       "{\n  \"a\": \"quote \\\" backslash \\\\ newline \\n tab \\t bell \\u0007 é /\",\n  \"b\": [\n    \"x\",\n    1\n  ]\n}")
        XCTAssertEqual(JSON(any: [String: Any]()).text(compact: false), "{}")
        XCTAssertEqual(JSON(any: Double.nan).text(compact: true), "null")
        // Keys sort by bytes: upper case before lower case.
        XCTAssertEqual(try json(["b": 1, "B": 2, "a": 3]), #"{"B":2,"a":3,"b":1}"#)
    }

    func testScalars() throws {
        XCTAssertEqual(try json(JSONOutput.value(.string("a \"q\""))), #""a \"q\"""#)
        XCTAssertEqual(try json(JSONOutput.value(.objectPath("/org/example/Bits"))), #""/org/example/Bits""#)
        XCTAssertEqual(try json(JSONOutput.value(.bool(true))), "true")
        XCTAssertEqual(try json(JSONOutput.value(.bool(false))), "false")
        XCTAssertEqual(try json(JSONOutput.value(.byte(7))), "7")
        XCTAssertEqual(try json(JSONOutput.value(.int32(-2))), "-2")
        XCTAssertEqual(try json(JSONOutput.value(.uint32(UInt32.max))), "4294967295")
        XCTAssertEqual(try json(JSONOutput.value(.int64(Int64.min))), "-9223372036854775808")
        XCTAssertEqual(try json(JSONOutput.value(.double(0.5))), "0.5")
        XCTAssertEqual(try json(JSONOutput.value(.variant(.uint32(3)))), "3")
    }

    func testUInt64MaxStaysAnExactNumber() throws {
        XCTAssertEqual(try json(JSONOutput.value(.uint64(UInt64.max))), "18446744073709551615")
        XCTAssertEqual(try json(JSONOutput.value(.uint64(UInt64.max - 1))), "18446744073709551614")
        // Not representable as a Double: must not go through one.
        XCTAssertEqual(try json(JSONOutput.value(.uint64((1 << 53) + 1))), "9007199254740993")
        XCTAssertEqual(try json(["BytesTotal": JSONOutput.value(.variant(.uint64(UInt64.max)))]),
                       #"{"BytesTotal":18446744073709551615}"#)
    }

    func testNestedArrays() throws {
        let ranges = Variant.array(elementType: "(tt)", [
            .tuple([.uint64(0), .uint64(100)]),
            .tuple([.uint64(5000), .uint64(UInt64.max)]),
        ])
        XCTAssertEqual(try json(JSONOutput.value(ranges)), "[[0,100],[5000,18446744073709551615]]")
        XCTAssertEqual(try json(JSONOutput.value(.strings(["a", "b"]))), #"["a","b"]"#)
        XCTAssertEqual(try json(JSONOutput.value(.strings([]))), "[]")
        XCTAssertEqual(try json(JSONOutput.value(.array(elementType: "as", [.strings(["x"]), .strings([])]))), #"[["x"],[]]"#)
    }

    func testDictionaries() throws {
        let dict = Variant.vardict([("Size", .uint64(10)), ("Names", .strings(["a"])),
                                    ("Inner", .vardict([("Ok", .bool(true))]))])
        XCTAssertEqual(try json(JSONOutput.value(dict)), #"{"Inner":{"Ok":true},"Names":["a"],"Size":10}"#)
        XCTAssertEqual(try json(JSONOutput.value(.dictionary(keyType: "s", valueType: "s", []))), "{}")
    }

    func testJobIncludesPathAndFileDetails() throws {
        let path = "/org/example/Bits/jobs/0123456789abcdef0123456789abcdef"
        let job = JobProperties(path: path, properties: [
            "DisplayName": .variant(.string("iso")), "BytesTotal": .uint64(UInt64.max),
            "Files": .objectPaths([path + "/files/0"]),
        ])
        let file = FileProperties(path: path + "/files/0", properties: [
            "RemoteName": .string("https://example.org/a.iso"),
            "Ranges": .array(elementType: "(tt)", [.tuple([.uint64(0), .uint64(UInt64.max)])]),
        ])
        XCTAssertEqual(try json(JSONOutput.job(job)),
                       #"{"BytesTotal":18446744073709551615,"DisplayName":"iso","Files":["\#(path)/files/0"],"Path":"\#(path)"}"#)
        XCTAssertEqual(try json(JSONOutput.job(job, files: [file])),
                       #"{"BytesTotal":18446744073709551615,"DisplayName":"iso","#
                       + #""FileDetails":[{"Index":0,"Path":"\#(path)/files/0","Ranges":[[0,18446744073709551615]],"#
                       + #""RemoteName":"https://example.org/a.iso"}],"#
                       + #""Files":["\#(path)/files/0"],"Path":"\#(path)"}"#)
        XCTAssertEqual(try json(JSONOutput.job(job, files: [])).contains(#""FileDetails":[]"#), true)
    }

    func testFileWithoutIndex() throws {
        let file = FileProperties(path: "/not/a/number", properties: ["Completed": .bool(true)])
        XCTAssertEqual(try json(JSONOutput.file(file)), #"{"Completed":true,"Path":"/not/a/number"}"#)
    }
}
