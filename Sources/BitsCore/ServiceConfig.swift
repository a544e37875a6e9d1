/// The daemon's configuration file (`/etc/bits/bitsd.conf`), an INI file:
///
///     [Limits]
///     MaxJobsPerUser=60
///     MaxJobsPerMachine=300
///     MaxFilesPerJob=200
///     MaxRangesPerFile=500
///
/// Unknown sections are ignored (later versions add them); an unknown key, a malformed line
/// or a bad number is an error naming the line.
public struct ServiceConfig: Sendable, Equatable {
    public var limits = JobLimits()

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
            guard section == "Limits" else { continue }
            guard let number = UInt32(value) else {
                throw ParseError(line: lineNumber, message: "\(key) must be a whole number from 0 to 4294967295, not '\(value)'")
            }
            switch key {
            case "MaxJobsPerUser": config.limits.maxJobsPerUser = number
            case "MaxJobsPerMachine": config.limits.maxJobsPerMachine = number
            case "MaxFilesPerJob": config.limits.maxFilesPerJob = number
            case "MaxRangesPerFile": config.limits.maxRangesPerFile = number
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
