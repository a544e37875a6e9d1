import ArgumentParser
import BitsClient
import BitsSystem

/// `bitsctl add-files`: a file set from a list, all or none (bitsadmin /addfileset).
struct AddFiles: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add files listed in a file (`remote local` per line, `#` comments), all or none.")

    @OptionGroup var job: JobArgument
    @Argument(help: "The list file, or - for standard input.")
    var listFile: String
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let text: String
        if listFile == "-" {
            guard let contents = try? BorrowedDescriptor(StandardStream.standardInput.rawValue).readToEnd() else {
                throw ValidationError("Cannot read the list from standard input.")
            }
            text = String(decoding: contents, as: UTF8.self)
        } else {
            guard let contents = try? FileDescriptor.open(listFile, .readOnly).readToEnd() else {
                throw ValidationError("Cannot read the list file \"\(listFile)\".")
            }
            text = String(decoding: contents, as: UTF8.self)
        }
        let pairs = try FileListParser.parse(text).map { (remote: $0.remote, local: absolutePath($0.local)) }
        try await reportingErrors {
            let client = try connection.connect()
            for file in try await JobReference.resolve(job.job, client: client).addFiles(pairs) { print(file.path) }
        }
    }
}
