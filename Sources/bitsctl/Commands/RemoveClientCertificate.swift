import ArgumentParser
import BitsClient

/// `bitsctl remove-client-certificate`.
struct RemoveClientCertificate: JobActionCommand {
    static let configuration = CommandConfiguration(abstract: "Stop using a TLS client certificate.")

    @OptionGroup var job: JobArgument
    @OptionGroup var connection: ConnectionOptions

    func act(on job: BitsJob) async throws { try await job.removeClientCertificate() }
}
