import ArgumentParser
import BitsClient

/// `bitsctl set-client-certificate`: PEM files the job's owner can read.
struct SetClientCertificate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Use a TLS client certificate (PEM certificate and key files).")

    @OptionGroup var job: JobArgument
    @Argument var certificateFile: String
    @Argument var privateKeyFile: String
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await reportingErrors {
            try await JobReference.resolve(job.job, client: connection.connect())
                .setClientCertificate(certificateFile: absolutePath(certificateFile), privateKeyFile: absolutePath(privateKeyFile))
        }
    }
}
