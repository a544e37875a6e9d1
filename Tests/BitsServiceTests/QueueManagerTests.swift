import BitsCore
import BitsService
import BitsStore
import BitsTransfer
import Foundation
import XCTest

extension Rig {
    /// A rig whose queue manager has restored an empty queue from its (fake) store.
    static func make() async -> Rig {
        let rig = await Rig()
        await rig.restoreEmpty()
        return rig
    }

    /// The running download of a job (its files' URLs name the job).
    func download(of id: JobID) -> DownloadRequest? {
        engine.running.last { request in
            if case .url(let url) = request.source { return url.contains(id.hex) }
            return false
        }
    }

    func waitForDownload(of id: JobID, file: StaticString = #filePath, line: UInt = #line) async -> DownloadRequest? {
        await waitUntil("a download of job \(id.hex)", file: file, line: line) { self.download(of: id) != nil }
        return download(of: id)
    }

    /// A download job whose file URLs name it.
    func namedJob(files count: Int = 1, _ settings: [JobSetting] = []) async throws -> JobID {
        let id = try await downloadJob(files: 0, settings)
        let entries = (0..<count).map { (remote: "https://example.invalid/\(id.hex)/f\($0)", local: "\(directory)/\(id.hex)-\($0).bin") }
        _ = try await manager.addFiles(id, caller: alice, files: entries)
        return id
    }

    func resume(_ id: JobID) async throws { try await manager.resume(id, caller: alice) }

    func waitForState(_ id: JobID, _ state: JobState, file: StaticString = #filePath, line: UInt = #line) async {
        await waitUntil("job \(id.hex) \(state.rawValue)", file: file, line: line) { await self.state(id) == state }
    }

    /// A foreground job of one file with `settings`, resumed, and its first download request.
    func runningJob(_ settings: [JobSetting] = []) async throws -> (JobID, DownloadRequest) {
        let id = try await namedJob(files: 1, [.priority("foreground")] + settings)
        try await resume(id)
        let request = await waitForDownload(of: id)
        return (id, try XCTUnwrap(request))
    }

    /// A foreground job with `settings` whose first attempt failed with a timeout: it waits
    /// in transient-error.
    func jobWaitingAfterATimeout(_ settings: [JobSetting]) async throws -> JobID {
        let (id, first) = try await runningJob(settings)
        engine.end(first.id, .failed(.timeout("no answer"), bytesOnDisk: 0))
        await waitForState(id, .transientError)
        return id
    }

    /// Moves the clock on by `delay` and waits for attempt number `attempt` to be asked of
    /// the engine; returns it.
    func retried(after delay: Duration, attempt: Int) async -> DownloadRequest? {
        await advance(by: delay)
        await waitUntil("attempt \(attempt)") { self.engine.downloads.count == attempt }
        return engine.downloads.count >= attempt ? engine.downloads[attempt - 1] : nil
    }

    /// Ends the running download of `id` as finished with `size` bytes.
    func finish(_ id: JobID, size: UInt64 = 10) async {
        guard let request = await waitForDownload(of: id) else { return }
        engine.respond(request.id, size: size)
        engine.end(request.id, .finished(bytesOnDisk: size))
    }
}

final class SchedulingTests: XCTestCase {
    /// One background job at a time, the highest priority first: a high job that arrives
    /// stops the running low one, which continues when the high one is done.
    func testHigherPriorityBackgroundJobRunsFirst() async throws {
        let rig = await Rig.make()
        let low = try await rig.namedJob(files: 1, [.priority("low")])
        let high = try await rig.namedJob(files: 1, [.priority("high")])
        try await rig.resume(low)
        let first = await rig.waitForDownload(of: low)
        XCTAssertNotNil(first)
        try await rig.resume(high)
        _ = await rig.waitForDownload(of: high)
        XCTAssertTrue(rig.engine.state.current.cancelled.contains(first!.id), "the low job was not stopped")
        await rig.waitForState(low, .queued)
        XCTAssertNil(rig.download(of: low))

        await rig.finish(high)
        await rig.waitForState(high, .transferred)
        _ = await rig.waitForDownload(of: low)
        await rig.finish(low)
        await rig.waitForState(low, .transferred)
        XCTAssertTrue(rig.observer.events.current.contains(.transferred(low)))
    }

