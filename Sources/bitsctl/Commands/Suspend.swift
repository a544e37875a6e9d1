import ArgumentParser
import BitsClient

/// `bitsctl suspend`.
struct Suspend: JobActionCommand {
    static let configuration = CommandConfiguration(abstract: "Suspend the job.")

    @OptionGroup var job: JobArgument
    @OptionGroup var connection: ConnectionOptions

    func act(on job: BitsJob) async throws { try await job.suspend() }
}
