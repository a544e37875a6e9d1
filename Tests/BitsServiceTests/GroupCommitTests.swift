import BitsCore
import BitsService
import BitsStore
import Foundation
import XCTest

/// The store writer (`StoreWriter`): writes of concurrent calls share one transaction, a reply
/// comes only once its write is on disk, and CreateJob keeps the limits while it waits.
final class GroupCommitTests: XCTestCase {
    /// Many concurrent CreateJobs while each transaction takes 5 ms (an fsync): they are
    /// stored in far fewer transactions than jobs, and each job is in the store when its
    /// call returns.
    func testConcurrentCreatesShareTransactionsAndAreStoredBeforeReturning() async throws {
        let rig = await Rig.make()
        let before = rig.store.state.current.transactions.count
        rig.store.state.with { $0.transactionDelay = 0.005 }
        let admin = Caller(uid: 0, isAdministrator: true)
        let count = 100
        let storedOnReturn = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<count {
                group.addTask {
                    let job = try await rig.manager.createJob(caller: admin, displayName: "job \(i)", type: "download")
                    return rig.store.stored(job.id) != nil
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        XCTAssertEqual(storedOnReturn.count, count)
        XCTAssertTrue(storedOnReturn.allSatisfy { $0 }, "a CreateJob returned before its job was stored")
        let transactions = rig.store.state.current.transactions.dropFirst(before)
        XCTAssertEqual(transactions.reduce(0, +), count)
        XCTAssertLessThan(transactions.count, count / 2, "writes were not grouped: \(Array(transactions))")
        let added = rig.observer.events.current.filter { if case .added = $0 { return true } else { return false } }
        XCTAssertEqual(added.count, count)
    }

    /// A CreateJob whose write fails (a full disk) fails as before, publishes nothing and
    /// gives its place under the per-user limit back.
    func testAFailingStoreReleasesTheReservation() async throws {
        let rig = await Rig.make()
        let limit = Int(rig.manager.limits.maxJobsPerUser)
        for i in 0..<(limit - 1) {
            _ = try await rig.manager.createJob(caller: rig.alice, displayName: "job \(i)", type: "download")
        }
        rig.store.state.with { $0.failSaves = true }
        for _ in 0..<3 {
            do {
                _ = try await rig.manager.createJob(caller: rig.alice, displayName: "lost", type: "download")
                XCTFail("CreateJob succeeded without storing")
            } catch let error as ServiceError {
                XCTAssertEqual(error.name, .failed)
                XCTAssertTrue(error.message.contains("the disk is full"), error.message)
            }
        }
        let listed = try await rig.manager.listJobs(caller: rig.alice, allUsers: false)
        XCTAssertEqual(listed.count, limit - 1)
        rig.store.state.with { $0.failSaves = false }
        _ = try await rig.manager.createJob(caller: rig.alice, displayName: "last", type: "download")
        do {
            _ = try await rig.manager.createJob(caller: rig.alice, displayName: "one too many", type: "download")
            XCTFail("the per-user limit did not hold")
        } catch let error as ServiceError {
            XCTAssertEqual(error.name, .tooManyJobsPerUser)
        }
    }

    /// Concurrent CreateJobs of users over their limit and of more users than the machine
    /// takes, while writes are slow: exactly the limits' worth succeed.
    func testLimitsHoldUnderConcurrentCreates() async throws {
        let rig = await Rig.make()
        rig.store.state.with { $0.transactionDelay = 0.002 }
        let perUser = Int(rig.manager.limits.maxJobsPerUser)
        let perMachine = Int(rig.manager.limits.maxJobsPerMachine)
        let users = perMachine / perUser + 1
        let attemptsPerUser = perUser + 10
        let outcomes = try await withThrowingTaskGroup(of: (UInt32, ServiceError.Name?).self) { group in
            for attempt in 0..<attemptsPerUser {
                for user in 0..<users {
                    let caller = Caller(uid: 2000 + UInt32(user), isAdministrator: false)
                    group.addTask {
                        do {
                            _ = try await rig.manager.createJob(caller: caller, displayName: "job \(attempt)", type: "download")
                            return (caller.uid, nil)
                        } catch let error as ServiceError {
                            return (caller.uid, error.name)
                        }
                    }
                }
            }
            return try await group.reduce(into: [(UInt32, ServiceError.Name?)]()) { $0.append($1) }
        }
        let created = outcomes.filter { $0.1 == nil }
        XCTAssertEqual(created.count, perMachine)
        for user in 0..<users {
            XCTAssertLessThanOrEqual(created.filter { $0.0 == 2000 + UInt32(user) }.count, perUser)
        }
        let refused = Set(outcomes.compactMap(\.1))
        XCTAssertTrue(refused.isSubset(of: [.tooManyJobsPerUser, .tooManyJobsPerMachine]), "\(refused)")
        let stored = rig.store.storedJobs.filter { $0.job.owner >= 2000 }
        XCTAssertEqual(stored.count, perMachine)
    }

    /// A write that cannot be stored fails only its own submitter, not the others of its
    /// group, and the writes land in the order they were submitted.
    func testOneFailingWriteFailsOnlyItsSubmitter() async throws {
        let store = FakeStore()
        let writer = StoreWriter(store: store)
        let jobs = (0..<3).map { Job(id: JobID.random(), type: .download, owner: 1000, displayName: "j\($0)", now: 1) }
        store.state.with { $0.failJobs = [jobs[1].id]; $0.transactionDelay = 0.01 }
        let results = Locked<[Int: Bool]>([:])
        let done = DispatchGroup()
        // The first write holds the writer while the rest queue up behind it.
        for (index, job) in jobs.enumerated() {
            done.enter()
            writer.submit(.save(job, activity: UInt64(index), settling: [])) { error in
                results.with { $0[index] = error == nil }
                done.leave()
            }
        }
        var renamed = jobs[2]
        renamed.displayName = "renamed"
        done.enter()
        writer.submit(.save(renamed, activity: 9, settling: [])) { _ in done.leave() }
        done.wait()
        XCTAssertEqual(results.current, [0: true, 1: false, 2: true])
        XCTAssertNotNil(store.stored(jobs[0].id))
        XCTAssertNil(store.stored(jobs[1].id))
        XCTAssertEqual(store.stored(jobs[2].id)?.displayName, "renamed")
    }
}
