import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// One caller never waits for another (issue 16): calls are served concurrently across
/// connections, in order per connection.
final class ConcurrentCallTests: BitsTestCase {

    /// bob's polkit check takes 6 s (a slow rule, like an authentication prompt left open);
    /// meanwhile alice's CreateJob is answered at once.
    func testASlowPolkitCheckDelaysOnlyItsOwnCaller() throws {
        let removeRules = try TestPolkit.installExtraRules(name: "10-bitsd-itest-slow-bob", """
            polkit.addRule(function(action, subject) {
                if (action.id == "org.example.bits.manage-all-jobs" && subject.user == "bitstest-bob") {
                    polkit.spawn(["/bin/sleep", "6"]);
                    return polkit.Result.NO;
                }
            });
            """)
        defer { removeRules() }
        _ = try client(alice)  // connected before, so only the calls are timed
        let bobsCall = try env.makeClient(bob, tag: "slow")
        defer { bobsCall.close() }
        final class Outcome: @unchecked Sendable { var result: DBusResult?; var seconds = 0.0 }
        let bob = Outcome()
        let bobDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let start = Date()
            bob.result = bobsCall.call(path: BitsNames.managerPath, interface: BitsNames.manager, method: "ListJobs",
                                       signature: "b", args: [true], timeout: 30, interactive: true)
            bob.seconds = Date().timeIntervalSince(start)
            bobDone.signal()
        }
        usleep(500_000)  // bob's check is under way
        var latencies: [Double] = []
        for i in 0..<5 {
            let start = Date()
            let job = try createJob(as: alice, name: "while bob waits \(i)")
            latencies.append(Date().timeIntervalSince(start))
            XCTAssertFalse(job.isEmpty)
        }
        XCTAssertEqual(bobDone.wait(timeout: .now() + 30), .success)
        let bobsSeconds = bob.seconds, bobsResult = bob.result
        print(String(format: "alice CreateJob during bob's 6 s polkit check: max %.3f s, median %.3f s; bob's ListJobs took %.2f s",
                     latencies.max() ?? 0, latencies.sorted()[latencies.count / 2], bobsSeconds))
        XCTAssertLessThan(latencies.max() ?? 99, 0.5, "alice waited for bob's authorization: \(latencies)")
        XCTAssertGreaterThan(bobsSeconds, 5, "bob's check was not slow (the rule did not apply): \(String(describing: bobsResult))")
        assertError(bobsResult ?? .error(name: "none", message: ""), [BitsNames.accessDenied], "bob's ListJobs(true)")
    }

    /// One connection's calls keep their order: AddFile, Resume and a State read, sent
    /// back to back without waiting for replies, are served in that order (Resume before
    /// AddFile would answer Empty).
    func testCallsOfOneConnectionKeepTheirOrder() throws {
        let dir = try downloadDirectory(alice)
        let script = """
            import sys
            from gi.repository import Gio, GLib
            address, job, url, local = sys.argv[1:5]
            flags = Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION
            conn = Gio.DBusConnection.new_for_address_sync(address, flags, None, None)
            loop = GLib.MainLoop()
            replies = []
            def answered(c, result, name):
                try:
                    c.call_finish(result)
                    replies.append(name + ":ok")
                except GLib.Error as e:
                    replies.append(name + ":" + Gio.DBusError.get_remote_error(e))
                if len(replies) == 3:
                    loop.quit()
            calls = [("AddFile", "org.example.Bits.Job", GLib.Variant("(ss)", (url, local))),
                     ("Resume", "org.example.Bits.Job", None),
                     ("Suspend", "org.example.Bits.Job", None)]
            for name, iface, args in calls:
                conn.call("org.example.Bits", job, iface, name, args, None, Gio.DBusCallFlags.NONE, 20000, None,
                          answered, name)
            GLib.timeout_add_seconds(20, loop.quit)
            loop.run()
            print(" ".join(replies))
            """
        for i in 0..<5 {
            let job = try createJob(as: alice, name: "ordered \(i)")
            let r = try ProcessRunner.run(["/usr/bin/python3", "-c", script, env.address, job,
                                           http.url("/small.bin", [("rate", "20000")]), "\(dir)/o\(i).bin"], as: alice, timeout: 30)
            XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "AddFile:ok Resume:ok Suspend:ok",
                           "round \(i): \(r.summary)")
            XCTAssertEqual(try jobState(as: alice, job), "suspended")
        }
    }
}
