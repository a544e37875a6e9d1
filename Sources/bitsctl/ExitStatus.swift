import ArgumentParser
import BitsClient

/// The documented exit statuses (see `bitsctl --help`).
enum ExitStatus {
    static let failed: Int32 = 1
    static let notFound: Int32 = 2
    static let accessDenied: Int32 = 3
    static let unavailable: Int32 = 4
    static let interrupted: Int32 = 130

    /// The status for a client error.
    static func code(for error: BitsClientError) -> Int32 {
        switch error.code {
        case .notFound: notFound
        case .accessDenied, .interactiveAuthorizationRequired: accessDenied
        case .serviceUnavailable, .timedOut: unavailable
        default: failed
        }
    }
}

/// A failure to report: its message on stderr, then exit with `status`.
struct CommandFailure: Error, CustomStringConvertible {
    let message: String
    let status: Int32
    var description: String { message }
}

extension AsyncParsableCommand {
    /// Runs `body`; a client error or `CommandFailure` becomes "bitsctl: message" on stderr
    /// and the documented exit status.
    func reportingErrors(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as BitsClientError {
            printError(error.message.isEmpty ? error.name : error.message)
            throw ExitCode(ExitStatus.code(for: error))
        } catch let failure as CommandFailure {
            printError(failure.message)
            throw ExitCode(failure.status)
        }
    }
}

/// Writes "bitsctl: message" to stderr.
func printError(_ message: String) {
    Terminal.writeError("bitsctl: \(message)\n")
}
