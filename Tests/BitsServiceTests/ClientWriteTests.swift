import BitsCore
import BitsService
import BitsStore
import BitsTransfer
import Foundation
import XCTest

/// Client methods that change a job await their durable write off the queue manager's
/// executor (`ClientWrites`): the manager keeps serving meanwhile, a service write of the job
/// made during the wait never undoes the method's change on disk, methods on one job take
/// turns, and a method that no longer applies after an event fails without a trace.
final class ClientWriteTests: XCTestCase {
    /// Starts `body` (a client method) while the store is stuck and returns once its write
    /// reached the store.
    private func startWhileTheStoreWaits(_ rig: Rig, _ body: @escaping @Sendable () async throws -> Void) async -> Task<Void, any Error> {
        let waiting = rig.store.waitingAtGate.current
        rig.store.closeGate()
        let call = Task { try await body() }
        await rig.waitUntil("the write at the store") { rig.store.waitingAtGate.current > waiting }
        return call
    }

    /// While a Set waits for its write, the manager answers other calls and handles transfer
    /// events (it used to block its executor until the write was on disk).
    func testTheManagerServesWhileAWriteIsInFlight() async throws {
        let rig = await Rig.make()
        let (id, request) = try await rig.runningJob()
        let done = Locked(false)
        let call = await startWhileTheStoreWaits(rig) {
            try await rig.manager.set(.displayName("renamed"), on: id, caller: rig.alice)
            done.with { $0 = true }
        }
        let listed = try await rig.manager.listJobs(caller: rig.alice, allUsers: false)
        XCTAssertEqual(listed.count, 1)
        rig.engine.respond(request.id, size: 100)
        rig.engine.progress(request.id, 40)
        await rig.waitUntil("progress handled") { await rig.job(id)?.files[0].bytesTransferred == 40 }
        XCTAssertFalse(done.current, "Set returned before its write was stored")
        let during = await rig.job(id)
        XCTAssertEqual(during?.displayName, "test", "the change showed before it was stored")
        rig.store.openGate()
        try await call.value
        XCTAssertEqual(rig.store.stored(id)?.displayName, "renamed")
        let after = await rig.job(id)
        XCTAssertEqual(after?.displayName, "renamed")
    }

    /// The job finishes while a Set's write is in flight: the service's own write of the
    /// transferred job waits for the Set's, so no stored version after the Set's lacks the
    /// new name, and the job ends up stored with both.
    func testAServiceWriteDuringAClientWriteDoesNotUndoIt() async throws {
        let rig = await Rig.make()
        let (id, request) = try await rig.runningJob()
        let call = await startWhileTheStoreWaits(rig) {
            try await rig.manager.set(.displayName("renamed"), on: id, caller: rig.alice)
        }
        rig.engine.respond(request.id, size: 10)
        rig.engine.end(request.id, .finished(bytesOnDisk: 10))
        await rig.waitForState(id, .transferred)
        rig.store.openGate()
        try await call.value
        await rig.manager.waitForQueuedWrites()
        let history = rig.store.state.current.history[id] ?? []
        let first = try XCTUnwrap(history.firstIndex { $0.displayName == "renamed" })
        XCTAssertTrue(history[first...].allSatisfy { $0.displayName == "renamed" },
                      "a later write undid the change: \(history[first...].map(\.displayName))")
        XCTAssertEqual(rig.store.stored(id)?.state, .transferred)
        XCTAssertEqual(rig.store.stored(id)?.displayName, "renamed")
        let job = await rig.job(id)
        XCTAssertEqual(job?.state, .transferred)
        XCTAssertEqual(job?.displayName, "renamed")
    }

    /// Two methods on one job at once take turns: both changes are kept, in memory and on disk.
    func testMethodsOnOneJobTakeTurns() async throws {
        let rig = await Rig.make()
        let id = try await rig.namedJob(files: 1)
        let first = await startWhileTheStoreWaits(rig) {
            try await rig.manager.set(.displayName("first"), on: id, caller: rig.alice)
        }
        let second = Task { try await rig.manager.set(.priority("high"), on: id, caller: rig.alice) }
        try? await Task.sleep(for: .milliseconds(30))
        rig.store.openGate()
        try await first.value
        try await second.value
        await rig.manager.waitForQueuedWrites()
        let inMemory = await rig.job(id)
        for job in [inMemory, rig.store.stored(id)] {
            XCTAssertEqual(job?.displayName, "first")
            XCTAssertEqual(job?.priority, .high)
        }
    }

