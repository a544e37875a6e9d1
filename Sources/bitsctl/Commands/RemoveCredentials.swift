import ArgumentParser
import BitsClient

/// `bitsctl remove-credentials` (bitsadmin /removecredentials).
struct RemoveCredentials: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove the job's credentials for a target and scheme.")

    @OptionGroup var job: JobArgument
    @Argument(help: "server or proxy.")
    var target: BitsJob.CredentialTarget
    @Argument(help: "basic, digest, ntlm or negotiate.")
    var scheme: BitsJob.AuthScheme
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await reportingErrors {
            try await JobReference.resolve(job.job, client: connection.connect()).removeCredentials(target: target, scheme: scheme)
        }
    }
}
