import BitsCore

/// An error from the service or the bus, typed by its D-Bus error name. `message` is the
/// service's one sentence naming the value concerned.
public struct BitsClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, from the D-Bus error name (api.md "Errors returned by methods").
    public enum Code: String, Sendable, CaseIterable {
        case notFound, invalidState, empty
        case tooManyJobsPerUser, tooManyJobsPerMachine, tooManyFilesInJob, tooManyRangesInFile, tooManyFiles
        case tooLarge, notSupported, invalidArgs, accessDenied, interactiveAuthorizationRequired
        /// The service is not running and could not be started, or the bus is unreachable.
        case serviceUnavailable
        /// No reply in time.
        case timedOut
        /// Anything else (`org.freedesktop.DBus.Error.Failed` and unknown names).
        case failed
    }

    public let code: Code
    /// The D-Bus error name as received.
    public let name: String
    public let message: String

    public init(code: Code, name: String, message: String) {
        self.code = code
        self.name = name
        self.message = message
    }

    /// An error from its D-Bus name.
    public init(name: String, message: String) {
        self.init(code: Self.code(forName: name), name: name, message: message)
    }

    public var description: String { message.isEmpty ? name : message }

    static func code(forName name: String) -> Code {
        if let known = ServiceError.Name(rawValue: name) {
            switch known {
            case .notFound: return .notFound
            case .invalidState: return .invalidState
            case .empty: return .empty
            case .tooManyJobsPerUser: return .tooManyJobsPerUser
            case .tooManyJobsPerMachine: return .tooManyJobsPerMachine
            case .tooManyFilesInJob: return .tooManyFilesInJob
            case .tooManyRangesInFile: return .tooManyRangesInFile
            case .tooManyFiles: return .tooManyFiles
            case .tooLarge: return .tooLarge
            case .notSupported: return .notSupported
            case .invalidArgs: return .invalidArgs
            case .accessDenied: return .accessDenied
            case .interactiveAuthorizationRequired: return .interactiveAuthorizationRequired
            case .failed: return .failed
            }
        }
        switch name {
        case "org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner",
             "org.freedesktop.DBus.Error.Disconnected", "org.freedesktop.DBus.Error.FileNotFound",
             "org.freedesktop.DBus.Error.NoServer":
            return .serviceUnavailable
        case "org.freedesktop.DBus.Error.NoReply", "org.freedesktop.DBus.Error.Timeout",
             "org.freedesktop.DBus.Error.TimedOut":
            return .timedOut
        case "org.freedesktop.DBus.Error.UnknownObject", "org.freedesktop.DBus.Error.UnknownMethod",
             "org.freedesktop.DBus.Error.UnknownInterface":
            return .notFound
        case "org.freedesktop.DBus.Error.UnknownProperty", "org.freedesktop.DBus.Error.PropertyReadOnly":
            return .invalidArgs
        default:
            if name.hasPrefix("org.freedesktop.DBus.Error.Spawn.") { return .serviceUnavailable }
            return .failed
        }
    }
}
