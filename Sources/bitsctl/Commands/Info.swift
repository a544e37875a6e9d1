import ArgumentParser
import BitsClient
import BitsSystem

/// `bitsctl info`: every property of a job and its files (bitsadmin /info /verbose).
struct Info: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a job's properties and files.")

    @OptionGroup var job: JobArgument
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await reportingErrors {
            let handle = try await JobReference.resolve(job.job, client: connection.connect())
            let properties = try await handle.properties()
            let files = try await handle.fileProperties()
            if output.json { return JSONOutput.print(JSONOutput.job(properties, files: files)) }
            print(Self.text(properties, files: files))
        }
    }

    /// The human form: the main facts first, then every other property, then the files.
    static func text(_ job: JobProperties, files: [FileProperties]) -> String {
        var lines = [
            "Id: \(job.id)",
            "DisplayName: \(job.displayName)",
            "Type: \(job.type.rawValue)   State: \(job.state.rawValue)   Priority: \(job.priority.rawValue)   Owner: \(ownerName(job.owner))",
            "Progress: \(HumanFormat.progress(job))",
            "Rate: \(HumanFormat.rate(Double(job.bytesPerSecond)))   Time left: \(HumanFormat.timeLeft(job.estimatedTimeRemaining))",
            "Created: \(HumanFormat.time(job.creationTime))   Modified: \(HumanFormat.time(job.modificationTime))   Completed: \(HumanFormat.time(job.transferCompletionTime))",
        ]
        if let error = HumanFormat.error(job) { lines.append("Error: \(error) [\(job.errorCount) so far]") }
        let shown = Set(([.id, .displayName, .type, .state, .priority, .owner, .bytesTotal, .bytesTransferred,
                          .bytesPerSecond, .estimatedTimeRemaining, .filesTotal,
                          .filesTransferred, .creationTime, .modificationTime, .transferCompletionTime, .files] as [JobProperty]).map(\.name))
        for name in job.raw.keys.sorted() where !shown.contains(name) {
            lines.append("\(name): \(HumanFormat.value(job.raw[name]!).replacing("\n", with: " | "))")
        }
        lines.append("Files:")
        for file in files {
            lines.append("  " + ListFiles.line(file))
            if !file.expectedHash.isEmpty { lines.append("    ExpectedHash: \(file.expectedHash)") }
            if !file.hash.isEmpty { lines.append("    Hash: \(file.hash)") }
        }
        return lines.joined(separator: "\n")
    }

    static func ownerName(_ uid: UInt32) -> String {
        guard let entry = UserDatabase.user(uid: uid) else { return "\(uid)" }
        return "\(entry.name) (\(uid))"
    }
}
