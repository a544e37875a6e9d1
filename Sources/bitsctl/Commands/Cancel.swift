import ArgumentParser
import BitsClient

/// `bitsctl cancel`.
struct Cancel: JobActionCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel the job: temporary and uncompleted files are deleted.")

    @OptionGroup var job: JobArgument
    @OptionGroup var connection: ConnectionOptions

    func act(on job: BitsJob) async throws { try await job.cancel() }
}
