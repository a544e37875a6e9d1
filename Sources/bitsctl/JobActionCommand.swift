import ArgumentParser
import BitsClient

/// A command that names one job and calls one method on it (resume, suspend, …).
protocol JobActionCommand: AsyncParsableCommand {
    var job: JobArgument { get }
    var connection: ConnectionOptions { get }
    func act(on job: BitsJob) async throws
}

extension JobActionCommand {
    func run() async throws {
        try await reportingErrors {
            try await act(on: JobReference.resolve(job.job, client: connection.connect()))
        }
    }
}
