/// The daemon's configuration file (`/etc/bits/bitsd.conf`), an INI file:
///
///     [Limits]
///     MaxJobsPerUser=60
///     MaxJobsPerMachine=300
///     MaxFilesPerJob=200
///     MaxRangesPerFile=500
///
///     JobInactivityTimeout=7776000
///
///     [Bandwidth]                  # background transfers only, all together
///     BackgroundLimit=20M          # bytes/s (K, M, G binary suffixes); absent = unlimited
///     WindowStart=08:00            # optional daily window (local time) with its own cap
///     WindowEnd=17:00
///     WindowLimit=1M               # 0 = background jobs wait during the window
///
///     [Scheduler]
///     TimeSlice=60                 # seconds a background job transfers before an equal takes its turn
///
///     [Notify]
///     NotifyTimeLimit=300          # seconds a NotifyCommandLine program may run before it is killed
///
/// Unknown sections are ignored (later versions add them); an unknown key, a malformed line
/// or a bad number is an error naming the line.
public struct ServiceConfig: Sendable, Equatable {
    public var limits = JobLimits()
    public var bandwidth = BandwidthPolicy()
    /// Seconds of a background job's turn among jobs of equal priority.
    public var timeSlice: UInt32 = 60
    /// Seconds without progress or change after which a job is cancelled.
    public var jobInactivityTimeout: UInt32 = 7_776_000
    /// Seconds a NotifyCommandLine program may run; then its process group is killed and
    /// the run counts as failed.
    public var notifyTimeLimit: UInt32 = 300

    public init() {}

    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    public static func parse(_ text: String) throws -> ServiceConfig {
        var config = ServiceConfig()
        var section = ""
        for (offset, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = offset + 1
            let line = raw.trimmingCharacters(in: " \t\r")
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), line.count > 2 else {
                    throw ParseError(line: lineNumber, message: "malformed section header '\(line)'")
                }
                section = String(line.dropFirst().dropLast())
                continue
            }
            guard let equals = line.firstIndex(of: "=") else {
                throw ParseError(line: lineNumber, message: "expected 'Key=Value', found '\(line)'")
            }
            let key = line[..<equals].trimmingCharacters(in: " \t")
            let value = line[line.index(after: equals)...].trimmingCharacters(in: " \t")
            func fail(_ message: String) -> ParseError { ParseError(line: lineNumber, message: message) }
            switch section {
            case "Bandwidth":
                switch key {
                case "BackgroundLimit":
                    guard let rate = BandwidthPolicy.parseRate(value) else { throw fail("BackgroundLimit must be bytes per second such as 20M, not '\(value)'") }
                    config.bandwidth.limit = rate == 0 ? nil : rate
                case "WindowStart", "WindowEnd":
                    guard let minute = BandwidthPolicy.parseTime(value) else { throw fail("\(key) must be a time HH:MM, not '\(value)'") }
                    var window = config.bandwidth.window ?? (0, 0, nil)
                    if key == "WindowStart" { window.start = minute } else { window.end = minute }
                    config.bandwidth.window = window
                case "WindowLimit":
                    guard let rate = BandwidthPolicy.parseRate(value) else { throw fail("WindowLimit must be bytes per second such as 1M, not '\(value)'") }
                    var window = config.bandwidth.window ?? (0, 0, nil)
                    window.limit = rate
                    config.bandwidth.window = window
                default: throw fail("unknown key '\(key)' in section [Bandwidth]")
                }
                continue
            case "Scheduler":
                guard key == "TimeSlice" else { throw fail("unknown key '\(key)' in section [Scheduler]") }
                guard let seconds = UInt32(value), seconds > 0 else { throw fail("TimeSlice must be a positive number of seconds, not '\(value)'") }
                config.timeSlice = seconds
                continue
            case "Notify":
                guard key == "NotifyTimeLimit" else { throw fail("unknown key '\(key)' in section [Notify]") }
                // At most a day: the limit is also kept in milliseconds as a C int.
                guard let seconds = UInt32(value), seconds > 0, seconds <= 86_400 else {
                    throw fail("NotifyTimeLimit must be a number of seconds from 1 to 86400, not '\(value)'")
                }
                config.notifyTimeLimit = seconds
                continue
            case "Limits": break
            default: continue
            }
            guard let number = UInt32(value) else {
                throw ParseError(line: lineNumber, message: "\(key) must be a whole number from 0 to 4294967295, not '\(value)'")
            }
            switch key {
            case "MaxJobsPerUser": config.limits.maxJobsPerUser = number
            case "MaxJobsPerMachine": config.limits.maxJobsPerMachine = number
            case "MaxFilesPerJob": config.limits.maxFilesPerJob = number
            case "MaxRangesPerFile": config.limits.maxRangesPerFile = number
            case "JobInactivityTimeout": config.jobInactivityTimeout = number
            default:
                throw ParseError(line: lineNumber, message: "unknown key '\(key)' in section [Limits]")
            }
        }
        return config
    }
}

private extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var s = self
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}

private extension String {
    func trimmingCharacters(in set: String) -> String { self[...].trimmingCharacters(in: set) }
}
