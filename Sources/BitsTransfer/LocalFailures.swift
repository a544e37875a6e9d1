import BitsCore
import BitsSystem

/// Local file errors (errno values) as `TransferFailure` facts: writing the destination,
/// reading a local source, making a file durable.
extension FailureMapping {
    /// A failed write (or truncate) of the destination.
    static func writeFailure(errno code: Int32, destination: String, source: String) -> TransferFailure {
        localWriteFailure(errno: code, "Writing \(destination) failed: \(errnoText(code)) (while downloading \(source)).")
    }

    /// A local write failing with `code`, described by `text`: a full disk or quota is
    /// transient, refused access and every other error are not.
    static func localWriteFailure(errno code: Int32, _ text: String) -> TransferFailure {
        switch code {
        case Errno.noSpace, Errno.quotaExceeded: return .diskFull(text)
        case Errno.accessDenied, Errno.notPermitted: return .localAccessDenied(text)
        default: return .localIO(text)
        }
    }

    /// A failed read of a local source.
    static func readFailure(errno code: Int32, source: String) -> TransferFailure {
        let text = "Reading \(source) failed: \(errnoText(code))."
        switch code {
        case Errno.accessDenied, Errno.notPermitted: return .localAccessDenied(text)
        default: return .localIO(text)
        }
    }

    static func errnoText(_ code: Int32) -> String { SystemError.text(of: code) }
}

/// A readable name for a descriptor (its path via /proc/self/fd), for messages.
public func descriptorName(_ fd: Int32) -> String {
    FileDescriptor.name(of: fd) ?? "descriptor \(fd)"
}

extension TransferFailure {
    /// A finished file that could not be made durable: its fsync failed with `code`. Reads
    /// "`subject` could not be made durable: <errno text>; `consequence`".
    public static func notDurable(errno code: Int32, _ subject: String, _ consequence: String) -> TransferFailure {
        FailureMapping.localWriteFailure(
            errno: code, "\(subject) could not be made durable: \(FailureMapping.errnoText(code)); \(consequence)")
    }
}
