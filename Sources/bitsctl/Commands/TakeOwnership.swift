import ArgumentParser
import BitsClient

/// `bitsctl take-ownership`.
struct TakeOwnership: JobActionCommand {
    static let configuration = CommandConfiguration(abstract: "Become the job's owner (administrators); credentials and headers are dropped.")

    @OptionGroup var job: JobArgument
    @OptionGroup var connection: ConnectionOptions

    func act(on job: BitsJob) async throws { try await job.takeOwnership() }
}
