import Foundation
import XCTest

/// The manager object, its properties, the bus policy and the polkit actions, seen by anyone.
final class ServiceBasicsTests: BitsTestCase {

    func testVersionAndLimitPropertiesReadableByAnyone() throws {
        let expected: [String: UInt64] = ["MaxJobsPerUser": 60, "MaxJobsPerMachine": 300,
                                          "MaxFilesPerJob": 200, "MaxRangesPerFile": 500]
        for user in [alice, bob, nil] as [TestUser?] {
            let who = user?.name ?? "root"
            let version = try property(as: user, BitsNames.managerPath, BitsNames.manager, "Version")
            XCTAssertFalse((version.string ?? "").isEmpty, "Version as \(who): \(version)")
            for (name, value) in expected {
                XCTAssertEqual(try property(as: user, BitsNames.managerPath, BitsNames.manager, name).uint64, value,
                               "\(name) as \(who)")
            }
            let all = try client(user).getAll(BitsNames.managerPath, BitsNames.manager)
            let dict = all.first?.object ?? [:]
            for key in ["Version"] + expected.keys.sorted() {
                XCTAssertNotNil(dict[key], "GetAll(Manager) as \(who) lacks \(key): \(all)")
            }
        }
        // A brand-new connection that never talked to the service can read them too.
        let fresh = try oneShotCall(as: bob, address: env.address, script: env.listenScript,
                                    path: BitsNames.managerPath, interface: BitsNames.properties, method: "Get",
                                    signature: "ss", args: [BitsNames.manager, "MaxJobsPerUser"])
        XCTAssertEqual(fresh.first?.uint64, 60, "\(fresh)")
    }

    func testOnlyRootOwnsTheServiceName() throws {
        let root = try client(nil)
        let uid = root.call(dest: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
                            method: "GetConnectionUnixUser", signature: "s", args: [BitsNames.service])
        XCTAssertEqual(uid.first?.uint64, 0, "owner of org.example.Bits: \(uid)")
        for user in [alice, bob] {
            let r = try client(user).call(dest: "org.freedesktop.DBus", path: "/org/freedesktop/DBus",
                                          interface: "org.freedesktop.DBus", method: "RequestName",
                                          signature: "su", args: [BitsNames.service, 0])
            XCTAssertEqual(r.errorName, BitsNames.accessDenied, "\(user) RequestName(org.example.Bits): \(r)")
        }
    }

    func testPolkitKnowsTheProjectActions() throws {
        XCTAssertTrue(env.polkit.actionsInstalled, "\(env.polkit.sourcePolicy) is missing")
        let r = try client(bob).call(dest: "org.freedesktop.PolicyKit1", path: "/org/freedesktop/PolicyKit1/Authority",
                                     interface: "org.freedesktop.PolicyKit1.Authority", method: "EnumerateActions",
                                     signature: "s", args: [""])
        let ids = Set((r.first?.array ?? []).compactMap { $0[0]?.string })
        XCTAssertTrue(ids.contains("org.example.bits.manage-all-jobs"), "polkit actions: \(r)")
        XCTAssertTrue(ids.contains("org.example.bits.exceed-limits"), "polkit actions: \(r)")
    }

    func testManagerIntrospectsAndAnswersUnknownMethods() throws {
        let r = try call(as: bob, BitsNames.managerPath, "org.freedesktop.DBus.Introspectable", "Introspect")
        let xml = r.first?.string ?? ""
        XCTAssertTrue(xml.contains("org.example.Bits.Manager"), "Introspect as bob: \(r)")
        XCTAssertTrue(xml.contains("org.freedesktop.DBus.ObjectManager"), "Introspect as bob: \(r)")
        XCTAssertTrue(xml.contains("CreateJob"), "Introspect as bob: \(r)")

        let bogus = try call(as: bob, BitsNames.managerPath, BitsNames.manager, "NoSuchMethod")
        XCTAssertEqual(bogus.errorName, BitsNames.unknownMethod, "\(bogus)")
        let badSig = try call(as: bob, BitsNames.managerPath, BitsNames.manager, "CreateJob", "s", ["only one"])
        XCTAssertNotNil(badSig.errorName, "CreateJob with a wrong signature must fail: \(badSig)")
        let ping = try call(as: bob, BitsNames.managerPath, "org.freedesktop.DBus.Peer", "Ping")
        XCTAssertFalse(ping.isError, "Peer.Ping: \(ping)")
        try assertDaemonAlive()
    }
}
