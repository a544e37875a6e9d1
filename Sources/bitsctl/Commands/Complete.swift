import ArgumentParser
import BitsClient

/// `bitsctl complete`.
struct Complete: JobActionCommand {
    static let configuration = CommandConfiguration(abstract: "Complete the job: transferred files appear under their names.")

    @OptionGroup var job: JobArgument
    @OptionGroup var connection: ConnectionOptions

    func act(on job: BitsJob) async throws { try await job.complete() }
}
