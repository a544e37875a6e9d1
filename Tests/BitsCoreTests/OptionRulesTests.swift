import XCTest
@testable import BitsCore

final class OptionRulesTests: XCTestCase {
    func job(_ type: JobType = .download) -> Job { Job(id: .random(), type: type, owner: 1000, displayName: "t", now: 1) }

    func name(_ body: () throws -> Any) -> ServiceError.Name? {
        do { _ = try body(); return nil } catch { return (error as? ServiceError)?.name }
    }

    func testCustomMethodForcesForegroundAndLocksPriority() throws {
        var j = job()
        let changed = try JobSettingRules.apply(.httpMethod("POST"), to: &j)
        XCTAssertEqual(j.priority, .foreground)
        XCTAssertTrue(changed.contains(.priority))
        XCTAssertTrue(j.options.usesCustomMethod)
        XCTAssertEqual(name { try JobSettingRules.apply(.priority("low"), to: &j) }, .notSupported)
        XCTAssertEqual(name { try JobSettingRules.apply(.dynamicContent(true), to: &j) }, .notSupported)
        XCTAssertEqual(name { try JobSettingRules.apply(.httpMethod("BAD METHOD"), to: &j) }, .invalidArgs)
    }

    func testSettingsFixedAfterFirstResumeOrFiles() throws {
        var j = job()
        j.everResumed = true
        XCTAssertEqual(name { try JobSettingRules.apply(.httpMethod("POST"), to: &j) }, .invalidState)
        XCTAssertEqual(name { try JobSettingRules.apply(.maximumDownloadSize(10), to: &j) }, .invalidState)
        XCTAssertEqual(name { try JobSettingRules.apply(.dynamicContent(true), to: &j) }, .invalidState)
        var k = job()
        k.files.append(JobFile(remoteName: "http://h/a", localName: "/tmp/a", temporaryName: "/tmp/b"))
        XCTAssertEqual(name { try JobSettingRules.apply(.highPerformance(true), to: &k) }, .invalidState)
        var u = job(.upload)
        XCTAssertEqual(name { try JobSettingRules.apply(.dynamicContent(true), to: &u) }, .notSupported)
    }

    func testWriteOnlyHeadersAreOneWay() throws {
        var j = job()
        _ = try JobSettingRules.apply(.customHeaders(["Authorization: Bearer x", "X-A: b"]), to: &j)
        _ = try JobSettingRules.apply(.customHeadersWriteOnly(true), to: &j)
        XCTAssertEqual(name { try JobSettingRules.apply(.customHeadersWriteOnly(false), to: &j) }, .invalidArgs)
        XCTAssertEqual(try JobSettingRules.apply(.customHeadersWriteOnly(true), to: &j), [])
        XCTAssertEqual(name { try JobSettingRules.apply(.customHeaders(["NoColon"]), to: &j) }, .invalidArgs)
        XCTAssertEqual(name { try JobSettingRules.apply(.customHeaders(["A: b\r\nEvil: c"]), to: &j) }, .invalidArgs)
        XCTAssertEqual(name { try JobSettingRules.apply(.customHeaders([String(repeating: "a", count: 17000) + ": x"]), to: &j) }, .invalidArgs)
    }

    func testEnumsFlagsAndLists() throws {
        var j = job()
        XCTAssertEqual(name { try JobSettingRules.apply(.notifyFlags(0x20), to: &j) }, .invalidArgs)
        XCTAssertNoThrow(try JobSettingRules.apply(.notifyFlags(0x1f), to: &j))
        XCTAssertEqual(name { try JobSettingRules.apply(.notifyCommandLine(["relative/prog"]), to: &j) }, .invalidArgs)
        XCTAssertNoThrow(try JobSettingRules.apply(.notifyCommandLine(["/bin/true", "x"]), to: &j))
        XCTAssertEqual(name { try JobSettingRules.apply(.proxyUsage("sometimes"), to: &j) }, .invalidArgs)
        XCTAssertEqual(name { try JobSettingRules.apply(.proxyList("ftp://p:1"), to: &j) }, .invalidArgs)
        XCTAssertNoThrow(try JobSettingRules.apply(.proxyList("http://p.example:3128; q.example:8080"), to: &j))
        XCTAssertNoThrow(try JobSettingRules.apply(.proxyBypassList("<local> *.example.org 10.0.0.1"), to: &j))
        XCTAssertEqual(name { try JobSettingRules.apply(.redirectPolicy("sometimes"), to: &j) }, .invalidArgs)
        XCTAssertEqual(name { try JobSettingRules.apply(.transferPolicy("never"), to: &j) }, .invalidArgs)
    }

    func testCredentialsAndOwnership() throws {
        var j = job()
        try JobSettingRules.setCredential(.init(target: .server, scheme: .basic, userName: "u", password: "1"), on: &j)
        try JobSettingRules.setCredential(.init(target: .server, scheme: .basic, userName: "u", password: "2"), on: &j)
        XCTAssertEqual(j.secrets.credentials.count, 1, "same target and scheme replaces")
        XCTAssertEqual(j.secrets.credentials.first?.password, "2")
        XCTAssertThrowsError(try JobSettingRules.setCredential(.init(target: .server, scheme: .digest, userName: "", password: "p"), on: &j))
        XCTAssertThrowsError(try JobSettingRules.setCredential(.init(target: .proxy, scheme: .basic, userName: String(repeating: "u", count: 301), password: ""), on: &j))
        j.options.customHeaders = ["A: b"]
        j.options.notifyCommandLine = ["/bin/true"]
        _ = JobSettingRules.takeOwnership(of: &j, by: 0)
        XCTAssertEqual(j.owner, 0)
        XCTAssertTrue(j.secrets.isEmpty)
        XCTAssertEqual(j.options.customHeaders, [])
        XCTAssertEqual(j.options.notifyCommandLine, [])
    }

