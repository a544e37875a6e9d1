import BitsCore
import Foundation
import XCTest

/// The trimming helpers trim what Foundation's character sets did.
final class BlanksTests: XCTestCase {
    func testTrimmingMatchesCharacterSets() {
        for text in ["", " ", " a ", "\ta b\t", "\u{00A0}x\u{2003}", "\nline\n", " \n mixed \n ", "\r\n", "a\u{2028}"] {
            XCTAssertEqual(text.trimmingBlanks(), text.trimmingCharacters(in: .whitespaces), text.debugDescription)
            XCTAssertEqual(text.trimmingWhitespaceAndNewlines(), text.trimmingCharacters(in: .whitespacesAndNewlines),
                           text.debugDescription)
            XCTAssertEqual(text[...].trimmingBlanks(), text.trimmingBlanks(), "a Substring as its String")
        }
    }
}
