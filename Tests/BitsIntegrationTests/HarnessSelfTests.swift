import Foundation
import XCTest

/// Checks the harness itself — private system bus, polkitd, test users, fault server, clients and
/// listeners — without bitsd.
final class HarnessSelfTests: BitsTestCase {
    override class var needsDaemon: Bool { false }

    func testJSONValueKeepsTypesAndPrecision() throws {
        let v = try JSONValue.parse(#"[true, 1, 18446744073709551615, -3, 1.5, "s", {"k": [false]}, null]"#)
        XCTAssertEqual(v[0], .bool(true))
        XCTAssertEqual(v[1], .int(1))
        XCTAssertEqual(v[2]?.uint64, UInt64.max)
        XCTAssertEqual(v[3], .int(-3))
        XCTAssertEqual(v[4], .double(1.5))
        XCTAssertEqual(v[5]?.string, "s")
        XCTAssertEqual(v[6]?["k"]?[0], .bool(false))
        XCTAssertEqual(v[7], .null)
    }

    func testCommandsRunAsTestUsers() throws {
        for user in [alice, bob] {
            let r = try ProcessRunner.run(["/usr/bin/id", "-u"], as: user)
            XCTAssertTrue(r.succeeded, r.summary)
            XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), String(user.uid))
            XCTAssertEqual(TestFiles.owner(user.home)?.uid, user.uid, "\(user.home) owned by \(user)")
        }
        XCTAssertNotEqual(alice.uid, bob.uid)
        XCTAssertNotEqual(alice.uid, 0)
    }

    func testBusHasSystemSemanticsAndKnowsCallerUids() throws {
        for user in [alice, bob] {
            let c = try client(user)
            XCTAssertTrue(c.nameHasOwner("org.freedesktop.DBus"))
            // The bus reports the real uid of the connection.
            let uid = c.call(dest: "org.freedesktop.DBus", path: "/org/freedesktop/DBus",
                             interface: "org.freedesktop.DBus", method: "GetConnectionUnixUser",
                             signature: "s", args: [c.uniqueName])
            XCTAssertEqual(uid.first?.uint64, UInt64(user.uid), "\(uid)")
            // Default deny: an unprivileged user may not own names...
            let own = c.call(dest: "org.freedesktop.DBus", path: "/org/freedesktop/DBus",
                             interface: "org.freedesktop.DBus", method: "RequestName", signature: "su",
                             args: [BitsNames.service, 0])
            XCTAssertEqual(own.errorName, BitsNames.accessDenied, "\(user) RequestName: \(own)")
            // ...nor send method calls to a name without a policy hole (here: a peer's unique name).
            let root = try client(nil)
            let poke = c.call(dest: root.uniqueName, path: "/", interface: "org.example.Nothing", method: "Poke")
            XCTAssertEqual(poke.errorName, BitsNames.accessDenied, "\(user) calling root's connection: \(poke)")
        }
        // The address works for a fresh one-shot connection too.
        let r = try oneShotCall(as: bob, address: env.address, script: env.listenScript, dest: "org.freedesktop.DBus",
                                path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus", method: "GetId")
        XCTAssertEqual(r.first?.string?.count, 32, "\(r)")
    }

    func testPolkitdAnswersOnThePrivateBus() throws {
        let c = try client(bob)
        XCTAssertTrue(c.nameHasOwner("org.freedesktop.PolicyKit1"))
        // bob asks about himself: polkitd looks his connection up on this bus and denies an
        // auth_admin action (no agent, not in an active session).
        let r = c.call(dest: "org.freedesktop.PolicyKit1", path: "/org/freedesktop/PolicyKit1/Authority",
                       interface: "org.freedesktop.PolicyKit1.Authority", method: "CheckAuthorization",
                       signature: "(sa{sv})sa{ss}us",
                       args: [["system-bus-name", ["name": variant("s", c.uniqueName)]],
                              "org.freedesktop.policykit.exec", [String: String](), 0, ""])
        XCTAssertEqual(r.first?[0], .bool(false), "CheckAuthorization: \(r)")
        // The project's actions are known when the repo has them.
        let actions = c.call(dest: "org.freedesktop.PolicyKit1", path: "/org/freedesktop/PolicyKit1/Authority",
                             interface: "org.freedesktop.PolicyKit1.Authority", method: "EnumerateActions",
                             signature: "s", args: [""])
        let ids = (actions.first?.array ?? []).compactMap { $0[0]?.string }
        XCTAssertTrue(ids.contains("org.freedesktop.policykit.exec"), "EnumerateActions: \(actions)")
        if env.polkit.actionsInstalled {
            XCTAssertTrue(ids.contains("org.example.bits.manage-all-jobs"), "\(ids)")
        } else {
            print("note: \(env.polkit.sourcePolicy) does not exist yet; project actions not installed")
        }
    }

    func testFaultServerServesFilesRangesAndLog() throws {
        XCTAssertEqual(try http.request("GET", "/_control/health").status, 200)
        try http.reset()
        XCTAssertEqual(try http.request("GET", "/small.bin?tag=selftest").status, 200)
        XCTAssertEqual(try http.request("GET", "/missing.bin?tag=selftest").status, 404)
        let log = try http.requests(tag: "selftest")
        XCTAssertEqual(log.map { $0["status"]?.int }, [200, 404], "\(log)")
        XCTAssertEqual(env.files["small.bin"]?.sha256, try TestFiles.sha256("\(http.root)/small.bin"))
        XCTAssertEqual(TestFiles.size("\(http.root)/big.bin"), 1_572_864)
        // A closed port really refuses.
        let port = closedLoopbackPort()
        XCTAssertGreaterThan(port, 0)
    }

    func testListenersStartAndEavesdroppingIsRefused() throws {
        let normal = try env.makeListener(bob, callService: false)
        defer { normal.stop() }
        XCTAssertFalse(normal.uniqueName.isEmpty)
        let spy = try env.makeListener(bob, eavesdrop: true, callService: false)
        defer { spy.stop() }
        // The system-bus policy refuses eavesdrop match rules from an ordinary user.
        XCTAssertEqual(spy.readyInfo["eavesdrop_rules"]?.array?.count, 0, "\(spy.readyInfo)")
    }

    func testBitsdBinaryLocation() throws {
        let (path, searched) = BitsDaemon.locateBinary()
        print("bitsd binary: \(path ?? "not built yet") (searched \(searched))")
        print("environment: \(env.statusSummary)")
    }
}
