import BitsClient
@testable import bitsctl
import XCTest

final class JobReferenceTests: XCTestCase {
    let dashed = "01234567-89ab-cdef-0123-456789abcdef"

    func testObjectPaths() {
        XCTAssertEqual(JobReference.classify("/org/example/Bits/jobs/0123456789abcdef0123456789abcdef"),
                       .path("/org/example/Bits/jobs/0123456789abcdef0123456789abcdef"))
        // Any leading slash is a path; resolve() checks it is a job's.
        XCTAssertEqual(JobReference.classify("/tmp/x"), .path("/tmp/x"))
    }

    func testGUIDsKeepTheirSpelling() {
        XCTAssertEqual(JobReference.classify(dashed), .guid(dashed))
        XCTAssertEqual(JobReference.classify("{\(dashed)}"), .guid("{\(dashed)}"))
        XCTAssertEqual(JobReference.classify(dashed.uppercased()), .guid(dashed.uppercased()))
        XCTAssertEqual(JobReference.classify("{\(dashed.uppercased())}"), .guid("{\(dashed.uppercased())}"))
        XCTAssertEqual(JobReference.classify("0123456789abcdef0123456789ABCDEF"), .guid("0123456789abcdef0123456789ABCDEF"))
        XCTAssertEqual(JobReference.classify("{0123456789abcdef0123456789abcdef}"), .guid("{0123456789abcdef0123456789abcdef}"))
    }

    func testAlmostGUIDsAreDisplayNames() {
        let almost = [
            "0123456789abcdef0123456789abcde",       // 31 digits
            "0123456789abcdef0123456789abcdef0",     // 33 digits
            "0123456789abcdef0123456789abcdeg",      // not hex
            "01234567-89ab-cdef-0123-456789abcdeg",  // not hex, dashed
            "0123-456789ab-cdef-0123-456789abcdef",  // dashes in the wrong places
            "0123456789ab-cdef-0123-456789abcdef",   // a group missing
            "01234567--89ab-cdef-0123-456789abcdef", // doubled dash
            "-01234567-89ab-cdef-0123-456789abcdef", // leading dash
            "01234567-89ab-cdef-0123-456789abcdef-", // trailing dash
            "{01234567-89ab-cdef-0123-456789abcdef", // unbalanced brace
            "01234567-89ab-cdef-0123-456789abcdef}",
            "{{01234567-89ab-cdef-0123-456789abcdef}}",
            " 01234567-89ab-cdef-0123-456789abcdef", // a space
            "０１２３４５６７８９ａｂｃｄｅｆ０１２３４５６７８９ａｂｃｄｅｆ", // full-width digits
            "my iso", "nightly backup", "{}", "",
        ]
        for text in almost {
            XCTAssertEqual(JobReference.classify(text), .displayName(text), "\(text.debugDescription)")
        }
    }

    func testResolveRejectsPathsThatAreNotJobs() async {
        for path in ["/org/example/Bits", "/org/example/Bits/jobs/0123/files/0", "/tmp/x"] {
            do {
                _ = try await JobReference.resolve(path, client: detachedClient())
                XCTFail("\(path) resolved")
            } catch let failure as CommandFailure {
                XCTAssertEqual(failure.message, "\"\(path)\" is not a job object path (/org/example/Bits/jobs/<hex>).")
                XCTAssertEqual(failure.status, ExitStatus.notFound)
            } catch {
                XCTFail("\(error)")
            }
        }
    }

    func testResolveTakesAJobPathWithoutACall() async throws {
        let path = "/org/example/Bits/jobs/0123456789abcdef0123456789abcdef"
        let job = try await JobReference.resolve(path, client: detachedClient())
        XCTAssertEqual(job.path, path)
        XCTAssertEqual(job.id, dashed)
    }
}
