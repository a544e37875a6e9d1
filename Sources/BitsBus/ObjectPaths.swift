import BitsCore

/// The object paths of the contract: the manager, jobs and files.
enum ObjectPaths {
    static let manager = "/org/example/Bits"
    static let jobsRoot = "/org/example/Bits/jobs"

    static func job(_ id: JobID) -> String { "\(jobsRoot)/\(id.hex)" }
    static func file(_ id: JobID, _ index: Int) -> String { "\(jobsRoot)/\(id.hex)/files/\(index)" }

    /// What an object path below the jobs root names.
    enum Target: Equatable {
        case job(JobID)
        case file(JobID, Int)
    }

    static func parse(_ path: String) -> Target? {
        guard path.hasPrefix(jobsRoot + "/") else { return nil }
        let parts = path.dropFirst(jobsRoot.count + 1).split(separator: "/", omittingEmptySubsequences: false)
        guard let first = parts.first, let id = JobID(pathElement: String(first)) else { return nil }
        if parts.count == 1 { return .job(id) }
        if parts.count == 3, parts[1] == "files", let index = Int(parts[2]), index >= 0,
           String(index) == parts[2] {
            return .file(id, index)
        }
        return nil
    }
}