    /// A new URL for a file that finishes while the change is being stored no longer applies:
    /// the method fails, and the job keeps its URL in memory and, at the end, on disk.
    func testAMethodThatNoLongerAppliesAfterAnEventFails() async throws {
        let rig = await Rig.make()
        let (id, request) = try await rig.runningJob()
        let before = await rig.job(id)
        let original = try XCTUnwrap(before?.files[0].remoteName)
        let call = await startWhileTheStoreWaits(rig) {
            try await rig.manager.setRemoteName(id, file: 0, caller: rig.alice, url: "https://example.invalid/other")
        }
        rig.engine.respond(request.id, size: 10)
        rig.engine.end(request.id, .finished(bytesOnDisk: 10))
        await rig.waitForState(id, .transferred)
        rig.store.openGate()
        do {
            try await call.value
            XCTFail("the URL of a transferred file changed")
        } catch let error as ServiceError {
            XCTAssertEqual(error.name, .invalidState, error.message)
        }
        await rig.manager.waitForQueuedWrites()
        let after = await rig.job(id)
        XCTAssertEqual(after?.files[0].remoteName, original)
        XCTAssertEqual(rig.store.stored(id)?.files[0].remoteName, original)
        XCTAssertEqual(rig.store.stored(id)?.state, .transferred)
    }

    /// An upload step that must be stored before the next packet (the new session's id)
    /// waits for its write with the manager free: no packet goes out until the write is on
    /// disk, other calls are answered meanwhile, and the fragment follows the write.
    func testAnUploadStepWaitsForItsWriteWithTheManagerFree() async throws {
        let rig = await Rig.make()
        let job = try await rig.runningUpload()
        let first = await rig.exchange(1)
        let ping = try XCTUnwrap(first)
        rig.engine.answer(ping.id, ["BITS-Packet-Type": "Ack"])
        let second = await rig.exchange(2)
        let create = try XCTUnwrap(second)
        let waiting = rig.store.waitingAtGate.current
        rig.store.closeGate()
        rig.engine.answer(create.id, ["BITS-Packet-Type": "Ack", "BITS-Protocol": UploadProtocol.protocolGUID,
                                      "BITS-Session-Id": "{stored-first}"])
        await rig.waitUntil("the session's write at the store") { rig.store.waitingAtGate.current > waiting }
        let listed = try await rig.manager.listJobs(caller: rig.alice, allUsers: false)
        XCTAssertEqual(listed.count, 1)
        try? await Task.sleep(for: .milliseconds(50))
        XCTAssertEqual(rig.engine.exchanges.count, 2, "a packet went out before the session was stored")
        rig.store.openGate()
        let third = await rig.exchange(3)
        let fragment = try XCTUnwrap(third)
        XCTAssertTrue(fragment.headers.contains("BITS-Packet-Type: Fragment"), "\(fragment.headers)")
        XCTAssertEqual(rig.store.stored(job.id)?.files[0].upload?.sessionID, "{stored-first}")
    }

    /// A full disk still fails the method and changes nothing, with the write awaited.
    func testAFailedWriteChangesNothing() async throws {
        let rig = await Rig.make()
        let id = try await rig.namedJob(files: 1)
        rig.store.state.with { $0.failJobs = [id] }
        do {
            try await rig.manager.set(.displayName("lost"), on: id, caller: rig.alice)
            XCTFail("Set succeeded without storing")
        } catch let error as ServiceError {
            XCTAssertEqual(error.name, .failed)
        }
        let after = await rig.job(id)
        XCTAssertEqual(after?.displayName, "test")
        rig.store.state.with { $0.failJobs = [] }
        try await rig.manager.set(.displayName("kept"), on: id, caller: rig.alice)
        XCTAssertEqual(rig.store.stored(id)?.displayName, "kept")
    }
}
