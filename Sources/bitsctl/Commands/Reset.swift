import ArgumentParser
import BitsClient

/// `bitsctl reset` (bitsadmin /reset): cancel every job.
struct Reset: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel all your jobs (every user's with --all-users).")

    @Flag(name: .long, help: "Every user's jobs (administrators).")
    var allUsers = false
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        try await reportingErrors {
            let jobs = try await connection.connect().listJobs(allUsers: allUsers, interactive: true)
            var failures = 0
            for job in jobs {
                do { try await job.cancel() } catch { failures += 1; printError("\(job.id): \(error)") }
            }
            print("\(jobs.count - failures) of \(jobs.count) job(s) cancelled.")
            if failures > 0 { throw CommandFailure(message: "\(failures) job(s) could not be cancelled.", status: ExitStatus.failed) }
        }
    }
}
