import BitsCore
import BitsService
import Foundation
import XCTest

/// The user-database lookup of an owner's identity (NSS: LDAP or sssd may hang) runs on the
/// file workers, never on the queue manager's executor: a hung lookup holds up the calls that
/// need that owner's identity, not the manager and not other owners' jobs.
final class IdentityLookupTests: XCTestCase {
    static let bob = Caller(uid: 2000, isAdministrator: false)
    var bob: Caller { Self.bob }

    /// Makes the lookup of `uid` hang until the returned semaphore is signalled.
    func hangLookups(of uid: UInt32, _ rig: Rig) -> DispatchSemaphore {
        let gate = DispatchSemaphore(value: 0)
        rig.files.identityHook.with { hook in
            hook = { looked in
                guard looked == uid else { return }
                gate.wait()
                gate.signal()  // every later lookup of `uid` goes through too
            }
        }
        return gate
    }

    func lookups(of uid: UInt32, _ rig: Rig) -> Int { rig.files.identityLookups.current.filter { $0 == uid }.count }

    func testAHungLookupLeavesTheManagerAndOtherOwnersFree() async throws {
        let rig = await Rig.make()
        let gate = hangLookups(of: bob.uid, rig)
        let bobsJob = try await rig.manager.createJob(caller: bob, displayName: "bob", type: "download")
        let bobAdds = Task {
            try await rig.manager.addFiles(bobsJob.id, caller: IdentityLookupTests.bob,
                                           files: [(remote: "https://example.invalid/b", local: "\(rig.directory)/b.bin")])
        }
        await rig.waitUntil("bob's lookup") { self.lookups(of: 2000, rig) == 1 }

        // Meanwhile alice's job is created, gets its files (her own lookup, on another
        // worker), runs and finishes; bob's job can still be read and listed.
        let (id, request) = try await rig.runningJob()
        rig.engine.respond(request.id, size: 10)
        rig.engine.end(request.id, .finished(bytesOnDisk: 10))
        await rig.waitForState(id, .transferred)
        let listed = try await rig.manager.listJobs(caller: bob, allUsers: false)
        XCTAssertEqual(listed.map(\.id), [bobsJob.id])
        let stillEmpty = await rig.job(bobsJob.id)?.files.count
        XCTAssertEqual(stillEmpty, 0)

        gate.signal()
        let added = try await bobAdds.value
        XCTAssertEqual(added, 0..<1)
        XCTAssertEqual(lookups(of: 2000, rig), 1)
    }

    /// Concurrent misses for the same uid wait for one lookup (a failing one here: failures
    /// are not cached, so a second lookup would show).
    func testConcurrentMissesShareOneLookup() async throws {
        let rig = await Rig.make()
        rig.files.unknownUsers.with { $0 = [bob.uid] }
        let gate = hangLookups(of: bob.uid, rig)
        // Two jobs: calls on one job take turns (ClientWrites), calls on two do not.
        let job = try await rig.manager.createJob(caller: bob, displayName: "bob", type: "download")
        let other = try await rig.manager.createJob(caller: bob, displayName: "bob 2", type: "download")
        let entries = [(remote: "https://example.invalid/b", local: "\(rig.directory)/b.bin")]
        let first = Task { [entries] in try await rig.manager.addFiles(job.id, caller: IdentityLookupTests.bob, files: entries) }
        await rig.waitUntil("bob's lookup") { self.lookups(of: 2000, rig) == 1 }
        let second = Task { [entries] in try await rig.manager.addFiles(other.id, caller: IdentityLookupTests.bob, files: entries) }
        // Other calls go on (and give the second call time to reach the lookup).
        for _ in 0..<20 { _ = try await rig.manager.listJobs(caller: bob, allUsers: false) }
        _ = try await rig.downloadJob()

        gate.signal()
        for call in [first, second] {
            do {
                _ = try await call.value
                XCTFail("an unknown user's files were added")
            } catch let error as ServiceError {
                XCTAssertEqual(error.name, .accessDenied)
            }
        }
        XCTAssertEqual(lookups(of: 2000, rig), 1)
    }

    /// A job whose owner's lookup hangs when its transfer starts waits alone: another owner's
    /// job is scheduled and runs.
    func testAHungLookupAtTheStartOfATransferHoldsUpOnlyThatJob() async throws {
        let rig = await Rig.make()
        let bobsJob = try await rig.manager.createJob(caller: bob, displayName: "bob", type: "download")
        try await rig.manager.set(.priority("foreground"), on: bobsJob.id, caller: bob)
        _ = try await rig.manager.addFiles(bobsJob.id, caller: bob,
                                           files: [(remote: "https://example.invalid/bob", local: "\(rig.directory)/bob.bin")])
        // The cached identity expires; the lookup when the transfer starts hangs.
        await rig.advance(by: .seconds(11))
        let gate = hangLookups(of: bob.uid, rig)
        try await rig.manager.resume(bobsJob.id, caller: bob)
        await rig.waitUntil("bob's second lookup") { self.lookups(of: 2000, rig) == 2 }

        let (id, request) = try await rig.runningJob()
        XCTAssertTrue(rig.engine.downloads.allSatisfy { if case .url(let url) = $0.source { !url.hasSuffix("/bob") } else { true } })
        rig.engine.end(request.id, .finished(bytesOnDisk: 0))
        await rig.waitForState(id, .transferred)

        gate.signal()
        await rig.waitUntil("bob's download") {
            rig.engine.downloads.contains { if case .url(let url) = $0.source { url.hasSuffix("/bob") } else { false } }
        }
    }
}
