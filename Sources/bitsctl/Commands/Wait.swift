import ArgumentParser
import BitsClient

/// `bitsctl wait`: blocks until a job is transferred or fails, following its signals — the
/// scripting counterpart of `transfer` for jobs created step by step.
struct Wait: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Wait until the job is transferred (exit 0) or in error (exit 1); transient errors are waited through.")

    @OptionGroup var job: JobArgument
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await reportingErrors {
            let handle = try await JobReference.resolve(job.job, client: connection.connect())
            for try await update in handle.updates() {
                guard case .properties(let properties) = update else { continue }
                switch properties.state {
                case .transferred:
                    return
                case .error:
                    throw CommandFailure(message: "The job is in error: \(HumanFormat.error(properties) ?? "unknown error")",
                                         status: ExitStatus.failed)
                case .acknowledged, .cancelled:
                    throw CommandFailure(message: "The job was \(properties.state.rawValue).", status: ExitStatus.failed)
                default:
                    continue
                }
            }
            throw CommandFailure(message: "The job left the service.", status: ExitStatus.failed)
        }
    }
}
