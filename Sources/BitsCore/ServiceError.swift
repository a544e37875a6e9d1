/// An error a method call answers with: a D-Bus error name and one sentence naming the value.
public struct ServiceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The error names of the contract (api.md "Errors returned by methods").
    public enum Name: String, Sendable, CaseIterable {
        case notFound = "org.example.Bits.Error.NotFound"
        case invalidState = "org.example.Bits.Error.InvalidState"
        case empty = "org.example.Bits.Error.Empty"
        case tooManyJobsPerUser = "org.example.Bits.Error.TooManyJobsPerUser"
        case tooManyJobsPerMachine = "org.example.Bits.Error.TooManyJobsPerMachine"
        case tooManyFilesInJob = "org.example.Bits.Error.TooManyFilesInJob"
        case tooManyRangesInFile = "org.example.Bits.Error.TooManyRangesInFile"
        case tooManyFiles = "org.example.Bits.Error.TooManyFiles"
        case tooLarge = "org.example.Bits.Error.TooLarge"
        case notSupported = "org.example.Bits.Error.NotSupported"
        case invalidArgs = "org.freedesktop.DBus.Error.InvalidArgs"
        case accessDenied = "org.freedesktop.DBus.Error.AccessDenied"
        case interactiveAuthorizationRequired = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
        case failed = "org.freedesktop.DBus.Error.Failed"
    }

    public let name: Name
    public let message: String
    /// The job error this refusal becomes when it happens during a transfer rather than in a
    /// method call (e.g. `not-a-regular-file`); nil: derived from `name`.
    public var jobErrorCode: ErrorCode?

    public init(_ name: Name, _ message: String, jobErrorCode: ErrorCode? = nil) {
        self.name = name
        self.message = message
        self.jobErrorCode = jobErrorCode
    }

    /// A local path that is not a regular file (InvalidArgs; `not-a-regular-file` in a job).
    public static func notRegularFile(_ message: String) -> ServiceError {
        .init(.invalidArgs, message, jobErrorCode: .notARegularFile)
    }

    public var description: String { "\(name.rawValue): \(message)" }

    public static func invalidArgs(_ message: String) -> ServiceError { .init(.invalidArgs, message) }
    public static func notFound(_ message: String) -> ServiceError { .init(.notFound, message) }
    public static func accessDenied(_ message: String) -> ServiceError { .init(.accessDenied, message) }
    public static func invalidState(_ message: String) -> ServiceError { .init(.invalidState, message) }
}
