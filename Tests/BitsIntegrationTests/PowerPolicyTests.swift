import Foundation
import XCTest

/// `TransferPolicy` "not-on-battery" against a stand-in UPower on the test bus: the daemon
/// follows UPower's name owner and its `OnBattery` changes, and ignores forged signals.
final class PowerPolicyTests: BitsTestCase {

    func testNotOnBatteryJobsWaitOnBatteryAndCarryOnOnMainsPower() throws {
        let dir = try downloadDirectory(alice)
        // The daemon started without UPower; it learns of the stand-in from NameOwnerChanged.
        let upower = try StandInUPower(env: env)
        addCleanup { upower.quit() }
        try upower.set(onBattery: true)

        let job = try createJob(as: alice, name: "mains only")
        _ = try addFile(as: alice, job: job, url: http.url("/big.bin", [("rate", "300000")]), local: "\(dir)/p.bin")
        try mustSetProperty(as: alice, job, "TransferPolicy", type: "s", value: "not-on-battery")
        XCTAssertEqual(try property(as: alice, job, "TransferPolicy").string, "not-on-battery")
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, ["transient-error"], timeout: 10, failOn: ["transferred"])
        try waitForProperty(as: alice, job, "ErrorCode") { $0.string == "blocked-by-battery" }

        // A job with the default policy runs on battery.
        let always = try createJob(as: alice, name: "any power")
        _ = try addFile(as: alice, job: always, url: http.url("/small.bin"), local: "\(dir)/a.bin")
        try resume(as: alice, job: always)
        try waitForState(as: alice, job: always, ["transferred"], timeout: 10)

        // Anyone can emit a signal with UPower's path; only the name's owner counts.
        try StandInUPower.spoof(onBattery: false, as: bob, env: env)
        usleep(1_500_000)
        XCTAssertEqual(try jobState(as: alice, job), "transient-error", "a forged PropertiesChanged ended the wait")

        // Mains power: the job transfers; battery again: it stops and waits once more.
        try upower.set(onBattery: false)
        try waitForProperty(as: alice, job, "BytesTransferred") { ($0.uint64 ?? 0) > 0 && $0.uint64 != UInt64.max }
        try upower.set(onBattery: true)
        try waitForState(as: alice, job: job, ["transient-error"], timeout: 10, failOn: ["transferred"])
        XCTAssertEqual(try property(as: alice, job, "ErrorCode").string, "blocked-by-battery")

        // UPower goes away: a machine without battery data counts as on mains power.
        upower.quit()
        try waitForState(as: alice, job: job, ["transferred"], timeout: 30)
        try complete(as: alice, job: job)
        XCTAssertEqual(try TestFiles.sha256("\(dir)/p.bin"), env.files["big.bin"]?.sha256)
    }

    func testUnknownTransferPolicyIsRefusedNamingTheValue() throws {
        let job = try createJob(as: alice, name: "bad policy")
        assertError(try setProperty(as: alice, job, "TransferPolicy", type: "s", value: "on-battery"),
                    ["org.freedesktop.DBus.Error.InvalidArgs"], mentioning: ["on-battery"])
    }
}
