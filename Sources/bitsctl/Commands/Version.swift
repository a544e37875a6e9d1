import ArgumentParser
import BitsClient

/// `bitsctl version`: the service's version and limits (bitsadmin /util /version).
struct Version: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the service's version and limits.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await reportingErrors {
            let client = try connection.connect()
            let version = try await client.version()
            let limits = try await client.limits()
            if output.json {
                return JSONOutput.print([ManagerProperty.version.name: version,
                                         ManagerProperty.maxJobsPerUser.name: limits.maxJobsPerUser,
                                         ManagerProperty.maxJobsPerMachine.name: limits.maxJobsPerMachine,
                                         ManagerProperty.maxFilesPerJob.name: limits.maxFilesPerJob,
                                         ManagerProperty.maxRangesPerFile.name: limits.maxRangesPerFile])
            }
            print("bitsd \(version)")
            print("limits: \(limits.maxJobsPerUser) jobs per user, \(limits.maxJobsPerMachine) per machine, "
                  + "\(limits.maxFilesPerJob) files per job, \(limits.maxRangesPerFile) ranges per file")
        }
    }
}
