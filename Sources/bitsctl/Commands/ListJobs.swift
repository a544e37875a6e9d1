import ArgumentParser
import BitsClient

/// `bitsctl list`: jobs with state and progress (bitsadmin /list).
struct ListJobs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List your jobs (every user's with --all-users).")

    @Flag(name: .long, help: "Every user's jobs (administrators; polkit may ask for a password).")
    var allUsers = false
    @Flag(name: .long, help: "Also list each job's files.")
    var verbose = false
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await reportingErrors {
            let client = try connection.connect()
            if allUsers { _ = try await client.listJobs(allUsers: true, interactive: true) }
            let snapshot = try await client.snapshot(allUsers: allUsers)
            if output.json {
                return JSONOutput.print(snapshot.map { JSONOutput.job($0.job, files: verbose ? $0.files : nil) })
            }
            for entry in snapshot {
                print(Self.line(entry.job))
                if verbose { for file in entry.files { print("    " + ListFiles.line(file)) } }
            }
            if snapshot.isEmpty { print("No jobs.") }
        }
    }

    /// bitsadmin's line: `{GUID} name STATE files / files bytes / bytes`.
    static func line(_ job: JobProperties) -> String {
        var text = "{\(job.id)} \"\(job.displayName)\" \(job.state.rawValue.uppercased()) \(job.filesTransferred) / \(job.filesTotal) "
            + "\(job.bytesTransferred) / \(job.bytesTotal.map(String.init) ?? "UNKNOWN")"
        if let error = HumanFormat.error(job) { text += " [\(error)]" }
        return text
    }
}