    /// Every foreground job runs at once, beside one background job.
    func testForegroundJobsRunTogether() async throws {
        let rig = await Rig.make()
        let a = try await rig.namedJob(files: 1, [.priority("foreground")])
        let b = try await rig.namedJob(files: 1, [.priority("foreground")])
        let c = try await rig.namedJob(files: 1, [.priority("normal")])
        let d = try await rig.namedJob(files: 1, [.priority("normal")])
        for id in [a, b, c, d] { try await rig.resume(id) }
        _ = await rig.waitForDownload(of: a)
        _ = await rig.waitForDownload(of: b)
        _ = await rig.waitForDownload(of: c)
        try? await Task.sleep(for: .milliseconds(50))
        XCTAssertNil(rig.download(of: d), "two background jobs ran at once")
    }

    /// The files of a job follow each other: the next ones are queued behind the running one.
    func testFilesAreQueuedAheadAndCompleteInOrder() async throws {
        let rig = await Rig.make()
        let id = try await rig.namedJob(files: 3, [.priority("foreground")])
        try await rig.resume(id)
        await rig.waitUntil("three requests") { rig.engine.running.count == 3 }
        let requests = rig.engine.running
        XCTAssertEqual(rig.engine.state.current.queuedAfter[requests[1].id], requests[0].id)
        XCTAssertEqual(rig.engine.state.current.queuedAfter[requests[2].id], requests[1].id)
        for request in requests {
            rig.engine.respond(request.id, size: 5)
            rig.engine.end(request.id, .finished(bytesOnDisk: 5))
        }
        await rig.waitForState(id, .transferred)
        let job = await rig.job(id)
        XCTAssertEqual(job?.files.map(\.completed), [true, true, true])
        await rig.waitUntil("the transferred state stored") { rig.store.stored(id)?.state == .transferred }
    }
}

final class RetryTests: XCTestCase {
    /// A transient error puts the job in transient-error; it is queued again after
    /// MinimumRetryDelay, not before, and resumes from the bytes on disk.
    func testTransientErrorRetriesAfterMinimumRetryDelay() async throws {
        let rig = await Rig.make()
        let (id, first) = try await rig.runningJob([.minimumRetryDelay(60)])
        rig.engine.respond(first.id, size: 100)
        rig.engine.end(first.id, .failed(.connectionReset("reset by peer"), bytesOnDisk: 40))
        await rig.waitForState(id, .transientError)
        let job = await rig.job(id)
        XCTAssertEqual(job?.lastError?.code, .connectionReset)
        XCTAssertEqual(job?.errorCount, 1)
        await rig.waitUntil("the transient error stored") { rig.store.stored(id)?.state == .transientError }

        await rig.advance(by: .seconds(59))
        let stateBefore = await rig.state(id)
        XCTAssertEqual(stateBefore, .transientError)
        XCTAssertEqual(rig.engine.running.count, 0)
        await rig.advance(by: .seconds(1))
        await rig.waitUntil("a second request") { rig.engine.downloads.count == 2 }
        let state = await rig.state(id)
        XCTAssertEqual(state, .connecting)
    }

    /// A fatal error (TLS) puts the job in error at once and is reported.
    func testFatalErrorPutsTheJobInError() async throws {
        let rig = await Rig.make()
        let (id, request) = try await rig.runningJob()
        rig.engine.end(request.id, .failed(.tls("certificate expired"), bytesOnDisk: 0))
        await rig.waitForState(id, .error)
        XCTAssertTrue(rig.observer.events.current.contains(.failed(id, .tls)))
    }

