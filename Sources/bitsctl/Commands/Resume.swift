import ArgumentParser
import BitsClient

/// `bitsctl resume`.
struct Resume: JobActionCommand {
    static let configuration = CommandConfiguration(abstract: "Queue the job (from suspended, error or transient-error).")

    @OptionGroup var job: JobArgument
    @OptionGroup var connection: ConnectionOptions

    func act(on job: BitsJob) async throws { try await job.resume() }
}
