@testable import bitsctl
import XCTest

final class RangeListParserTests: XCTestCase {
    func testRangesWithEof() throws {
        XCTAssertEqual(flatten(try RangeListParser.parse("0:100,2000:100,5000:eof")),
                       [[0, 100], [2000, 100], [5000, UInt64.max]])
    }

    func testSpacesAroundItemsAndUpperCaseEof() throws {
        XCTAssertEqual(flatten(try RangeListParser.parse(" 0:10 , 20:EOF ")), [[0, 10], [20, UInt64.max]])
    }

    func testLargestValues() throws {
        XCTAssertEqual(flatten(try RangeListParser.parse("18446744073709551614:1")), [[UInt64.max - 1, 1]])
    }

    func testBadOffsetNamesTheItem() {
        XCTAssertEqual(thrownMessage { try RangeListParser.parse("0:100,x:100") },
                       #""x:100" is not a range; write offset:length or offset:eof."#)
        XCTAssertEqual(thrownMessage { try RangeListParser.parse("-1:100") },
                       #""-1:100" is not a range; write offset:length or offset:eof."#)
    }

    func testBadLengthNamesTheItemAndTheLength() {
        XCTAssertEqual(thrownMessage { try RangeListParser.parse("0:100,10:ten") },
                       #""10:ten" has a bad length "ten"; write a number or eof."#)
        XCTAssertEqual(thrownMessage { try RangeListParser.parse("10:") },
                       #""10:" has a bad length ""; write a number or eof."#)
    }

    func testMissingOrExtraColon() {
        XCTAssertEqual(thrownMessage { try RangeListParser.parse("0:100,2000") },
                       #""2000" is not a range; write offset:length or offset:eof."#)
        XCTAssertEqual(thrownMessage { try RangeListParser.parse("1:2:3") },
                       #""1:2:3" is not a range; write offset:length or offset:eof."#)
    }

    func testEmptyItems() {
        XCTAssertEqual(thrownMessage { try RangeListParser.parse("") },
                       #""" is not a range; write offset:length or offset:eof."#)
        XCTAssertEqual(thrownMessage { try RangeListParser.parse("0:1,,2:3") },
                       #""" is not a range; write offset:length or offset:eof."#)
    }
}
