import XCTest
@testable import BitsStore