    func testRanges() throws {
        XCTAssertNoThrow(try InputValidation.ranges([.init(offset: 0, length: 10), .init(offset: 100, length: .max)]))
        XCTAssertThrowsError(try InputValidation.ranges([]))
        XCTAssertThrowsError(try InputValidation.ranges([.init(offset: 5, length: 0)]))
        XCTAssertThrowsError(try InputValidation.ranges([.init(offset: 0, length: 10), .init(offset: 9, length: 5)]))
        XCTAssertThrowsError(try InputValidation.ranges([.init(offset: 0, length: .max), .init(offset: 50, length: 5)]))
        XCTAssertThrowsError(try InputValidation.ranges([.init(offset: .max, length: 1)]))
        XCTAssertThrowsError(try JobLimits().checkRanges(501, exempt: false)) {
            XCTAssertEqual(($0 as? ServiceError)?.name, .tooManyRangesInFile)
        }
        XCTAssertNoThrow(try JobLimits().checkRanges(501, exempt: true))
    }

    func testBandwidthPolicy() {
        XCTAssertEqual(BandwidthPolicy.parseRate("20M"), 20 << 20)
        XCTAssertEqual(BandwidthPolicy.parseRate("512K"), 512 << 10)
        XCTAssertEqual(BandwidthPolicy.parseRate("1000"), 1000)
        XCTAssertNil(BandwidthPolicy.parseRate("fast"))
        XCTAssertEqual(BandwidthPolicy.parseTime("08:30"), 510)
        XCTAssertNil(BandwidthPolicy.parseTime("25:00"))
        let day = BandwidthPolicy(limit: 100, window: (start: 8 * 60, end: 17 * 60, limit: 0))
        XCTAssertEqual(day.cap(atMinute: 7 * 60), 100)
        XCTAssertEqual(day.cap(atMinute: 8 * 60), 0)
        XCTAssertEqual(day.cap(atMinute: 17 * 60), 100)
        XCTAssertEqual(day.minutesUntilChange(from: 7 * 60), 60)
        let night = BandwidthPolicy(limit: nil, window: (start: 22 * 60, end: 6 * 60, limit: 5))
        XCTAssertEqual(night.cap(atMinute: 23 * 60), 5)
        XCTAssertEqual(night.cap(atMinute: 5 * 60), 5)
        XCTAssertNil(night.cap(atMinute: 12 * 60))
        XCTAssertNil(BandwidthPolicy().minutesUntilChange(from: 0))
    }

    func testConfigSections() throws {
        let config = try ServiceConfig.parse("""
        [Bandwidth]
        BackgroundLimit=20M
        WindowStart=08:00
        WindowEnd=17:00
        WindowLimit=1M
        [Scheduler]
        TimeSlice=5
        [Limits]
        JobInactivityTimeout=100
        """)
        XCTAssertEqual(config.bandwidth.limit, 20 << 20)
        XCTAssertEqual(config.bandwidth.window?.limit, 1 << 20)
        XCTAssertEqual(config.timeSlice, 5)
        XCTAssertEqual(config.jobInactivityTimeout, 100)
        XCTAssertThrowsError(try ServiceConfig.parse("[Bandwidth]\nBackgroundLimit=lots\n")) {
            XCTAssertEqual(($0 as? ServiceConfig.ParseError)?.line, 2)
        }
        XCTAssertThrowsError(try ServiceConfig.parse("[Scheduler]\nTimeSlice=0\n"))
    }

    func testSchedulerTimeSlices() {
        let a = JobID.random(), b = JobID.random(), c = JobID.random()
        // a ran out its slice and b waits: b takes the turn.
        XCTAssertEqual(Scheduler.select([.init(id: a, priority: .normal, queuedSequence: 1, running: true, sliceExpired: true),
                                         .init(id: b, priority: .normal, queuedSequence: 2, running: false)]), [b])
        // Alone, a keeps running after its slice.
        XCTAssertEqual(Scheduler.select([.init(id: a, priority: .normal, queuedSequence: 1, running: true, sliceExpired: true)]), [a])
        // A lower priority waiting job does not take the turn.
        XCTAssertEqual(Scheduler.select([.init(id: a, priority: .high, queuedSequence: 1, running: true, sliceExpired: true),
                                         .init(id: c, priority: .low, queuedSequence: 0, running: false)]), [a])
    }

    func testFailureClassificationOfNewCases() {
        XCTAssertEqual(FailureClassifier.classify(.maximumDownloadSizeExceeded("x")).disposition, .fatal)
        XCTAssertEqual(FailureClassifier.classify(.maximumDownloadTimeExceeded("x")).code, .maxDownloadTime)
        XCTAssertEqual(FailureClassifier.classify(.validationFailed("x")).code, .validationFailed)
    }
}
