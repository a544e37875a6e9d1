import ArgumentParser
import BitsClient

/// `bitsctl replace-remote-prefix` (bitsadmin /replaceremoteprefix).
struct ReplaceRemotePrefix: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Change the start of every file's URL; prints how many changed.")

    @OptionGroup var job: JobArgument
    @Argument var oldPrefix: String
    @Argument var newPrefix: String
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await reportingErrors {
            print(try await JobReference.resolve(job.job, client: connection.connect()).replaceRemotePrefix(oldPrefix, with: newPrefix))
        }
    }
}
