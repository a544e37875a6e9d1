@testable import bitsctl
import Foundation
import XCTest

/// bitsctl links no Foundation: its own formatting, paths and encodings give what the
/// Foundation calls they replaced gave (those calls are the reference here).
final class FoundationEquivalenceTests: XCTestCase {
    func testFixedMatchesPrintf() {
        let values: [Double] = [0, 0.004, 0.005, 0.015, 1, 1.5, 1.005, 1.25, 2.675, 9.995, 10, 99.95, 99.96, 150, 1023.9999,
                                16384, 0.1 + 0.2, 123_456.789, -1.5, -0.0001]
        for value in values {
            for digits in 0...2 {
                XCTAssertEqual(HumanFormat.fixed(value, fractionDigits: digits), String(format: "%.\(digits)f", value),
                               "\(value) with \(digits) digits")
            }
        }
        for value in [1e15, 9_007_199_254_740_993, 1e17] {  // integers: printf's digits, or no trap
            XCTAssertEqual(HumanFormat.fixed(value, fractionDigits: 1), String(format: "%.1f", value), "\(value)")
        }
        XCTAssertEqual(HumanFormat.fixed(1e19, fractionDigits: 2), "1e+19", "beyond 64 bits: no trap")
        XCTAssertEqual(HumanFormat.fixed(.infinity, fractionDigits: 2), "inf")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let value = Double.random(in: 0..<100_000, using: &generator)
            XCTAssertEqual(HumanFormat.fixed(value, fractionDigits: 2), String(format: "%.2f", value), "\(value)")
            XCTAssertEqual(HumanFormat.fixed(value, fractionDigits: 1), String(format: "%.1f", value), "\(value)")
        }
    }

    func testPaddedMatchesPrintf() {
        for number in [0, 5, 9, 10, 59, 99, 100, 12345, -3] {
            XCTAssertEqual(HumanFormat.padded(number, 2), String(format: "%02d", number))
            XCTAssertEqual(HumanFormat.padded(number, 4), String(format: "%04d", number))
        }
    }

    func testTimeMatchesISO8601DateFormatterInTheLocalZone() {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = .current
        for microseconds: UInt64 in [1, 999_999, 1_000_000, 1_700_000_000_123_456, 1_719_792_000_000_000, 4_102_444_799_999_999] {
            XCTAssertEqual(HumanFormat.time(microseconds),
                           formatter.string(from: Date(timeIntervalSince1970: Double(microseconds / 1_000_000))), "\(microseconds)")
        }
    }

    func testZone() {
        XCTAssertEqual(HumanFormat.zone(0), "Z")
        XCTAssertEqual(HumanFormat.zone(3600), "+01:00")
        XCTAssertEqual(HumanFormat.zone(-12_600), "-03:30")
        XCTAssertEqual(HumanFormat.zone(20_700), "+05:45")
    }

    func testBase64MatchesData() {
        var generator = SystemRandomNumberGenerator()
        for count in 0..<70 {
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            XCTAssertEqual(Base64.encode(bytes), Data(bytes).base64EncodedString(), "\(bytes)")
        }
    }

    func testFileNameOfURLMatchesURL() {
        for url in ["https://example.org/x/a.iso", "https://example.org/b.tar.gz?sig=1#frag", "https://example.org/my%20file.txt",
                    "https://example.org/dir/", "http://user:pw@h:8080/p/q.bin", "https://h/a%C3%A9.txt", "ftp://h/f#x/y"] {
            XCTAssertEqual(LocalPaths.fileName(ofURL: url), URL(string: url)?.lastPathComponent, url)
        }
        XCTAssertNil(LocalPaths.fileName(ofURL: "https://example.org/"))
        XCTAssertNil(LocalPaths.fileName(ofURL: "https://example.org"))
        XCTAssertNil(LocalPaths.fileName(ofURL: "https://example.org/bad%zz"), "a malformed escape")
        XCTAssertNil(LocalPaths.fileName(ofURL: "https://example.org/nul%00"), "a NUL")
    }

    func testAbsoluteMatchesStandardizedURL() throws {
        let cwd = FileManager.default.currentDirectoryPath
        for path in ["plain", "sub/../x/./a.bin", "a//b", "./a/", "../up", "a/b/../../c", "a//", "a/./", "a/..", "..", ".", "a//../b",
                     String(repeating: "../", count: 30) + "top"] {
            XCTAssertEqual(LocalPaths.absolute(path),
                           URL(fileURLWithPath: cwd).appendingPathComponent(path).standardized.path, path)
        }
        XCTAssertEqual(LocalPaths.absolute("/kept/../as/is"), "/kept/../as/is")
    }

    func testJoinMatchesNSString() {
        for (directory, name) in [("/out", "a"), ("/out/", "a"), ("/out//", "a"), ("/", "a"), ("rel", "b c")] {
            XCTAssertEqual(LocalPaths.join(directory, name), (directory as NSString).appendingPathComponent(name), directory)
        }
    }
}
