@testable import BitsService
import BitsCore
import BitsTransfer
import XCTest

/// `HashCheck`: a finished file's digests against its ExpectedHash and the server's digest
/// fields; the first mismatch refetches, the second fails; what was not computed or not
/// announced does not count.
final class HashCheckTests: XCTestCase {
    private let id = JobID.random()
    private func hash(_ algorithm: HashAlgorithm, _ byte: UInt8) -> FileHash {
        FileHash(algorithm: algorithm, digest: [UInt8](repeating: byte, count: algorithm == .sha256 ? 32 : 64))!
    }
    private func file(expected: FileHash? = nil, mismatches: UInt8? = nil) -> JobFile {
        var file = JobFile(remoteName: "https://example.invalid/f", localName: "/tmp/f", temporaryName: "/tmp/BITf.tmp")
        file.expectedHash = expected
        file.hashMismatches = mismatches
        return file
    }
    private func digests(_ sha256: UInt8, sha512: UInt8? = nil) -> ComputedDigests {
        ComputedDigests(sha256: hash(.sha256, sha256), sha512: sha512.map { hash(.sha512, $0) }, length: 10)
    }

    func testMatchingOrUncheckedFilesAreVerified() {
        XCTAssertEqual(HashCheck.judge(file(), index: 0, jobID: id, digests: digests(1), announced: []), .verified)
        XCTAssertEqual(HashCheck.judge(file(expected: hash(.sha256, 1)), index: 0, jobID: id, digests: digests(1),
                                       announced: [hash(.sha256, 1)]), .verified)
        // A sha-512 field when only SHA-256 was computed is not held against the file.
        XCTAssertEqual(HashCheck.judge(file(), index: 0, jobID: id, digests: digests(1), announced: [hash(.sha512, 9)]),
                       .verified)
    }

    func testTheFirstMismatchRefetchesAndTheSecondFails() {
        let expected = hash(.sha256, 2)
        guard case .refetch(let first) = HashCheck.judge(file(expected: expected), index: 3, jobID: id,
                                                          digests: digests(1), announced: []) else {
            return XCTFail("the first mismatch did not refetch")
        }
        XCTAssertTrue(first.contains("File 3 of job \(id)"), first)
        XCTAssertTrue(first.contains(expected.text) && first.contains(hash(.sha256, 1).text), first)
        guard case .fail(let second) = HashCheck.judge(file(expected: expected, mismatches: 1), index: 3, jobID: id,
                                                        digests: digests(1), announced: []) else {
            return XCTFail("the second mismatch did not fail")
        }
        XCTAssertTrue(second.contains("ExpectedHash"), second)
    }

    func testALyingDigestFieldOrNoDigestsAtAllIsAMismatch() {
        guard case .refetch(let lie) = HashCheck.judge(file(), index: 0, jobID: id, digests: digests(1),
                                                        announced: [hash(.sha256, 7)]) else {
            return XCTFail("a lying digest field was accepted")
        }
        XCTAssertTrue(lie.contains("digest field"), lie)
        guard case .refetch(let none) = HashCheck.judge(file(expected: hash(.sha512, 4)), index: 0, jobID: id,
                                                         digests: nil, announced: []) else {
            return XCTFail("a file without digests passed its ExpectedHash")
        }
        XCTAssertTrue(none.contains("computed none"), none)
    }
}