    /// NoProgressTimeout: transient errors without progress for that long make the job fail
    /// with no-progress, at the moment it runs out (even between retries).
    func testNoProgressTimeoutEndsRetries() async throws {
        let rig = await Rig.make()
        let id = try await rig.jobWaitingAfterATimeout([.minimumRetryDelay(60), .noProgressTimeout(100)])
        let retry = await rig.retried(after: .seconds(60), attempt: 2)
        let second = try XCTUnwrap(retry)
        rig.engine.end(second.id, .failed(.timeout("no answer"), bytesOnDisk: 0))
        await rig.waitForState(id, .transientError)
        // 60 s of the 100 are used: the next retry would come after the timeout.
        await rig.advance(by: .seconds(39))
        let waiting = await rig.state(id)
        XCTAssertEqual(waiting, .transientError)
        await rig.advance(by: .seconds(1))
        await rig.waitForState(id, .error)
        let job = await rig.job(id)
        XCTAssertEqual(job?.lastError?.code, .noProgress)
        XCTAssertEqual(rig.engine.downloads.count, 2)
    }

    /// Progress resets the NoProgressTimeout clock.
    func testProgressResetsTheNoProgressClock() async throws {
        let rig = await Rig.make()
        let id = try await rig.jobWaitingAfterATimeout([.minimumRetryDelay(60), .noProgressTimeout(100)])
        let retry = await rig.retried(after: .seconds(60), attempt: 2)
        let retried = try XCTUnwrap(retry)
        rig.engine.respond(retried.id, size: 100)
        rig.engine.progress(retried.id, 10)
        rig.engine.end(retried.id, .failed(.timeout("no answer"), bytesOnDisk: 10))
        await rig.waitForState(id, .transientError)
        _ = await rig.retried(after: .seconds(60), attempt: 3)
        let state = await rig.state(id)
        XCTAssertNotEqual(state, .error)
    }

    /// Losing the network puts active jobs in transient-error; its return queues them again.
    func testNetworkLossBlocksAndItsReturnRequeues() async throws {
        let rig = await Rig.make()
        let (id, first) = try await rig.runningJob()
        await rig.manager.networkChanged(NetworkStatus(available: false, metered: false))
        await rig.waitForState(id, .transientError)
        XCTAssertTrue(rig.engine.state.current.cancelled.contains(first.id))
        let code = await rig.job(id)?.lastError?.code
        XCTAssertEqual(code, .networkDisconnected)
        await rig.manager.networkChanged(NetworkStatus(available: true, metered: false))
        await rig.waitUntil("a new request") { rig.engine.downloads.count == 2 }
    }

    /// The injected monitors (`watch`): their first report counts at once, and quick flips
    /// reach the queue in order, ending on the last value.
    func testInjectedMonitorsReportInOrder() async throws {
        let rig = await Rig.make()
        let network = FakeMonitor(initial: NetworkStatus(available: false, metered: false))
        let power = FakeMonitor(initial: false)
        await rig.manager.watch(network: network, power: power)
        let waiting = try await rig.namedJob(files: 1, [.priority("foreground")])
        try await rig.resume(waiting)
        await rig.waitForState(waiting, .transientError)
        let code = await rig.job(waiting)?.lastError?.code
        XCTAssertEqual(code, .networkDisconnected)
        network.report(NetworkStatus(available: true, metered: false))
        _ = await rig.waitForDownload(of: waiting)

        let onBattery = try await rig.namedJob(files: 1, [.priority("foreground"), .transferPolicy("not-on-battery")])
        for flip in [true, false, true, false, true] { power.report(flip) }
        try await rig.resume(onBattery)
        await rig.waitForState(onBattery, .transientError)
        let reason = await rig.job(onBattery)?.lastError?.code
        XCTAssertEqual(reason, .blockedByBattery)
        for flip in [false, true, false] { power.report(flip) }
        _ = await rig.waitForDownload(of: onBattery)
    }

