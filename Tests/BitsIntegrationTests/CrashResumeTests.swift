import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// After a crash transfers continue from the bytes on disk (issue 18): `kill -9` at random
/// moments, a restart after each, and the downloads resume with Range where they were. After
/// a (simulated) reboot only fsynced bytes are trusted; the results are byte-identical either way.
final class CrashResumeTests: BitsTestCase {
    /// Bytes per second the server sends each request.
    static let rate = "250000"

    func testCrashRoundsResumeFromTheBytesOnDisk() throws {
        let figures = try crashRounds(reboots: false)
        XCTAssertGreaterThanOrEqual(figures.resumedShare, 0.75, "resumed share \(figures)")
        XCTAssertLessThanOrEqual(figures.downloadedRatio, 1.3, "bytes downloaded against the files' \(figures)")
    }

    func testCrashRoundsWithSimulatedReboots() throws {
        _ = try crashRounds(reboots: true)
    }

    struct Figures: CustomStringConvertible {
        var rounds = 0
        var jobs = 0
        var resumable = 0
        var resumed = 0
        var bytesSent = 0
        var bytesOfFiles = 0
        var resumedShare: Double { resumable == 0 ? 0 : Double(resumed) / Double(resumable) }
        var downloadedRatio: Double { bytesOfFiles == 0 ? 0 : Double(bytesSent) / Double(bytesOfFiles) }
        var description: String {
            String(format: "%d rounds, %d jobs, %d of %d requests after a restart resumed past byte 0 (%.0f %%), "
                   + "%d bytes sent for %d bytes of files (%.2fx)", rounds, jobs, resumed, resumable,
                   resumedShare * 100, bytesSent, bytesOfFiles, downloadedRatio)
        }
    }

    /// Two users, six jobs (foreground and background, two files each; one HighPerformance,
    /// one of ranges) from a slow server;
    /// ten `kill -9` 1.5-5 s apart (seeded), a restart after each; then every job finishes and
    /// is completed. Checks no job is lost or duplicated, every file is byte-identical, no
    /// temporary file is left, and returns the figures (every request's Range is logged by
    /// the server).
    func crashRounds(reboots: Bool) throws -> Figures {
        var generator = SeededGenerator(seed: reboots ? 18_2 : 18_1)
        var figures = Figures()
        var jobs: [(user: TestUser, path: String, dir: String, tags: [String], ranged: Bool)] = []
        let source = try Data(contentsOf: URL(fileURLWithPath: "\(env.directory)/www/big.bin"))
        // Job 1 writes straight to its destinations (HighPerformance), job 4 downloads ranges.
        let ranges: [[UInt64]] = [[0, 600_000], [700_000, UInt64.max]]
        let rangedContent = source.prefix(600_000) + source.dropFirst(700_000)
        for (n, user) in [alice, alice, alice, bob, bob, bob].enumerated() {
            let dir = try downloadDirectory(user, "crash-\(reboots)-\(n)")
            let job = try createJob(as: user, name: "crash \(n)")
            try mustSetProperty(as: user, job, "Priority", type: "s", value: n % 2 == 0 ? "foreground" : "normal")
            if n == 1 { try mustSetProperty(as: user, job, "HighPerformance", type: "b", value: true) }
            var tags: [String] = []
            for f in 0..<2 {
                let tag = "crash-\(reboots)-\(n)-\(f)-\(UUID().uuidString.prefix(6))"
                tags.append(tag)
                let url = http.url("/big.bin", [("rate", Self.rate)], tag: tag)
                if n == 4 {
                    _ = try mustCall(as: user, job, BitsNames.job, "AddFileWithRanges", "ssa(tt)", [url, "\(dir)/f\(f).bin", ranges])
                } else {
                    _ = try addFile(as: user, job: job, url: url, local: "\(dir)/f\(f).bin")
                }
            }
            try resume(as: user, job: job)
            jobs.append((user, job, dir, tags, n == 4))
            figures.bytesOfFiles += 2 * (n == 4 ? rangedContent.count : source.count)
        }
        figures.jobs = jobs.count
        let allTags = jobs.flatMap(\.tags)
        func requestsByTag() throws -> [String: [JSONValue]] {
            Dictionary(uniqueKeysWithValues: try allTags.map { ($0, try http.requests(tag: $0).filter { $0["method"]?.string == "GET" }) })
        }
        for round in 0..<10 {
            usleep(useconds_t(Double.random(in: 1.5...5.0, using: &generator) * 1_000_000))
            let before = try requestsByTag()
            daemon.crash()
            if reboots { try daemon.simulateReboot() }
            try daemon.start()
            figures.rounds = round + 1
            // The first request of each file that had been requested before: did it resume?
            usleep(1_500_000)
            let after = try requestsByTag()
            for tag in allTags {
                // Files the server had sent bytes of (the others have nothing to resume from).
                guard let earlier = before[tag], earlier.contains(where: { ($0["body_bytes_sent"]?.int ?? 0) > 0 }),
                      let next = after[tag]?.dropFirst(earlier.count).first else { continue }
                figures.resumable += 1
                let start = next["range"]?.string.flatMap { Int($0.dropFirst(6).split(separator: "-").first ?? "") } ?? 0
                if start > 0 {
                    figures.resumed += 1
                } else {
                    let history = earlier.map { "\($0["range"]?.string ?? "-"):\($0["body_bytes_sent"]?.int ?? 0)" }
                    print("round \(round): \(tag) started again from 0 after \(history)")
                }
            }
        }
        for owner in [alice, bob] {
            let listed = Set(try listJobs(as: owner).first?.stringArray ?? [])
            XCTAssertEqual(listed, Set(jobs.filter { $0.user == owner }.map(\.path)), "jobs of \(owner) after the crashes")
        }
        for job in jobs {
            try waitForState(as: job.user, job: job.path, ["transferred"], timeout: 180)
            try complete(as: job.user, job: job.path)
            for f in 0..<2 {
                let data = try Data(contentsOf: URL(fileURLWithPath: "\(job.dir)/f\(f).bin"))
                XCTAssertTrue(data == (job.ranged ? rangedContent : source), "\(job.dir)/f\(f).bin differs (\(data.count) bytes)")
            }
            XCTAssertEqual(TestFiles.listing(job.dir).sorted(), ["f0.bin", "f1.bin"], "left in \(job.dir)")
        }
        let all = try requestsByTag()
        figures.bytesSent = all.values.joined().compactMap { $0["body_bytes_sent"]?.int }.reduce(0, +)
        print("crash rounds (\(reboots ? "simulated reboots" : "same boot")): \(figures)")
        return figures
    }
}

/// SplitMix64, so the kill moments repeat from run to run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
