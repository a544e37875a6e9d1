import BitsCore
import BitsService
import BitsTransfer
import Foundation
import XCTest

/// While a job's next step waits for file work on the workers (an upload-reply's reply file
/// being opened, the upload source being checked before a fragment), its engine requests are
/// idle, but the job is not: scheduling must not start it again.
final class StepInFlightTests: XCTestCase {
    /// Makes the first open through the fake (reply temporaries and sources) whose path
    /// passes `matching` hang until the returned semaphore is signalled; `entered` says
    /// whether it began.
    func hangOpen(_ rig: Rig, matching: @escaping @Sendable (String) -> Bool) -> (gate: DispatchSemaphore, entered: Locked<Int>) {
        let gate = DispatchSemaphore(value: 0)
        let entered = Locked(0)
        rig.files.openHook.with { hook in
            hook = { path in
                guard matching(path), entered.with({ count -> Bool in count += 1; return count == 1 }) else { return }
                gate.wait()
            }
        }
        return (gate, entered)
    }

    /// Makes the next fstat through the fake hang until the returned semaphore is signalled.
    func hangFirstStatus(_ rig: Rig) -> (gate: DispatchSemaphore, entered: Locked<Int>) {
        let gate = DispatchSemaphore(value: 0)
        let entered = Locked(0)
        rig.files.statusHook.with { hook in
            hook = {
                guard entered.with({ count -> Bool in count += 1; return count == 1 }) else { return }
                gate.wait()
            }
        }
        return (gate, entered)
    }

    /// A running upload whose source's check after the Ping's Ack hangs (until `gate`).
    func uploadWaitingForItsSourceCheck(_ rig: Rig) async throws -> (Job, DispatchSemaphore) {
        let job = try await rig.runningUpload()
        let ping = await rig.exchange(1)
        let (gate, entered) = hangFirstStatus(rig)
        rig.engine.answer(try XCTUnwrap(ping).id, ["BITS-Packet-Type": "Ack"])
        await rig.waitUntil("the source's check") { entered.current == 1 }
        return (job, gate)
    }

    /// Suspected bug (issue 17 item 7): scheduling while the reply file is being opened
    /// started the upload again (a second open of the source, a second upload run).
    func testSchedulingWhileTheReplyOpensDoesNotRestartTheUpload() async throws {
        let rig = await Rig.make()
        let job = try await rig.runningUpload(type: "upload-reply")
        let source = "\(rig.directory)/upload.bin"
        let (gate, entered) = hangOpen(rig) { !$0.hasSuffix("upload.bin") }
        try await rig.answerUntilTheReply()
        await rig.waitUntil("the reply's open") { entered.current == 1 }

        // Something else makes the queue manager schedule: another job starts.
        let (other, request) = try await rig.runningJob()
        rig.engine.end(request.id, .finished(bytesOnDisk: 0))
        await rig.waitForState(other, .transferred)

        gate.signal()
        await rig.waitUntil("the reply's download") { rig.engine.downloads.count == 2 }
        let reply = try XCTUnwrap(rig.engine.downloads.last)
        rig.engine.respond(reply.id, size: 0)
        rig.engine.end(reply.id, .finished(bytesOnDisk: 0))
        let packet = await rig.exchange(4)
        let close = try XCTUnwrap(packet)
        XCTAssertTrue(close.headers.contains("BITS-Packet-Type: Close-Session"), "\(close.headers)")
        rig.engine.answer(close.id, ["BITS-Packet-Type": "Ack", "BITS-Session-Id": "{r}"])
        await rig.waitForState(job.id, .transferred)
        XCTAssertEqual(rig.files.sourceOpens.current.filter { $0 == source }.count, 2,
                       "the source was opened at AddFile and once for the upload, not again")
        XCTAssertEqual(rig.engine.exchanges.count, 4)
    }
}

extension StepInFlightTests {
    /// A job suspended while its reply file opens ends that step: the late open is dropped,
    /// and Resume goes on with the upload.
    func testSuspendWhileTheReplyOpensEndsTheStep() async throws {
        let rig = await Rig.make()
        let job = try await rig.runningUpload(type: "upload-reply")
        let (gate, entered) = hangOpen(rig) { !$0.hasSuffix("upload.bin") }
        try await rig.answerUntilTheReply()
        await rig.waitUntil("the reply's open") { entered.current == 1 }
        try await rig.manager.suspend(job.id, caller: rig.alice)
        gate.signal()
        try await rig.resume(job.id)
        await rig.waitUntil("the reply's download") { rig.engine.downloads.count == 1 }
        XCTAssertEqual(rig.engine.exchanges.count, 3)
    }
}

extension StepInFlightTests {
    /// The upload source's fstat before each packet (has it changed?) runs on a file worker:
    /// while it hangs the manager serves other jobs, the scheduler does not start the upload
    /// again, and the packet goes out once the check is done.
    func testTheSourceCheckBeforeAPacketRunsOnTheWorkers() async throws {
        let rig = await Rig.make()
        let (job, gate) = try await uploadWaitingForItsSourceCheck(rig)
        let source = "\(rig.directory)/upload.bin"

        let (other, request) = try await rig.runningJob()
        rig.engine.end(request.id, .finished(bytesOnDisk: 0))
        await rig.waitForState(other, .transferred)
        XCTAssertEqual(rig.engine.exchanges.count, 1)
        XCTAssertEqual(rig.files.sourceOpens.current.filter { $0 == source }.count, 2)

        gate.signal()
        let create = await rig.exchange(2)
        XCTAssertTrue(try XCTUnwrap(create).headers.contains("BITS-Packet-Type: Create-Session"))
        let state = await rig.state(job.id)
        XCTAssertEqual(state, .connecting)
    }

    /// A source that changed since AddFile is still noticed before the next packet.
    func testAChangedSourceIsNoticedBeforeTheNextPacket() async throws {
        let rig = await Rig.make()
        let job = try await rig.runningUpload()
        let ping = await rig.exchange(1)
        // Grown in place (the job holds the source open).
        let fd = open("\(rig.directory)/upload.bin", O_WRONLY | O_APPEND)
        XCTAssertEqual(write(fd, [2, 2], 2), 2)
        close(fd)
        rig.engine.answer(try XCTUnwrap(ping).id, ["BITS-Packet-Type": "Ack"])
        await rig.waitForState(job.id, .error)
        let failed = await rig.job(job.id)
        XCTAssertEqual(failed?.lastError?.code, .localFileChanged)
        XCTAssertEqual(rig.engine.exchanges.count, 1)
    }
}

extension StepInFlightTests {
    /// A job changed while its step waits for the workers (a setting: what the step was
    /// prepared with may be stale) does not stay stuck in that step: the step's answer is
    /// dropped and the upload starts again from its source's open.
    func testAChangeDuringTheSourceCheckStartsTheRunAgain() async throws {
        let rig = await Rig.make()
        let (job, gate) = try await uploadWaitingForItsSourceCheck(rig)
        let source = "\(rig.directory)/upload.bin"
        try await rig.manager.set(.description("changed"), on: job.id, caller: rig.alice)
        gate.signal()
        let next = await rig.exchange(2)
        XCTAssertNotNil(next)
        XCTAssertEqual(rig.files.sourceOpens.current.filter { $0 == source }.count, 3)
    }
}