    /// On battery, a running `not-on-battery` job stops and waits (blocked-by-battery), one
    /// resumed then waits at once, an `always` job runs on; on mains power both continue.
    func testNotOnBatteryJobsWaitWhileOnBattery() async throws {
        let rig = await Rig.make()
        let (running, first) = try await rig.runningJob([.transferPolicy("not-on-battery")])
        await rig.manager.powerChanged(onBattery: true)
        await rig.waitForState(running, .transientError)
        XCTAssertTrue(rig.engine.state.current.cancelled.contains(first.id))
        let code = await rig.job(running)?.lastError?.code
        XCTAssertEqual(code, .blockedByBattery)

        let later = try await rig.namedJob(files: 1, [.priority("foreground"), .transferPolicy("not-on-battery")])
        try await rig.resume(later)
        await rig.waitForState(later, .transientError)
        let (always, _) = try await rig.runningJob()  // asked of the engine, so not blocked
        let alwaysState = await rig.state(always)
        XCTAssertEqual(alwaysState, .connecting)
        // A repeated report changes nothing; the retry timer does not end the wait either.
        await rig.manager.powerChanged(onBattery: true)
        await rig.advance(by: .seconds(3600))
        let stillWaiting = await rig.state(later)
        XCTAssertEqual(stillWaiting, .transientError)
        XCTAssertNil(rig.download(of: later))

        await rig.manager.powerChanged(onBattery: false)
        _ = await rig.waitForDownload(of: later)
        await rig.waitUntil("the first job asked again") {
            rig.engine.running.contains { request in
                if case .url(let url) = request.source { return url.contains(running.hex) }
                return false
            }
        }
    }

    /// A store that cannot write (a full disk) fails the method, and nothing changes.
    func testAFailingStoreFailsTheMethod() async throws {
        let rig = await Rig.make()
        let id = try await rig.namedJob(files: 1)
        rig.store.state.with { $0.failSaves = true }
        do {
            try await rig.resume(id)
            XCTFail("Resume succeeded without storing")
        } catch let error as ServiceError {
            XCTAssertTrue(error.message.contains("the disk is full"), error.message)
        }
        let state = await rig.state(id)
        XCTAssertEqual(state, .suspended)
    }

    /// MaximumDownloadTime: a job connecting or transferring for longer fails.
    func testMaximumDownloadTime() async throws {
        let rig = await Rig.make()
        let (id, request) = try await rig.runningJob([.maximumDownloadTime(30)])
        rig.engine.respond(request.id, size: 1000)
        await rig.advance(by: .seconds(29))
        let state = await rig.state(id)
        XCTAssertNotEqual(state, .error)
        await rig.advance(by: .seconds(1))
        await rig.waitForState(id, .error)
        let code = await rig.job(id)?.lastError?.code
        XCTAssertEqual(code, .maxDownloadTime)
    }
}

final class TransferRateTests: XCTestCase {
    /// BytesPerSecond and EstimatedTimeRemaining go out with the coalesced progress (no
    /// signal of their own), measured on the service's monotonic clock, and are 0 / unknown
    /// in the same change that leaves `transferring`.
    func testProgressCarriesTheRateAndTheTimeLeft() async throws {
        let rig = await Rig.make()
        let (id, request) = try await rig.runningJob()
        rig.engine.respond(request.id, size: 10_000)
        await rig.waitForState(id, .transferring)
        for bytes in [2_000, 6_000] as [UInt64] {  // one second apart
            await rig.advance(by: .seconds(1))
            rig.engine.progress(request.id, bytes)
            await rig.waitUntil("progress \(bytes)") { await rig.job(id)?.bytesTransferred == bytes }
        }
        // 6000 bytes in 2 s since the response: 3000 B/s, 4000 bytes left: 2 s (rounded up).
        let rate = await rig.job(id)?.transferRate
        XCTAssertEqual(rate, TransferRate(bytesPerSecond: 3_000, secondsRemaining: 2))
        let progress = rig.observer.changes.current.filter { $0.id == id && $0.properties.contains(.filesTransferred) }
        XCTAssertTrue(progress.allSatisfy { $0.properties.isSuperset(of: JobProperty.rate) },
                      "the rate rides with every progress signal: \(progress.map(\.properties))")
        XCTAssertFalse(rig.observer.changes.current.contains { $0.id == id && $0.properties == JobProperty.rate },
                       "no signal of its own")
        XCTAssertEqual(progress.last?.rate, rate)

        rig.engine.end(request.id, .finished(bytesOnDisk: 10_000))
        await rig.waitForState(id, .transferred)
        let left = rig.observer.changes.current.last { $0.id == id && $0.properties.contains(.state) }
        XCTAssertEqual(left?.properties.isSuperset(of: JobProperty.rate), true)
        XCTAssertEqual(left?.rate, .idle)
        let final = await rig.job(id)?.transferRate
        XCTAssertEqual(final, .idle)
    }
}

