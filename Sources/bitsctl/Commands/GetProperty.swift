import ArgumentParser
import BitsClient

/// `bitsctl get`: one property of a job or of one of its files (bitsadmin /getstate, …).
struct GetProperty: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Print one property of a job (or of its file with --file), e.g. State, BytesTransferred, Ranges.")

    @OptionGroup var job: JobArgument
    @Argument(help: "The property's D-Bus name (see `bitsctl info`).")
    var property: String
    @Option(name: .long, help: "The file's 0-based index, for file properties.")
    var file: Int?
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await reportingErrors {
            let handle = try await JobReference.resolve(job.job, client: connection.connect())
            let value: Variant
            if let file {
                value = try await FileSelection.file(file, of: handle).property(property)
            } else {
                value = try await handle.property(property)
            }
            if output.json { JSONOutput.print(JSONOutput.value(value)) } else { print(HumanFormat.value(value)) }
        }
    }
}

/// A job's file by index, or "no such file" (exit status 2).
enum FileSelection {
    static func file(_ index: Int, of job: BitsJob) async throws -> BitsFile {
        let files = try await job.files()
        guard files.indices.contains(index) else {
            throw CommandFailure(message: "The job has \(files.count) file(s); there is no file \(index).",
                                 status: ExitStatus.notFound)
        }
        return files[index]
    }
}
