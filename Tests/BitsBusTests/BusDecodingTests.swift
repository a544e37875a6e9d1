import BitsCore
import BitsDBus
import XCTest
@testable import BitsBus

/// The harnesses' typed decoding: values of exactly the declared type decode, anything else
/// is InvalidArgs naming the argument or property, never a default.
final class BusDecodingTests: XCTestCase {
    private func assertInvalidArgs(_ body: @autoclosure () throws -> Any, _ message: String,
                                   file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertEqual(error as? ServiceError, .invalidArgs(message), file: file, line: line)
        }
    }

    func testArgumentsOfTheDeclaredTypeDecode() throws {
        let args = CallArguments(member: "AddFileWithRanges", [
            .string("https://example.com/a"), .string("/tmp/a"),
            .array(elementType: "(tt)", [.tuple([.uint64(0), .uint64(10)]), .tuple([.uint64(20), .uint64(UInt64.max)])]),
        ])
        XCTAssertEqual(try args(0, "remote_url", as: String.self), "https://example.com/a")
        XCTAssertEqual(try args(1, "local_path", as: String.self), "/tmp/a")
        XCTAssertEqual(try args(2, "ranges", as: [FileRange].self),
                       [FileRange(offset: 0, length: 10), FileRange(offset: 20, length: UInt64.max)])

        let scalars = CallArguments(member: "M", [.bool(true), .uint32(7), .uint64(9), .strings(["a", "b"])])
        XCTAssertEqual(try scalars(0, "b", as: Bool.self), true)
        XCTAssertEqual(try scalars(1, "u", as: UInt32.self), 7)
        XCTAssertEqual(try scalars(2, "t", as: UInt64.self), 9)
        XCTAssertEqual(try scalars(3, "as", as: [String].self), ["a", "b"])

        let files = CallArguments(member: "AddFiles", [.array(elementType: "(ss)", [.tuple([.string("r"), .string("l")])])])
        XCTAssertEqual(try files(0, "files", as: [FileSource].self), [FileSource(remote: "r", local: "l")])
        XCTAssertEqual(try CallArguments(member: "AddFiles", [.array(elementType: "(ss)", [])])(0, "files", as: [FileSource].self), [])
    }

    func testWrongTypeIsInvalidArgsNamingTheArgument() {
        let args = CallArguments(member: "CreateJob", [.uint32(1), .objectPath("/x")])
        assertInvalidArgs(try args(0, "display_name", as: String.self),
                          "Argument display_name of CreateJob takes type 's', not 'u'.")
        // An object path is not a string, though both carry text.
        assertInvalidArgs(try args(1, "type", as: String.self), "Argument type of CreateJob takes type 's', not 'o'.")
        assertInvalidArgs(try CallArguments(member: "ListJobs", [.string("true")])(0, "all_users", as: Bool.self),
                          "Argument all_users of ListJobs takes type 'b', not 's'.")
        // No widening: a u is not a t.
        assertInvalidArgs(try CallArguments(member: "M", [.uint32(1)])(0, "size", as: UInt64.self),
                          "Argument size of M takes type 't', not 'u'.")
    }

    func testMissingArgumentIsInvalidArgs() {
        assertInvalidArgs(try CallArguments(member: "GetJob", [])(0, "id", as: String.self),
                          "Argument id of GetJob is missing (type 's').")
    }

    func testContainersMustMatchInEveryElement() {
        // Wrong element type of the array itself.
        assertInvalidArgs(try CallArguments(member: "AddFileWithRanges", [.array(elementType: "(uu)", [])])(0, "ranges", as: [FileRange].self),
                          "Argument ranges of AddFileWithRanges takes type 'a(tt)', not 'a(uu)'.")
        // Elements that do not match the type the array claims (GVariant never decodes so;
        // the whole array is refused all the same).
        let short = Variant.array(elementType: "(ss)", [.tuple([.string("only")])])
        XCTAssertThrowsError(try CallArguments(member: "AddFiles", [short])(0, "files", as: [FileSource].self))
        let mixed = Variant.array(elementType: "s", [.string("a"), .uint32(1)])
        XCTAssertThrowsError(try CallArguments(member: "M", [mixed])(0, "names", as: [String].self))
        XCTAssertNil(FileRange(busValue: .tuple([.uint64(1), .uint32(2)])))
        XCTAssertNil(FileSource(busValue: .tuple([.string("a"), .string("b"), .string("c")])))
    }

    func testVariantArgumentIsUnboxed() throws {
        let args = CallArguments(member: "Properties.Set", [.string("org.example.Bits.Job"), .string("DisplayName"),
                                                           .variant(.string("new name"))])
        XCTAssertEqual(try args(2, "value", as: BoxedValue.self).value, .string("new name"))
        assertInvalidArgs(try args(1, "value", as: BoxedValue.self),
                          "Argument value of Properties.Set takes type 'v', not 's'.")
    }

    func testPropertyValueOfTheWrongTypeIsInvalidArgsNamingTheProperty() throws {
        XCTAssertEqual(try BusDecoding.property("RemoteName", .string("https://x/"), as: String.self), "https://x/")
        assertInvalidArgs(try BusDecoding.property("RemoteName", .uint32(5), as: String.self),
                          "Property RemoteName takes type 's', not 'u'.")
        assertInvalidArgs(try BusDecoding.property("ValidationState", .bool(true), as: String.self),
                          "Property ValidationState takes type 's', not 'b'.")
        assertInvalidArgs(try BusDecoding.property("NotifyCommandLine", .string("/bin/true"), as: [String].self),
                          "Property NotifyCommandLine takes type 'as', not 's'.")
    }

    func testAuthorizationDeclarations() {
        let id = JobID(guid: "01234567-89ab-cdef-0123-456789abcdef")!
        XCTAssertEqual(Authorization.none.manageAllJobs, .never)
        XCTAssertFalse(Authorization.none.exceedLimitsOnRetry)
        XCTAssertEqual(Authorization.none.exceedingLimits.manageAllJobs, .never)
        XCTAssertTrue(Authorization.none.exceedingLimits.exceedLimitsOnRetry)
        let job = Authorization.anotherUsersJob(id).exceedingLimits
        XCTAssertEqual(job.manageAllJobs, .ifAnotherUsersJob(id))
        XCTAssertTrue(job.exceedLimitsOnRetry)
        XCTAssertEqual(Authorization.manageAllJobs(challengeMessage: "m").manageAllJobs, .interactive(challengeMessage: "m"))
    }
}