final class RestoreTests: XCTestCase {
    /// After a crash (a new queue manager on the same store, same boot) an active job is
    /// queued again and resumes from the length of its file on disk with its validator.
    func testActiveJobResumesAfterRestart() async throws {
        let rig = await Rig.make()
        let (id, request) = try await rig.runningJob()
        rig.engine.respond(request.id, size: 100, entityTag: "\"tag-1\"")
        // The engine wrote 60 bytes; a small file's validators are stored with the first
        // progress 250 ms after its response.
        XCTAssertEqual(pwrite(request.destinationDescriptor, [UInt8](repeating: 7, count: 60), 60, 0), 60)
        await rig.advance(by: .milliseconds(250))
        rig.engine.progress(request.id, 60)
        await rig.waitUntil("the validator stored") { rig.store.stored(id)?.files[0].entityTag == "\"tag-1\"" }

        let after = await rig.reopened(bootID: "boot-1")
        XCTAssertTrue(after.observer.events.current.contains(.restored(id)))
        let resumed = await after.waitForDownload(of: id)
        XCTAssertEqual(resumed?.resumeOffset, 60)
        XCTAssertEqual(resumed?.ifRange, "\"tag-1\"")
        after.engine.respond(resumed!.id, size: 100, offset: 60, entityTag: "\"tag-1\"")
        after.engine.end(resumed!.id, .finished(bytesOnDisk: 100))
        await after.waitForState(id, .transferred)
    }

    /// After a reboot only durable bytes are trusted: the file is cut and restarts from 0
    /// when nothing was fsynced.
    func testAfterARebootOnlyDurableBytesAreTrusted() async throws {
        let rig = await Rig.make()
        let (id, request) = try await rig.runningJob()
        // A large file's validators are stored with its response.
        rig.engine.respond(request.id, size: 4 << 20)
        XCTAssertEqual(pwrite(request.destinationDescriptor, [UInt8](repeating: 7, count: 60), 60, 0), 60)
        await rig.waitUntil("the validator stored") { rig.store.stored(id)?.files[0].entityTag != nil }

        let after = await rig.reopened(bootID: "boot-2")
        let resumed = await after.waitForDownload(of: id)
        XCTAssertEqual(resumed?.resumeOffset, 0)
    }

    /// Suspended, errored and transferred jobs stay as they were; transient-error jobs retry
    /// after MinimumRetryDelay; a Cancel cut short is finished.
    func testRestoreKeepsStatesAndRetriesTransientErrors() async throws {
        let rig = await Rig.make()
        let suspended = try await rig.namedJob(files: 1)
        let waiting = try await rig.namedJob(files: 1, [.priority("foreground"), .minimumRetryDelay(30)])
        try await rig.resume(waiting)
        let request = await rig.waitForDownload(of: waiting)!
        rig.engine.end(request.id, .failed(.dnsFailure("no such host"), bytesOnDisk: 0))
        await rig.waitForState(waiting, .transientError)
        // A Cancel stored as such whose file work a crash cut short.
        let cancelledID = JobID.random()
        var cancelled = Job(id: cancelledID, type: .download, owner: 1000, displayName: "x", now: 1)
        cancelled.state = .cancelled
        try rig.store.save(cancelled, activity: 1, settling: [])

        let after = await rig.reopened()
        let suspendedState = await after.state(suspended)
        XCTAssertEqual(suspendedState, .suspended)
        let waitingState = await after.state(waiting)
        XCTAssertEqual(waitingState, .transientError)
        let cancelledJob = await after.job(cancelledID)
        XCTAssertNil(cancelledJob)
        XCTAssertNil(after.store.stored(cancelledID), "the interrupted Cancel was not finished")
        await after.advance(by: .seconds(30))
        _ = await after.waitForDownload(of: waiting)
    }
}

