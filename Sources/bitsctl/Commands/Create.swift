import ArgumentParser
import BitsClient

/// `bitsctl create`: a new suspended job (bitsadmin /create).
struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a job (suspended); prints its GUID.")

    @Option(name: .long, help: "download, upload or upload-reply.")
    var type: String = "download"
    @Argument(help: "Display name (need not be unique).")
    var displayName: String
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        guard let jobType = JobType(rawValue: type) else {
            throw ValidationError("\"\(type)\" is not a job type; use download, upload or upload-reply.")
        }
        try await reportingErrors {
            let job = try await connection.connect().createJob(displayName: displayName, type: jobType)
            if output.json { JSONOutput.print([JobProperty.id.name: job.id, "Path": job.path]) } else { print(job.id) }
        }
    }
}
