import ArgumentParser
import BitsClient

/// `bitsctl add-file`: one file (bitsadmin /addfile).
struct AddFile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add a file: download REMOTE to LOCAL, or upload LOCAL to REMOTE (upload jobs).")

    @OptionGroup var job: JobArgument
    @Argument(help: "The URL (http, https, or file for downloads).")
    var remote: String
    @Argument(help: "The local file (relative names are taken from the current directory).")
    var local: String
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await reportingErrors {
            let client = try connection.connect()
            let file = try await JobReference.resolve(job.job, client: client).addFile(remote: remote, local: absolutePath(local))
            print(file.path)
        }
    }
}