extension RestoreTests {
    /// A Complete cut short after it was stored: start-up redoes the renames of finished
    /// files, deletes partial ones and drops the job; a stray reply file is deleted.
    func testAnInterruptedCompleteIsFinished() async throws {
        let rig = await Rig.make()
        let dir = rig.directory
        var job = Job(id: JobID.random(), type: .download, owner: 1000, displayName: "c", now: 1)
        var done = JobFile(remoteName: "https://example.invalid/a", localName: "\(dir)/a.bin", temporaryName: "\(dir)/BITa.tmp")
        done.completed = true
        done.bytesTotal = 3
        let partial = JobFile(remoteName: "https://example.invalid/b", localName: "\(dir)/b.bin", temporaryName: "\(dir)/BITb.tmp")
        job.files = [done, partial]
        job.state = .acknowledged
        FileManager.default.createFile(atPath: done.temporaryName, contents: Data("abc".utf8))
        FileManager.default.createFile(atPath: partial.temporaryName, contents: Data("x".utf8))
        FileManager.default.createFile(atPath: "\(dir)/BITstray.tmp", contents: Data())
        try rig.store.save(job, activity: 1, settling: [])
        try rig.store.recordPendingTemporaries([.init(path: "\(dir)/BITstray.tmp", owner: 1000)])

        let after = await rig.reopened()
        XCTAssertEqual(FileManager.default.contents(atPath: "\(dir)/a.bin"), Data("abc".utf8))
        XCTAssertFalse(FileManager.default.fileExists(atPath: done.temporaryName))
        XCTAssertFalse(FileManager.default.fileExists(atPath: partial.temporaryName))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/b.bin"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/BITstray.tmp"))
        XCTAssertNil(after.store.stored(job.id))
        XCTAssertEqual(after.store.state.current.pending, [])
        let restored = await after.job(job.id)
        XCTAssertNil(restored)
    }
}

extension Rig {
    /// A foreground upload job (of `type`) of a 1000-byte file, resumed.
    func runningUpload(type: String = "upload") async throws -> Job {
        let source = "\(directory)/upload.bin"
        FileManager.default.createFile(atPath: source, contents: Data(repeating: 1, count: 1000))
        let job = try await manager.createJob(caller: alice, displayName: "up", type: type)
        try await manager.set(.priority("foreground"), on: job.id, caller: alice)
        _ = try await manager.addFiles(job.id, caller: alice, files: [(remote: "https://example.invalid/up", local: source)])
        try await resume(job.id)
        return job
    }

    /// Answers an upload-reply job's Ping, Create-Session and its one fragment: the server
    /// has the whole file and names a reply (`/reply/7`, session `{r}`).
    func answerUntilTheReply() async throws {
        let acks: [[String: String]] = [
            ["BITS-Packet-Type": "Ack"],
            ["BITS-Packet-Type": "Ack", "BITS-Protocol": UploadProtocol.protocolGUID, "BITS-Session-Id": "{r}"],
            ["BITS-Packet-Type": "Ack", "BITS-Session-Id": "{r}", "BITS-Received-Content-Range": "1000",
             "BITS-Reply-URL": "/reply/7"],
        ]
        for (count, ack) in acks.enumerated() {
            let packet = await exchange(count + 1)
            engine.answer(try XCTUnwrap(packet).id, ack)
        }
    }

