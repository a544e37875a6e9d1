import BitsCore
@testable import BitsService
import BitsSystem
import BitsTransfer
import Foundation
import XCTest

/// Descriptors of users' files are closed off the queue manager (a close on NFS or FUSE can
/// block: it flushes), and the flusher never fsyncs on its caller's thread.
final class DescriptorReleaseTests: XCTestCase {
    /// The descriptor of a failed download is closed on a file worker; while that close
    /// hangs, the manager runs and finishes another job.
    func testAHungCloseLeavesTheManagerFree() async throws {
        let rig = await Rig.make()
        let (id, request) = try await rig.runningJob([.minimumRetryDelay(60)])
        let gate = DispatchSemaphore(value: 0)
        let closedOn = Locked<String?>(nil)
        let target = request.destinationDescriptor
        rig.files.closeHook.with { hook in
            hook = { fd in
                guard fd == target, closedOn.with({ name -> Bool in
                    guard name == nil else { return false }
                    name = Thread.current.name ?? "?"
                    return true
                }) else { return }
                gate.wait()
            }
        }
        rig.engine.end(request.id, .failed(.timeout("no answer"), bytesOnDisk: 0))
        await rig.waitUntil("the close") { closedOn.current != nil }
        XCTAssertTrue(closedOn.current?.hasPrefix("bits-files-") ?? false, closedOn.current ?? "")
        let state = await rig.state(id)
        XCTAssertEqual(state, .transientError)

        let other = try await rig.namedJob(files: 1, [.priority("foreground")])
        try await rig.resume(other)
        await rig.finish(other)
        await rig.waitForState(other, .transferred)
        gate.signal()
        await rig.waitUntil("the close") { rig.files.closed.current.contains(target) }
    }

    /// A finished file's descriptor goes to the flusher, which closes it after its fsync (on
    /// its queue): the manager does not close it.
    func testAFinishedFileIsClosedByTheFlusher() async throws {
        let rig = await Rig.make()
        let closed = Locked<[Int32]>([])
        rig.files.closeHook.with { hook in hook = { fd in closed.with { $0.append(fd) } } }
        let (id, request) = try await rig.runningJob()
        rig.engine.respond(request.id, size: 0)
        rig.engine.end(request.id, .finished(bytesOnDisk: 0))
        await rig.waitForState(id, .transferred)
        try await rig.manager.complete(id, caller: rig.alice)  // waits for the flusher
        XCTAssertFalse(closed.current.contains(request.destinationDescriptor))
    }

    /// When no duplicate of a finished file's descriptor can be made (here: a bad one), the
    /// flusher does not fsync on the caller's thread: the file fails as an fsync would.
    func testTheFlusherNeverSyncsOnTheCallersThread() {
        let calls = Locked<[Thread]>([])
        let flusher = FileFlusher(window: 0, idleDrain: .milliseconds(10), sync: { _ throws(SystemError) in
            calls.with { $0.append(Thread.current) }
        })
        flusher.flush(-1, tag: "job/0")
        XCTAssertTrue(calls.current.isEmpty, "fsync ran on the caller's thread")
        XCTAssertEqual(flusher.takeFailures(prefix: "job/"), ["job/0": EBADF])

        let path = NSTemporaryDirectory() + "flusher-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: path, contents: Data([1]))
        defer { unlink(path) }
        let fd = open(path, O_RDWR)
        flusher.flush(adopting: FileDescriptor(adopting: fd), tag: "job/1")
        flusher.waitForPending()
        XCTAssertEqual(calls.current.count, 1)
        XCTAssertFalse(calls.current.contains(Thread.current))
        XCTAssertTrue(flusher.takeFailures(prefix: "job/").isEmpty)
        XCTAssertEqual(fcntl(fd, F_GETFD), -1, "the flusher closed the descriptor it took over")
    }

    /// Nothing closes a user's descriptor by hand (`HeldDescriptors`): whatever the manager
    /// opened for a job — the file in flight, the files queued ahead and opened ahead — is
    /// closed, once each and on a file worker, when the job is cancelled.
    func testEveryDescriptorOpenedForAJobIsClosedOnceWhenItIsCancelled() async throws {
        let rig = await Rig.make()
        let id = try await rig.namedJob(files: 8, [.priority("foreground")])
        try await rig.resume(id)
        await rig.waitUntil("files queued ahead") { rig.engine.running.count == 1 + QueueManager.filesQueuedAhead }
        let threads = Locked<Set<String>>([])
        rig.files.closeHook.with { hook in hook = { _ in _ = threads.with { $0.insert(Thread.current.name ?? "?") } } }
        let opened = rig.files.opened.current
        XCTAssertGreaterThanOrEqual(opened.count, 1 + QueueManager.filesQueuedAhead)
        try await rig.manager.cancel(id, caller: rig.alice)
        await rig.waitUntil("every descriptor closed") { Set(rig.files.closed.current).isSuperset(of: opened) }
        let closed = rig.files.closed.current
        XCTAssertEqual(closed.count, Set(closed).count, "a descriptor was closed twice: \(closed)")
        XCTAssertEqual(Set(closed), Set(rig.files.opened.current), "closed what it did not open, or left one open")
        XCTAssertTrue(threads.current.allSatisfy { $0.hasPrefix("bits-files-") }, "\(threads.current)")
    }
}
