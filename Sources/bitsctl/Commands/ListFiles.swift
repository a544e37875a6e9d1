import ArgumentParser
import BitsClient

/// `bitsctl files`: a job's files (bitsadmin /listfiles).
struct ListFiles: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "files", abstract: "List a job's files with their progress.")

    @OptionGroup var job: JobArgument
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await reportingErrors {
            let files = try await JobReference.resolve(job.job, client: connection.connect()).fileProperties()
            if output.json { return JSONOutput.print(files.map { JSONOutput.file($0) }) }
            for file in files { print(Self.line(file)) }
        }
    }

    /// "0 done 1.0 MiB / 1.0 MiB https://… -> /home/…".
    static func line(_ file: FileProperties) -> String {
        let status = file.completed ? "done" : (file.bytesTransferred > 0 ? "partial" : "pending")
        return "\(file.index.map(String.init) ?? "?") \(status) \(HumanFormat.bytes(file.bytesTransferred)) / "
            + "\(HumanFormat.size(file.bytesTotal)) \(file.remoteName) -> \(file.localName)"
    }
}
