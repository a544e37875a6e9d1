import Foundation
import XCTest

/// Signals about a job reach the owner's connections — and nobody else.
final class SignalTests: BitsTestCase {

    func testJobSignalsReachOnlyTheOwner() throws {
        let aliceListener = try listener(alice)
        XCTAssertFalse(aliceListener.serviceCall?.isError ?? true,
                       "alice's listener could not call the service: \(String(describing: aliceListener.serviceCall))")
        let bobListener = try listener(bob)
        let bobSpy = try listener(bob, eavesdrop: true)

        let tag = "priv-\(UUID().uuidString.prefix(8))"
        let dir = try downloadDirectory(alice, "private")
        let job = try createJob(as: alice, name: "private \(tag)")
        let jobHex = hex(of: job)
        try mustSetProperty(as: alice, job, "MinimumNotificationInterval", type: "u", value: 100)
        _ = try addFile(as: alice, job: job, url: http.url("/big.bin", [("rate", "1500000")], tag: tag),
                        local: "\(dir)/private.bin")
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, state: "transferred")

        XCTAssertNotNil(aliceListener.waitFor(timeout: 5) {
            $0.member == "InterfacesAdded" && $0.args.first?.string == job
        }, "alice got no InterfacesAdded for her job; got \(aliceListener.messages)")
        XCTAssertNotNil(aliceListener.waitFor(timeout: 5) {
            $0.member == "PropertiesChanged" && $0.path == job && $0.changedProperties["State"] != nil
        }, "alice got no PropertiesChanged(State) for her job; got \(aliceListener.messages)")
        XCTAssertNotNil(aliceListener.waitFor(timeout: 5) {
            $0.member == "PropertiesChanged" && $0.path == job && $0.changedProperties["State"]?.string == "transferred"
        }, "alice got no PropertiesChanged(State=transferred)")
        XCTAssertNotNil(aliceListener.waitFor(timeout: 5) { $0.member == "Transferred" && $0.path == job },
                        "alice got no Transferred signal")

        try complete(as: alice, job: job)
        usleep(800_000)

        for (name, l) in [("bob", bobListener), ("bob (eavesdrop)", bobSpy)] {
            let leaked = l.messages(mentioning: jobHex) + l.messages(mentioning: tag) + l.messages(mentioning: dir)
            XCTAssertTrue(leaked.isEmpty, "\(name) received messages about alice's job: \(leaked)")
            let anyJobTraffic = l.messages.filter { $0.path.hasPrefix("/org/example/Bits") }
            XCTAssertTrue(anyJobTraffic.isEmpty, "\(name) received signals from the service: \(anyJobTraffic)")
        }
        XCTAssertEqual(bobSpy.readyInfo["eavesdrop_rules"]?.array?.count ?? 0, 0,
                       "the bus accepted eavesdrop rules from bob: \(bobSpy.readyInfo)")

