/// The limits in force (`[Limits]` of bitsd.conf; defaults as BITS).
public struct JobLimits: Sendable, Equatable {
    public var maxJobsPerUser: UInt32 = 60
    public var maxJobsPerMachine: UInt32 = 300
    public var maxFilesPerJob: UInt32 = 200
    public var maxRangesPerFile: UInt32 = 500

    public init() {}

    /// Checks a new job against the per-user and per-machine limits. `exempt` callers
    /// (administrators) skip both.
    public func checkNewJob(ownerJobs: Int, machineJobs: Int, uid: UInt32, exempt: Bool) throws {
        if exempt { return }
        if ownerJobs >= Int(maxJobsPerUser) {
            throw ServiceError(.tooManyJobsPerUser,
                               "User \(uid) already has \(ownerJobs) jobs; the limit is \(maxJobsPerUser) per user. Complete or cancel finished jobs.")
        }
        if machineJobs >= Int(maxJobsPerMachine) {
            throw ServiceError(.tooManyJobsPerMachine,
                               "The machine already has \(machineJobs) jobs; the limit is \(maxJobsPerMachine).")
        }
    }

    /// Checks adding `adding` files to a job that has `existing`.
    public func checkFiles(existing: Int, adding: Int, jobID: JobID, exempt: Bool) throws {
        if exempt { return }
        if existing + adding > Int(maxFilesPerJob) {
            throw ServiceError(.tooManyFilesInJob,
                               "Job \(jobID) would have \(existing + adding) files; the limit is \(maxFilesPerJob) per job.")
        }
    }

    /// Checks the number of ranges of one file.
    public func checkRanges(_ count: Int, exempt: Bool) throws {
        if exempt { return }
        if count > Int(maxRangesPerFile) {
            throw ServiceError(.tooManyRangesInFile, "\(count) ranges were given; the limit is \(maxRangesPerFile) per file.")
        }
    }
}
