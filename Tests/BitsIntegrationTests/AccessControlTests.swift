import Foundation
import XCTest

/// Ownership, visibility and limits between users.
final class AccessControlTests: BitsTestCase {
    /// What a non-administrator gets for another user's job.
    static let denied = [BitsNames.notFound, BitsNames.accessDenied]

    func testAnotherUserCannotSeeOrTouchAJob() throws {
        let dir = try downloadDirectory(alice)
        let bobDir = try downloadDirectory(bob)
        let url = http.url("/small.bin")
        let job = try createJob(as: alice, name: "alice-secret")
        let file = try addFile(as: alice, job: job, url: url, local: "\(dir)/secret.bin")
        let id = guid(of: job)

        // Every Job method.
        let calls: [(String, String, [Any])] = [
            ("AddFile", "ss", [url, "\(bobDir)/stolen.bin"]),
            ("AddFiles", "a(ss)", [[[url, "\(bobDir)/stolen2.bin"]]]),
            ("Resume", "", []), ("Suspend", "", []), ("Complete", "", []), ("Cancel", "", []),
            ("TakeOwnership", "", []),
        ]
        for (method, sig, args) in calls {
            assertError(try call(as: bob, job, BitsNames.job, method, sig, args), Self.denied, "bob \(method)")
        }
        // Property reads and writes, on the job and on its file.
        for name in ["State", "DisplayName", "Owner", "Files", "BytesTotal"] {
            assertError(try getProperty(as: bob, job, BitsNames.job, name), Self.denied, "bob Get \(name)")
        }
        assertError(try client(bob).getAll(job, BitsNames.job), Self.denied, "bob GetAll(Job)")
        assertError(try setProperty(as: bob, job, "DisplayName", type: "s", value: "pwned"), Self.denied, "bob Set DisplayName")
        assertError(try setProperty(as: bob, job, "Priority", type: "s", value: "foreground"), Self.denied, "bob Set Priority")
        for name in ["RemoteName", "LocalName", "TemporaryName"] {
            assertError(try getProperty(as: bob, file, BitsNames.file, name), Self.denied, "bob Get File.\(name)")
        }
        assertError(try client(bob).getAll(file, BitsNames.file), Self.denied, "bob GetAll(File)")
        assertError(try setProperty(as: bob, file, BitsNames.file, "RemoteName", type: "s", value: url),
                    Self.denied, "bob Set File.RemoteName")

        // Introspection must not tell alice's job from a job that does not exist.
        let fake = "/org/example/Bits/jobs/\(String(repeating: "0", count: 31))1"
        let introReal = try call(as: bob, job, "org.freedesktop.DBus.Introspectable", "Introspect")
        let introFake = try call(as: bob, fake, "org.freedesktop.DBus.Introspectable", "Introspect")
        if let real = introReal.first?.string {
            XCTAssertFalse(real.contains(BitsNames.job), "bob's Introspect of alice's job reveals it: \(real)")
            XCTAssertEqual(real, introFake.first?.string?.replacingOccurrences(of: fake, with: job),
                           "Introspect differs between alice's job and a nonexistent one")
        } else {
            XCTAssertEqual(introReal.errorName, introFake.errorName, "Introspect errors differ: \(introReal) vs \(introFake)")
        }

        // Lookup and enumeration.
        assertError(try call(as: bob, BitsNames.managerPath, BitsNames.manager, "GetJob", "s", [id]),
                    [BitsNames.notFound], "bob GetJob(\(id))")
        assertError(try call(as: bob, BitsNames.managerPath, BitsNames.manager, "GetJob", "s", ["{\(id.uppercased())}"]),
                    [BitsNames.notFound], "bob GetJob({ID})")
        XCTAssertEqual(try mustCall(as: alice, BitsNames.managerPath, BitsNames.manager, "GetJob", "s", [id]).first?.string,
                       job, "alice finds her own job")
        XCTAssertEqual(try mustCall(as: alice, BitsNames.managerPath, BitsNames.manager, "GetJob", "s",
                                    ["{\(id.uppercased())}"]).first?.string, job, "braces and upper case are accepted")
        XCTAssertEqual(try mustCall(as: nil, BitsNames.managerPath, BitsNames.manager, "GetJob", "s", [id]).first?.string,
                       job, "root (administrator) finds alice's job")

        let bobList = try listJobs(as: bob)
        XCTAssertNotNil(bobList.values, "bob ListJobs(false): \(bobList)")
        XCTAssertFalse((bobList.first?.stringArray ?? []).contains(job), "bob ListJobs(false) lists alice's job")
        XCTAssertTrue((try listJobs(as: alice).first?.stringArray ?? []).contains(job), "alice ListJobs(false)")

        let bobObjects = try mustCall(as: bob, BitsNames.managerPath, BitsNames.objectManager, "GetManagedObjects")
        let bobKeys = Array((bobObjects.first?.object ?? [:]).keys)
        XCTAssertFalse(bobKeys.contains { $0.contains(hex(of: job)) }, "bob's GetManagedObjects shows alice's job: \(bobKeys)")
        let aliceObjects = try mustCall(as: alice, BitsNames.managerPath, BitsNames.objectManager, "GetManagedObjects")
        let aliceDict = aliceObjects.first?.object ?? [:]
        XCTAssertNotNil(aliceDict[job]?[BitsNames.job], "alice's GetManagedObjects lacks her job: \(aliceDict.keys.sorted())")
        XCTAssertNotNil(aliceDict[file]?[BitsNames.file], "alice's GetManagedObjects lacks her file")

        assertError(try listJobs(as: bob, allUsers: true),
                    [BitsNames.accessDenied, "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"],
                    "bob ListJobs(true)")
        XCTAssertTrue((try listJobs(as: nil, allUsers: true).first?.stringArray ?? []).contains(job),
                      "root ListJobs(true) must list alice's job")

        // Nothing bob did had any effect.
        XCTAssertEqual(try jobState(as: alice, job), "suspended")
        XCTAssertEqual(try property(as: alice, job, "DisplayName").string, "alice-secret")
        XCTAssertEqual(try property(as: alice, job, "Priority").string, "normal")
        XCTAssertEqual(try property(as: alice, job, "Owner").uint64, UInt64(alice.uid))
        XCTAssertEqual(try property(as: alice, job, "FilesTotal").uint64, 1)
        XCTAssertEqual(TestFiles.listing(bobDir), [])
        try assertDaemonAlive()
    }

