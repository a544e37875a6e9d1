import Foundation
import XCTest

/// Network loss and metered networks (through the daemon's network-state file), and the
/// notify command line run as the owner.
final class NetworkAndNotifyTests: BitsTestCase {

    func testNetworkLossPutsJobsInTransientErrorAndReconnectResumes() throws {
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "offline")
        _ = try addFile(as: alice, job: job, url: http.url("/big.bin", [("rate", "300000")]), local: "\(dir)/n.bin")
        try resume(as: alice, job: job)
        try waitForProperty(as: alice, job, "BytesTransferred") { ($0.uint64 ?? 0) > 0 && $0.uint64 != UInt64.max }
        try daemon.setNetwork(available: false, metered: false)
        try waitForState(as: alice, job: job, ["transient-error"], timeout: 10)
        XCTAssertEqual(try property(as: alice, job, "ErrorCode").string, "network-disconnected")
        // A job resumed while offline waits too.
        try daemon.setNetwork(available: true, metered: false)
        try waitForState(as: alice, job: job, ["transferred"], timeout: 30)
        try complete(as: alice, job: job)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/n.bin"), env.files["big.bin"]?.sha256)
    }

    func testUnmeteredPolicyWaitsOnMeteredNetwork() throws {
        let dir = try downloadDirectory(alice)
        try daemon.setNetwork(available: true, metered: true)
        addCleanup { try? self.daemon.setNetwork(available: true, metered: false) }
        let job = try createJob(as: alice, name: "metered")
        _ = try addFile(as: alice, job: job, url: http.url("/small.bin"), local: "\(dir)/m.bin")
        try mustSetProperty(as: alice, job, "TransferPolicy", type: "s", value: "unmetered")
        usleep(300_000)
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["transient-error"], timeout: 10, failOn: ["transferred"])
        XCTAssertEqual(try property(as: alice, job, "ErrorCode").string, "blocked-by-cost")
        let always = try createJob(as: alice, name: "always")
        _ = try addFile(as: alice, job: always, url: http.url("/small.bin"), local: "\(dir)/a.bin")
        try resume(as: alice, job: always)
        try waitForState(as: alice, job: always, ["transferred"], timeout: 10)
        try daemon.setNetwork(available: true, metered: false)
        try waitForState(as: alice, job: job, ["transferred"], timeout: 10)
    }

    /// The notify command runs as alice (not root), with a clean environment.
    func testNotifyCommandRunsAsTheOwner() throws {
        let dir = try downloadDirectory(alice)
        let out = "\(dir)/notify.out"
        let job = try createJob(as: alice, name: "notify")
        _ = try addFile(as: alice, job: job, url: http.url("/small.bin"), local: "\(dir)/x.bin")
        try mustSetProperty(as: alice, job, "NotifyCommandLine", type: "as",
                            value: ["/bin/sh", "-c", "echo \"$(id -u) $(id -g) $BITS_JOB_STATE ${SECRET_ENV:-clean}\" > \(out)"])
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["transferred"], timeout: 10)
        XCTAssertTrue(waitUntil(timeout: 5) { TestFiles.exists(out) }, "the notify command did not run")
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        XCTAssertEqual(text.trimmingCharacters(in: .whitespacesAndNewlines), "\(alice.uid) \(alice.gid) transferred clean")
        XCTAssertEqual(TestFiles.owner(out)?.uid, alice.uid, "the command must run as alice")
        assertError(try setProperty(as: alice, job, "NotifyCommandLine", type: "as", value: ["sh", "-c", "true"]),
                    ["org.freedesktop.DBus.Error.InvalidArgs"], mentioning: ["sh"])
    }

    func testNotifyProgramTheOwnerCannotRunIsAnError() throws {
        let dir = try downloadDirectory(alice)
        let job = try createJob(as: alice, name: "notify denied")
        _ = try addFile(as: alice, job: job, url: http.url("/small.bin"), local: "\(dir)/y.bin")
        // /root is 0700: alice cannot execute anything in it.
        try "#!/bin/sh\ntouch /tmp/bitsd-should-not-exist\n".write(toFile: "/root/bitsd-notify-test.sh", atomically: true, encoding: .utf8)
        chmod("/root/bitsd-notify-test.sh", 0o755)
        addCleanup { unlink("/root/bitsd-notify-test.sh") }
        try mustSetProperty(as: alice, job, "NotifyCommandLine", type: "as", value: ["/root/bitsd-notify-test.sh"])
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["transferred"], timeout: 10)
        try waitForProperty(as: alice, job, "ErrorContext") { $0.string == "queue-manager-notification" }
        XCTAssertEqual(try property(as: alice, job, "ErrorCode").string, "notify-failed")
        XCTAssertFalse(TestFiles.exists("/tmp/bitsd-should-not-exist"))
    }
}