        // Positive control: bob's listeners do hear about bob's own job, so their silence above
        // means something.
        let bobJob = try createJob(as: bob, name: "bob's own")
        for (name, l) in [("bob", bobListener), ("bob (eavesdrop)", bobSpy)] {
            XCTAssertNotNil(l.waitFor(timeout: 5) { $0.member == "InterfacesAdded" && $0.args.first?.string == bobJob },
                            "\(name)'s listener did not even get InterfacesAdded for bob's own job: \(l.messages)")
        }
    }

    /// File objects' signals (their InterfacesAdded/InterfacesRemoved and PropertiesChanged) go
    /// only to connections that called GetManagedObjects; a connection that only used job
    /// methods gets every job-level signal and none of them.
    func testFileObjectSignalsGoOnlyToObjectManagerClients() throws {
        let mirror = try listener(alice, objectManager: true)
        XCTAssertFalse(mirror.serviceCall?.isError ?? true, "GetManagedObjects failed: \(String(describing: mirror.serviceCall))")
        let plain = try listener(alice)
        let dir = try downloadDirectory(alice, "om-signals")

        let job = try createJob(as: alice, name: "object manager signals")
        try mustSetProperty(as: alice, job, "NotifyFlags", type: "u", value: 0x13)
        var files: [String] = []
        for n in 0..<3 {
            files.append(try addFile(as: alice, job: job, url: http.url("/small.bin", tag: "om\(n)"), local: "\(dir)/f\(n).bin"))
        }
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, state: "transferred")
        try complete(as: alice, job: job)

        // The ObjectManager client sees every file object appear, change and disappear.
        for file in files {
            XCTAssertNotNil(mirror.waitFor(timeout: 5) {
                $0.member == "InterfacesAdded" && $0.path == BitsNames.managerPath && $0.args.first?.string == file
                    && $0.args[safe: 1]?[BitsNames.file] != nil
            }, "the ObjectManager client saw no InterfacesAdded(\(file)); got \(mirror.messages)")
            XCTAssertNotNil(mirror.waitFor(timeout: 5) { $0.member == "PropertiesChanged" && $0.path == file },
                            "the ObjectManager client saw no PropertiesChanged of \(file)")
            XCTAssertNotNil(mirror.waitFor(timeout: 5) {
                $0.member == "InterfacesRemoved" && $0.args.first?.string == file
            }, "the ObjectManager client saw no InterfacesRemoved(\(file)); got \(mirror.messages)")
        }
        XCTAssertNotNil(mirror.waitFor(timeout: 5) { $0.member == "InterfacesRemoved" && $0.args.first?.string == job },
                        "the ObjectManager client saw no InterfacesRemoved of the job")

        // The plain job client: all job-level signals ...
        XCTAssertNotNil(plain.waitFor(timeout: 5) { $0.member == "InterfacesAdded" && $0.args.first?.string == job },
                        "the job client got no InterfacesAdded of the job; got \(plain.messages)")
        XCTAssertNotNil(plain.waitFor(timeout: 5) {
            $0.member == "PropertiesChanged" && $0.path == job && $0.changedProperties["BytesTransferred"] != nil
        }, "the job client got no progress (PropertiesChanged BytesTransferred) of the job")
        XCTAssertNotNil(plain.waitFor(timeout: 5) {
            $0.member == "PropertiesChanged" && $0.path == job && $0.changedProperties["State"]?.string == "transferred"
        }, "the job client got no PropertiesChanged(State=transferred)")
        for file in files {
            XCTAssertNotNil(plain.waitFor(timeout: 5) { $0.member == "FileTransferred" && $0.args.first?.string == file },
                            "the job client got no FileTransferred(\(file))")
        }
        XCTAssertNotNil(plain.waitFor(timeout: 5) { $0.member == "Transferred" && $0.path == job },
                        "the job client got no Transferred")
        XCTAssertNotNil(plain.waitFor(timeout: 5) { $0.member == "InterfacesRemoved" && $0.args.first?.string == job },
                        "the job client got no InterfacesRemoved of the job")
        // ... and none of the file objects' own signals.
        let fileSignals = plain.messages.filter { message in
            message.path.contains("/files/")
                || ((message.args.first?.string ?? "").contains("/files/")
                    && (message.member == "InterfacesAdded" || message.member == "InterfacesRemoved"))
        }
        XCTAssertTrue(fileSignals.isEmpty, "the job client got file objects' signals: \(fileSignals)")
    }

    func testSignalContent() throws {
        let aliceListener = try listener(alice)
        let dir = try downloadDirectory(alice, "signals")

        let job = try createJob(as: alice, name: "signal content")
        let added = aliceListener.waitFor(timeout: 5) {
            $0.member == "InterfacesAdded" && $0.path == BitsNames.managerPath && $0.args.first?.string == job
        }
        XCTAssertNotNil(added, "no InterfacesAdded(\(job)); got \(aliceListener.messages)")
        XCTAssertEqual(added?.interface, BitsNames.objectManager)
        XCTAssertNotNil(added?.args[safe: 1]?[BitsNames.job], "InterfacesAdded lacks the Job interface: \(String(describing: added))")

        // 0x1 transferred | 0x2 error | 0x10 file-transferred. NotifyFlags is not what this test is
        // about: if the daemon refuses it, FileTransferred is still expected (a daemon without
        // NotifyFlags has nothing to filter with).
        let flags = try setProperty(as: alice, job, "NotifyFlags", type: "u", value: 0x13)
        if flags.isError { print("note: setting NotifyFlags=0x13 failed: \(flags)") }
        let file = try addFile(as: alice, job: job, url: http.url("/small.bin"), local: "\(dir)/ok.bin")
        try resume(as: alice, job: job)
        try waitForState(as: alice, job: job, state: "transferred")
        let fileDone = aliceListener.waitFor(timeout: 5) { $0.member == "FileTransferred" && $0.path == job }
        XCTAssertNotNil(fileDone, "no FileTransferred; got \(aliceListener.messages)")
        XCTAssertEqual(fileDone?.interface, BitsNames.job)
        XCTAssertEqual(fileDone?.args.map(\.string), [file])
        let done = aliceListener.waitFor(timeout: 5) { $0.member == "Transferred" && $0.path == job }
        XCTAssertNotNil(done, "no Transferred")
        XCTAssertEqual(done?.interface, BitsNames.job)
        XCTAssertEqual(done?.args.count, 0)

        let failing = try createJob(as: alice, name: "signal 404")
        _ = try addFile(as: alice, job: failing, url: http.url("/absent-\(UUID().uuidString).bin"), local: "\(dir)/absent.bin")
        try resume(as: alice, job: failing)
        try waitForState(as: alice, job: failing, ["error"], timeout: 20, failOn: ["transferred", "cancelled"])
        let error = aliceListener.waitFor(timeout: 5) { $0.member == "Error" && $0.path == failing }
        XCTAssertNotNil(error, "no Error signal; got \(aliceListener.messages)")
        XCTAssertEqual(error?.interface, BitsNames.job)
        XCTAssertEqual(error?.args.count, 3)
        XCTAssertEqual(error?.args[safe: 0]?.string, "remote-file")
        XCTAssertEqual(error?.args[safe: 1]?.string, "http-404")
        XCTAssertFalse((error?.args[safe: 2]?.string ?? "").isEmpty, "Error description is empty")
        XCTAssertNotNil(aliceListener.waitFor(timeout: 5) {
            $0.member == "PropertiesChanged" && $0.path == failing && $0.changedProperties["State"]?.string == "error"
        }, "no PropertiesChanged(State=error)")
    }
}

