import BitsDBus
import XCTest
@testable import BitsBus

/// GVariant coding of the transport layer, with no bus: round trips of every shape the
/// service sends, repeated so that dangling C strings (the bug where a type string's
/// temporary was freed before GLib read it) would show up as NULL GVariants.
final class VariantCodingTests: XCTestCase {
    func roundTrip(_ value: Variant, file: StaticString = #filePath, line: UInt = #line) {
        let (typeString, decoded) = value.roundTripped()
        XCTAssertEqual(typeString, value.typeString, file: file, line: line)
        XCTAssertEqual(decoded, value, file: file, line: line)
    }

    func testScalarsAndContainersRoundTrip() {
        roundTrip(.string("héllo"))
        roundTrip(.objectPath("/org/example/Bits/jobs/0123"))
        roundTrip(.bool(true))
        roundTrip(.uint32(7))
        roundTrip(.uint64(UInt64.max))
        roundTrip(.int64(-5))
        roundTrip(.array(elementType: "y", [.byte(1), .byte(255)]))
        roundTrip(.strings([]))
        roundTrip(.array(elementType: "(tt)", [.tuple([.uint64(1), .uint64(2)])]))
        roundTrip(.vardict([("State", .string("queued")), ("Files", .objectPaths(["/a", "/b"]))]))
        roundTrip(.tuple([.objectPath("/x"), .dictionary(keyType: "s", valueType: "a{sv}",
                                                         [(.string("org.example.Bits.Job"), .vardict([("Id", .string("g"))]))])]))
    }

    func testLargeArraysRepeatedly() {
        let paths = (0..<200).map { "/org/example/Bits/jobs/0123456789abcdef0123456789abcdef/files/\($0)" }
        for _ in 0..<500 {
            roundTrip(.tuple([.objectPaths(paths)]))
            roundTrip(.dictionary(keyType: "o", valueType: "a{sa{sv}}",
                                  paths.prefix(20).map { (.objectPath($0), .dictionary(keyType: "s", valueType: "a{sv}", [])) }))
        }
    }
}