    /// The `count`-th exchange (upload packet) asked of the engine, once it is.
    func exchange(_ count: Int) async -> ExchangeRequest? {
        await waitUntil("exchange \(count)") { self.engine.exchanges.count >= count }
        return engine.exchanges.count >= count ? engine.exchanges[count - 1] : nil
    }
}

final class UploadTests: XCTestCase {
    /// Equal background upload jobs take turns: when the running one's time slice ends, it
    /// stops (its packet is cancelled) and the other one starts. (The slice's timer used to
    /// be armed for downloads only: a long upload kept the other job waiting.)
    func testBackgroundUploadsTakeTurnsWhenTheSliceEnds() async throws {
        var config = ServiceConfig()
        config.timeSlice = 10
        let rig = await Rig(config: config)
        await rig.restoreEmpty()
        let source = "\(rig.directory)/upload.bin"
        FileManager.default.createFile(atPath: source, contents: Data(repeating: 1, count: 1000))
        var jobs: [JobID] = []
        for name in ["first", "second"] {
            let job = try await rig.manager.createJob(caller: rig.alice, displayName: name, type: "upload")
            _ = try await rig.manager.addFiles(job.id, caller: rig.alice, files: [(remote: "https://example.invalid/\(name)", local: source)])
            jobs.append(job.id)
        }
        try await rig.resume(jobs[0])
        let first = await rig.exchange(1)
        XCTAssertEqual(first?.url, "https://example.invalid/first")
        try await rig.resume(jobs[1])
        await rig.advance(by: .seconds(5))
        XCTAssertEqual(rig.engine.exchanges.count, 1, "one background job at a time")
        await rig.advance(by: .seconds(6))
        let second = await rig.exchange(2)
        XCTAssertEqual(second?.url, "https://example.invalid/second", "the other job's turn came with the end of the slice")
        XCTAssertTrue(rig.engine.state.current.cancelled.contains(try XCTUnwrap(first).id))
    }

    /// A whole upload session: Ping, Create-Session, the fragments from the acknowledged
    /// offset, Close-Session; the job is then transferred.
    func testUploadSession() async throws {
        let rig = await Rig.make()
        let job = try await rig.runningUpload()

        func next(_ count: Int) async -> ExchangeRequest? { await rig.exchange(count) }
        let first = await next(1)
        let ping = try XCTUnwrap(first)
        XCTAssertTrue(ping.headers.contains("BITS-Packet-Type: Ping"), "\(ping.headers)")
        rig.engine.answer(ping.id, ["BITS-Packet-Type": "Ack"])

        let second = await next(2)
        let create = try XCTUnwrap(second)
        XCTAssertTrue(create.headers.contains("BITS-Packet-Type: Create-Session"), "\(create.headers)")
        rig.engine.answer(create.id, ["BITS-Packet-Type": "Ack", "BITS-Protocol": UploadProtocol.protocolGUID,
                                      "BITS-Session-Id": "{session-1}"])

        let third = await next(3)
        let fragment = try XCTUnwrap(third)
        XCTAssertTrue(fragment.headers.contains("BITS-Packet-Type: Fragment"), "\(fragment.headers)")
        XCTAssertEqual(fragment.body?.offset, 0)
        XCTAssertEqual(fragment.body?.length, 1000)
        XCTAssertEqual(rig.store.stored(job.id)?.files[0].upload?.sessionID, "{session-1}")
        rig.engine.answer(fragment.id, ["BITS-Packet-Type": "Ack", "BITS-Session-Id": "{session-1}",
                                        "BITS-Received-Content-Range": "1000"])

        let fourth = await next(4)
        let close = try XCTUnwrap(fourth)
        XCTAssertTrue(close.headers.contains("BITS-Packet-Type: Close-Session"), "\(close.headers)")
        rig.engine.answer(close.id, ["BITS-Packet-Type": "Ack", "BITS-Session-Id": "{session-1}"])
        await rig.waitForState(job.id, .transferred)
        let transferred = await rig.job(job.id)?.files[0].bytesTransferred
        XCTAssertEqual(transferred, 1000)
        // Every state the job went through was signalled, `transferring` included.
        let states = rig.observer.changes.current.filter { $0.id == job.id && $0.properties.contains(.state) }.count
        XCTAssertEqual(states, 4, "queued, connecting, transferring, transferred")
    }

