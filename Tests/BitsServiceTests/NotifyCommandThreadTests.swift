@testable import BitsService
import BitsCore
import BitsSystem
import Foundation
import XCTest

/// The notify command's blocking steps (access as the owner, posix_spawn, waitpid) run on a
/// thread of their own, never on Swift concurrency's cooperative pool.
final class NotifyCommandThreadTests: XCTestCase {
    /// More blocked steps than the pool has threads: the pool still runs other work.
    func testBlockedStepsDoNotStarveTheCooperativePool() async {
        let count = ProcessInfo.processInfo.activeProcessorCount + 2
        let gate = DispatchSemaphore(value: 0)
        let entered = Locked(0)
        let steps = (0..<count).map { _ in
            Task {
                await NotifyCommand.onOwnThread(named: "bitsd-notify") { () -> String in
                    entered.with { $0 += 1 }
                    gate.wait()
                    gate.signal()
                    return (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
                }
            }
        }
        while entered.current < count { try? await Task.sleep(for: .milliseconds(2)) }
        // Every step is blocked: work on the pool still runs.
        let answer = await Task.detached { 6 * 7 }.value
        XCTAssertEqual(answer, 42)
        gate.signal()
        for step in steps {
            let name = await step.value
            XCTAssertEqual(name, "bitsd-notify\n")
        }
    }

    func owner() -> (Job, OwnerIdentity) {
        let uid = SystemPaths.effectiveUID
        let job = Job(id: JobID.random(), type: .download, owner: uid, displayName: "notify", now: 0)
        return (job, OwnerIdentity(uid: uid, gid: uid == 0 ? 0 : getegid(), groups: []))
    }

    func testTheCommandRunsAndItsStatusComesBack() async throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: NotifyCommand.setpriv), "no setpriv")
        let (job, identity) = owner()
        let outcome = await NotifyCommand.run(["/bin/sh", "-c", "exit 3"], job: job, owner: identity, timeLimit: 30)
        XCTAssertEqual(outcome, .exited(3))
    }

    func testAMissingProgramIsNotExecutable() async {
        let (job, identity) = owner()
        let outcome = await NotifyCommand.run(["/nonexistent/program"], job: job, owner: identity, timeLimit: 30)
        guard case .notExecutable = outcome else { return XCTFail("\(outcome)") }
    }
}
