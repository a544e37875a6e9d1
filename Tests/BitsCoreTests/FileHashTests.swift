import XCTest
@testable import BitsCore

/// ExpectedHash values and RFC 9530 digest fields: strict, bounded, never trapping.
final class FileHashTests: XCTestCase {
    let sha256Hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  // sha256("")

    func testParsesAndNormalizesExpectedHash() throws {
        XCTAssertNil(try FileHash.parseExpected(""))
        let lower = try XCTUnwrap(FileHash.parseExpected("sha256:" + sha256Hex))
        XCTAssertEqual(lower.algorithm, .sha256)
        XCTAssertEqual(lower.text, "sha256:" + sha256Hex)
        let upper = try XCTUnwrap(FileHash.parseExpected("sha256:" + sha256Hex.uppercased()))
        XCTAssertEqual(upper, lower)
        XCTAssertEqual(upper.text, "sha256:" + sha256Hex)
        let long = try XCTUnwrap(FileHash.parseExpected("sha512:" + String(repeating: "aB", count: 64)))
        XCTAssertEqual(long.algorithm, .sha512)
        XCTAssertEqual(long.text, "sha512:" + String(repeating: "ab", count: 64))
    }

    func testRefusesEverythingElseNamingTheValue() {
        let bad = [
            "sha256", "sha256:", "SHA256:" + sha256Hex, "sha-256:" + sha256Hex, "md5:d41d8cd98f00b204e9800998ecf8427e",
            "sha256:" + sha256Hex + "0", "sha256:" + sha256Hex.dropLast(), "sha256:" + sha256Hex.dropLast() + "g",
            " sha256:" + sha256Hex, "sha256:" + sha256Hex + " ", "sha512:" + sha256Hex, "sha256:" + String(repeating: "é", count: 32),
            "sha256:\u{0}" + sha256Hex.dropFirst(), String(repeating: "x", count: 100_000), ":", "sha256::" + sha256Hex,
        ]
        for value in bad {
            XCTAssertThrowsError(try FileHash.parseExpected(value), value) { error in
                guard let error = error as? ServiceError else { return XCTFail("\(error)") }
                XCTAssertEqual(error.name, .invalidArgs)
                XCTAssertTrue(error.message.contains("ExpectedHash '"), error.message)
            }
        }
    }

    func testDigestFieldsOfRFC9530() {
        let sha256OfHello = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="  // sha256("hello")
        let hashes = DigestFields.parse("sha-256=:\(sha256OfHello):")
        XCTAssertEqual(hashes.map(\.text), ["sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"])
        // Unknown algorithms and parameters are ignored; several members; whitespace.
        let mixed = DigestFields.parse("md5=:XUFAKrxLKna5cZ2REBfFkg==:, unixsum=:AAA=:;p=1 ,  sha-256=:\(sha256OfHello):;x=\"y\"")
        XCTAssertEqual(mixed.map(\.algorithm), [.sha256])
        XCTAssertEqual(DigestFields.parse("id-sha-256=:\(sha256OfHello):"), [])
        // Malformed: ignored as a whole.
        for malformed in ["sha-256=\(sha256OfHello)", "sha-256=:\(sha256OfHello)", "sha-256=:not base64:", "SHA-256=:\(sha256OfHello):",
                          "sha-256=:\(sha256OfHello):,", "sha-256=:AAAA:", "sha-256=:\(sha256OfHello):; ", "sha-256=:\(sha256OfHello): x",
                          "", "   ", ",", "sha-256=:\(sha256OfHello.dropLast(2)):", "=:\(sha256OfHello):"] {
            XCTAssertEqual(DigestFields.parse(malformed), [], malformed)
        }
        // Bounded: an oversized field is ignored.
        let huge = "sha-256=:\(sha256OfHello):, " + String(repeating: "a, ", count: 2000)
        XCTAssertEqual(DigestFields.parse(huge), [])
        // Repr-Digest first, then Content-Digest; one value per algorithm.
        let both = DigestFields.digests(reprDigest: "sha-256=:\(sha256OfHello):", contentDigest: "sha-256=:\(String(repeating: "A", count: 43))=:")
        XCTAssertEqual(both.count, 1)
        XCTAssertEqual(both.first?.text, hashes.first?.text)
        XCTAssertEqual(DigestFields.digests(reprDigest: nil, contentDigest: nil), [])
    }

    func testBase64IsStrict() {
        XCTAssertEqual(DigestFields.base64(Array("aGVsbG8=".utf8)[...]), Array("hello".utf8))
        XCTAssertEqual(DigestFields.base64(Array("aGVsbG8".utf8)[...]), Array("hello".utf8))  // padding is optional
        XCTAssertNil(DigestFields.base64(Array("aGVs=bG8".utf8)[...]))
        XCTAssertNil(DigestFields.base64(Array("aGVsbG8===".utf8)[...]))
        XCTAssertNil(DigestFields.base64(Array("aGV$".utf8)[...]))
    }

    func testRandomFieldsNeverTrap() {
        var rng = SplitMix64(seed: 9530)
        let alphabet = Array("sha-256=:;,\" ?01AZaz+/=*_.\t\u{7f}é".utf8)
        for _ in 0..<5000 {
            let length = Int(rng.next() % 80)
            let bytes = (0..<length).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            _ = DigestFields.parse(String(decoding: bytes, as: UTF8.self))
            _ = try? FileHash.parseExpected(String(decoding: bytes, as: UTF8.self))
        }
    }
}
