import ArgumentParser
import BitsClient

/// `bitsctl add-file-with-ranges` (bitsadmin /addfilewithranges).
struct AddFileWithRanges: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add a download of some ranges of REMOTE, written back to back into LOCAL.")

    @OptionGroup var job: JobArgument
    @Argument var remote: String
    @Argument var local: String
    @Argument(help: ArgumentHelp("Comma-separated offset:length pairs; length `eof` = to the end, e.g. 0:100,2000:100,5000:eof.",
                                 valueName: "ranges"))
    var ranges: String
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let parsed = try RangeListParser.parse(ranges)
        try await reportingErrors {
            let client = try connection.connect()
            let file = try await JobReference.resolve(job.job, client: client)
                .addFile(remote: remote, local: absolutePath(local), ranges: parsed)
            print(file.path)
        }
    }
}