    /// An upload-reply job whose server has the whole file and names a reply:
    /// Ping, Create-Session and the fragment; returns the reply's download.
    func uploadUntilTheReply(_ rig: Rig) async throws -> (Job, DownloadRequest) {
        let job = try await rig.runningUpload(type: "upload-reply")
        try await rig.answerUntilTheReply()
        await rig.waitUntil("the reply's download") { rig.engine.downloads.count == 1 }
        let reply = try XCTUnwrap(rig.engine.downloads.first)
        XCTAssertEqual(reply.source, .url("https://example.invalid/reply/7"))
        return (job, reply)
    }

    /// The reply is downloaded and made durable (on a file worker) before Close-Session.
    func testUploadReplyFetchesTheReplyBeforeClosing() async throws {
        let rig = await Rig.make()
        let (job, reply) = try await uploadUntilTheReply(rig)
        XCTAssertEqual(pwrite(reply.destinationDescriptor, Array("hello".utf8), 5, 0), 5)
        rig.engine.respond(reply.id, size: 5)
        rig.engine.end(reply.id, .finished(bytesOnDisk: 5))
        let packet = await rig.exchange(4)
        let close = try XCTUnwrap(packet)
        XCTAssertTrue(close.headers.contains("BITS-Packet-Type: Close-Session"), "\(close.headers)")
        XCTAssertEqual(rig.store.stored(job.id)?.reply?.done, true)
        rig.engine.answer(close.id, ["BITS-Packet-Type": "Ack", "BITS-Session-Id": "{r}"])
        await rig.waitForState(job.id, .transferred)
    }

    /// A reply whose fsync fails is not done: the reply half fails and no Close-Session goes out.
    func testAReplyThatCannotBeMadeDurableFailsTheReplyHalf() async throws {
        let rig = await Rig.make()
        rig.files.failingFsync.with { $0 = rig.directory }
        let (job, reply) = try await uploadUntilTheReply(rig)
        rig.engine.respond(reply.id, size: 5)
        rig.engine.end(reply.id, .finished(bytesOnDisk: 5))
        await rig.waitUntil("the failure") { await rig.job(job.id)?.lastError != nil }
        let failed = await rig.job(job.id)
        XCTAssertTrue(failed?.lastError?.description.hasPrefix("Downloading the server's reply") ?? false,
                      failed?.lastError?.description ?? "")
        XCTAssertNotEqual(failed?.reply?.done, true)
        XCTAssertEqual(rig.engine.exchanges.count, 3)
    }

    /// A server that lost the session (BG_E_SESSION_NOT_FOUND) gets a new Create-Session and
    /// the upload starts again from 0.
    func testLostSessionStartsANewOne() async throws {
        let rig = await Rig.make()
        let job = try await rig.runningUpload()
        func next(_ count: Int) async -> ExchangeRequest { await rig.exchange(count)! }
        rig.engine.answer(await next(1).id, ["BITS-Packet-Type": "Ack"])
        rig.engine.answer(await next(2).id, ["BITS-Packet-Type": "Ack", "BITS-Protocol": UploadProtocol.protocolGUID,
                                             "BITS-Session-Id": "{s1}"])
        rig.engine.answer(await next(3).id, status: 404, ["BITS-Packet-Type": "Ack", "BITS-Error-Code": "0x8020001f",
                                                          "BITS-Error-Context": "0x5"])
        let again = await next(4)
        XCTAssertTrue(again.headers.contains("BITS-Packet-Type: Create-Session"), "\(again.headers)")
    }
}