extension SignalTests {
    /// BytesPerSecond and EstimatedTimeRemaining ride in the coalesced progress
    /// PropertiesChanged of a slow download (no signal of their own): the rate near the
    /// server's pace, the time left finite and going down; 0 and UINT64_MAX once transferred.
    func testProgressSignalsCarryTheRateAndTheTimeLeft() throws {
        let aliceListener = try listener(alice)
        let dir = try downloadDirectory(alice, "rate")
        let job = try createJob(as: alice, name: "rate")
        let pace: UInt64 = 300_000  // big.bin (1.5 MiB) in about 5 s
        _ = try addFile(as: alice, job: job, url: http.url("/big.bin", [("rate", "\(pace)")]), local: "\(dir)/rate.bin")
        try resume(as: alice, job: job)
        // Read while it runs: a live rate and a finite time left.
        var live: (rate: UInt64, left: UInt64)?
        let deadline = Date().addingTimeInterval(20)
        while live == nil, Date() < deadline {
            usleep(200_000)
            let rate = try property(as: alice, job, "BytesPerSecond").uint64 ?? 0
            let left = try property(as: alice, job, "EstimatedTimeRemaining").uint64 ?? UInt64.max
            if try jobState(as: alice, job) == "transferring", rate > 0, left != UInt64.max { live = (rate, left) }
        }
        XCTAssertNotNil(live, "BytesPerSecond/EstimatedTimeRemaining never read as live while transferring")
        try waitForState(as: alice, job: job, state: "transferred")

        let changes = aliceListener.messages.filter { $0.member == "PropertiesChanged" && $0.path == job }.map(\.changedProperties)
        XCTAssertFalse(changes.contains { $0["BytesPerSecond"] != nil && $0["BytesTransferred"] == nil && $0["State"] == nil },
                       "the rate went out in a signal of its own: \(changes)")
        // The progress signals while transferring (the first has no rate yet: one sample).
        let progress = changes.filter { $0["FilesTransferred"] != nil && $0["State"] == nil }
        XCTAssertTrue(progress.allSatisfy { $0["BytesPerSecond"]?.uint64 != nil && $0["EstimatedTimeRemaining"]?.uint64 != nil },
                      "a progress signal without the rate: \(progress)")
        let measured = progress.compactMap { change -> (rate: UInt64, left: UInt64)? in
            guard let rate = change["BytesPerSecond"]?.uint64, rate > 0, let left = change["EstimatedTimeRemaining"]?.uint64,
                  (change["BytesTransferred"]?.uint64 ?? 0) < 1_572_864 else { return nil }
            return (rate, left)
        }
        XCTAssertGreaterThanOrEqual(measured.count, 4, "too few progress signals with a rate: \(progress)")
        // After the first seconds the 5 s window holds only the steady pace.
        let steady = measured.dropFirst(measured.count / 2)
        for sample in steady {
            XCTAssertEqual(Double(sample.rate), Double(pace), accuracy: Double(pace) * 0.35, "rate vs the server's pace: \(measured)")
        }
        XCTAssertTrue(measured.allSatisfy { $0.left < 60 }, "time left not finite or far off: \(measured)")
        let lefts = measured.map(\.left)
        XCTAssertLessThan(lefts.last ?? .max, lefts.first ?? 0, "time left does not go down: \(lefts)")
        XCTAssertTrue(zip(lefts, lefts.dropFirst()).allSatisfy { $1 <= $0 + 2 }, "time left goes up: \(lefts)")

        // Leaving `transferring` clears both, in the State change itself.
        let done = changes.last { $0["State"]?.string == "transferred" }
        XCTAssertEqual(done?["BytesPerSecond"]?.uint64, 0, "\(String(describing: done))")
        XCTAssertEqual(done?["EstimatedTimeRemaining"]?.uint64, UInt64.max, "\(String(describing: done))")
        XCTAssertEqual(try property(as: alice, job, "BytesPerSecond").uint64, 0)
        XCTAssertEqual(try property(as: alice, job, "EstimatedTimeRemaining").uint64, UInt64.max)
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
