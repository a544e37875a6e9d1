import BitsCore
@testable import BitsTransfer
import XCTest

/// Pure pieces of the HTTP options: range plans, credential choice, rate retargeting,
/// validators, password redaction.
final class RangePlanTests: XCTestCase {
    private func plan(_ list: [(UInt64, UInt64)], resume: UInt64 = 0) -> RangePlan {
        RangePlan(ranges: list.map { ByteRange(offset: $0.0, length: $0.1) }, resumeOffset: resume)
    }

    func testFreshPlanWalksTheRanges() {
        var p = plan([(10, 100), (0, 0), (500, 50)])
        XCTAssertEqual(p.segments.count, 2, "zero-length ranges are dropped")
        XCTAssertEqual(p.rangeSpec, "10-109")
        XCTAssertEqual(p.requestDestinationOffset, 0)
        XCTAssertEqual(p.totalLength, 150)
        p.advance()
        XCTAssertEqual(p.rangeSpec, "500-549")
        XCTAssertEqual(p.requestDestinationOffset, 100)
        XCTAssertEqual(p.requestLength, 50)
        p.advance()
        XCTAssertTrue(p.isComplete)
        XCTAssertEqual(p.requestDestinationOffset, 150)
    }

    func testResumeSkipsCompleteRangesAndStartsInsideOne() {
        let p = plan([(10, 100), (500, 50), (1000, 10)], resume: 120)
        XCTAssertEqual(p.index, 1)
        XCTAssertEqual(p.rangeSpec, "520-549")
        XCTAssertEqual(p.requestDestinationOffset, 120)
        XCTAssertEqual(p.requestLength, 30)
        XCTAssertEqual(plan([(10, 100), (500, 50)], resume: 100).rangeSpec, "500-549")
        XCTAssertTrue(plan([(10, 100), (500, 50)], resume: 150).isComplete)
        XCTAssertTrue(plan([(10, 100)], resume: 400).isComplete)
    }

    func testToEndRangesResolveFromTheFileSize() {
        var p = plan([(10, 100), (900, UInt64.max)], resume: 150)
        XCTAssertNil(p.totalLength)
        XCTAssertEqual(p.rangeSpec, "950-", "resuming inside a to-EOF range")
        XCTAssertNil(p.requestLength)
        XCTAssertNil(p.resolve(fileSize: 1000))
        XCTAssertEqual(p.totalLength, 200)
        XCTAssertEqual(p.rangeSpec, "950-", "still asked as to-EOF")
        XCTAssertEqual(p.requestEnd, 999)
        XCTAssertEqual(p.requestLength, 50)

        var unknown = plan([(0, UInt64.max)])
        XCTAssertNotNil(unknown.resolve(fileSize: nil))
        var explicit = plan([(0, 10)])
        XCTAssertNil(explicit.resolve(fileSize: nil))
        // Overflowing ends reach to the end of the file.
        XCTAssertEqual(plan([(5, UInt64.max - 2)]).rangeSpec, "5-")
    }

    func testRangesBeyondTheEnd() {
        var p = plan([(0, 10), (95, 10)])
        XCTAssertEqual(p.resolve(fileSize: 100)?.contains("beyond the end"), true)
        var q = plan([(100, UInt64.max)])
        XCTAssertEqual(q.resolve(fileSize: 100)?.contains("beyond the end"), true)
        var r = plan([(90, 10)])
        XCTAssertNil(r.resolve(fileSize: 100))
    }

    func testCredentialChoice() {
        let basic = Credential(target: .server, scheme: .basic, userName: "b", password: "pb")
        let digest = Credential(target: .server, scheme: .digest, userName: "d", password: "pd")
        let ntlm = Credential(target: .server, scheme: .ntlm, userName: "n", password: "pn")
        let proxy = Credential(target: .proxy, scheme: .basic, userName: "p", password: "pp")
        let choice = CredentialChoice.choose([basic, proxy, digest], for: .server)
        XCTAssertEqual(choice?.userName, "d")
        XCTAssertEqual(choice?.mask, CredentialChoice.bit(.basic) | CredentialChoice.bit(.digest))
        XCTAssertEqual(CredentialChoice.choose([basic, ntlm, digest], for: .server)?.userName, "n")
        XCTAssertEqual(CredentialChoice.choose([basic, proxy], for: .proxy),
                       CredentialChoice(mask: CredentialChoice.bit(.basic), userName: "p", password: "pp"))
        XCTAssertNil(CredentialChoice.choose([proxy], for: .server))
        XCTAssertEqual(Set(Credential.Scheme.allCases.map(CredentialChoice.bit)).count, 4)
    }

    func testRetargetedPacerHasNoBurst() {
        let second: UInt64 = 1_000_000_000
        var pacer = RatePacer(cap: 1_000_000)
        let t0: UInt64 = 10 * second
        XCTAssertNil(pacer.admit(100_000, now: t0))
        // Idle for a while: under the old cap that credit would be spent in one go.
        let t1 = t0 + 5 * second
        pacer.retarget(cap: 100_000, now: t1)
        XCTAssertEqual(pacer.cap, 100_000)
        let ready = pacer.admit(16_384, now: t1)
        XCTAssertNotNil(ready)
        XCTAssertEqual(Double(ready! - t1) / 1e9, 0.16384, accuracy: 0.001)
        // At the new cap from then on.
        XCTAssertNil(pacer.admit(16_384, now: ready!))
        XCTAssertNotNil(pacer.admit(16_384, now: ready! + second / 10))
        XCTAssertNil(pacer.admit(16_384, now: t1 + 2 * 16_384 * second / 100_000))

        // From unlimited: an empty bucket too.
        var fresh = RatePacer(cap: 50_000, emptyAt: t1)
        XCTAssertNotNil(fresh.admit(1024, now: t1))
    }

    func testValidatorMatching() {
        let date = "Wed, 01 Jan 2020 00:00:00 GMT"
        XCTAssertTrue(CurlEasyTransfer.validatorMatches("\"a\"", entityTag: "\"a\"", lastModified: nil))
        XCTAssertFalse(CurlEasyTransfer.validatorMatches("\"a\"", entityTag: "\"b\"", lastModified: date))
        XCTAssertFalse(CurlEasyTransfer.validatorMatches("W/\"a\"", entityTag: "W/\"a\"", lastModified: nil))
        XCTAssertTrue(CurlEasyTransfer.validatorMatches(date, entityTag: "\"x\"", lastModified: date))
        XCTAssertFalse(CurlEasyTransfer.validatorMatches(date, entityTag: nil, lastModified: nil))
    }

    func testPasswordRedaction() {
        XCTAssertEqual(redactingPassword("http://u:secret@h:1/p?q=a:b@c"), "http://u:***@h:1/p?q=a:b@c")
        XCTAssertEqual(redactingPassword("https://user@host/x"), "https://user@host/x")
        XCTAssertEqual(redactingPassword("http://127.0.0.1:80/a@b"), "http://127.0.0.1:80/a@b")
        XCTAssertEqual(redactingPassword("not a url"), "not a url")
    }
}