    func testPerUserJobLimitAndRootExemption() throws {
        XCTAssertEqual(try property(as: alice, BitsNames.managerPath, BitsNames.manager, "MaxJobsPerUser").uint64, 60)
        let existing = try listJobs(as: alice).first?.stringArray?.count ?? 0
        var created: [String] = []
        var refusal: DBusResult?
        for i in 0..<70 {
            let r = try call(as: alice, BitsNames.managerPath, BitsNames.manager, "CreateJob", "ss", ["limit \(i)", "download"])
            if let path = r.first?.string {
                trackJob(path)
                created.append(path)
            } else {
                refusal = r
                break
            }
        }
        XCTAssertEqual(existing + created.count, 60, "alice should get exactly 60 live jobs")
        assertError(try XCTUnwrap(refusal, "the 61st job was accepted"), [BitsNames.tooManyJobsPerUser],
                    "61st CreateJob")
        XCTAssertEqual((try listJobs(as: alice).first?.stringArray ?? []).count, 60)

        // Cancelled jobs no longer count.
        for job in created { try cancel(as: alice, job: job) }
        _ = try createJob(as: alice, name: "after cancel")

        // uid 0 is an administrator: exempt from the per-user limit.
        var rootJobs: [String] = []
        for i in 0..<61 {
            let r = try call(as: nil, BitsNames.managerPath, BitsNames.manager, "CreateJob", "ss", ["root \(i)", "download"])
            guard let path = r.first?.string else {
                XCTFail("root's CreateJob #\(i + 1) failed: \(r)")
                break
            }
            trackJob(path)
            rootJobs.append(path)
        }
        XCTAssertEqual(rootJobs.count, 61)
        for job in rootJobs { try cancel(as: nil, job: job) }
    }
}
