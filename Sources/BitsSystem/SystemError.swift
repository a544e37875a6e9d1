import Glibc

/// A failed system call: its errno, the call, and the path it was about when there is one.
/// Every throwing function of BitsSystem throws this (typed throws), never a bare -1.
public struct SystemError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The errno value (compare with `Errno`).
    public let code: Int32
    /// The call that failed, e.g. "openat".
    public let operation: String
    /// The path (or name inside a directory) the call was about, if any.
    public let path: String?

    public init(code: Int32, operation: String, path: String? = nil) {
        self.code = code
        self.operation = operation
        self.path = path
    }

    /// The error the calling thread's errno describes, right after `operation` failed.
    static func last(_ operation: String, path: String? = nil) -> SystemError {
        SystemError(code: errno, operation: operation, path: path)
    }

    /// strerror's text of `code` ("No such file or directory").
    public var text: String { Self.text(of: code) }

    /// strerror's text of an errno value.
    public static func text(of code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }

    public var description: String {
        if let path { return "\(operation) '\(path)': \(text)" }
        return "\(operation): \(text)"
    }
}

/// The errno values other modules tell apart, so they need not import Glibc.
public enum Errno {
    public static let notPermitted = EPERM
    public static let noEntry = ENOENT
    public static let interrupted = EINTR
    public static let io = EIO
    public static let badDescriptor = EBADF
    public static let noDevice = ENXIO
    public static let accessDenied = EACCES
    public static let exists = EEXIST
    public static let crossDevice = EXDEV
    public static let noSuchDevice = ENODEV
    public static let notDirectory = ENOTDIR
    public static let isDirectory = EISDIR
    public static let fileTooLarge = EFBIG
    public static let noSpace = ENOSPC
    public static let readOnlyFileSystem = EROFS
    public static let brokenPipe = EPIPE
    public static let tooManyLinks = ELOOP
    public static let quotaExceeded = EDQUOT
}

/// Runs `call` until it is not interrupted by a signal (EINTR); returns its last result.
@inline(__always)
func retryingInterrupted<T: SignedInteger>(_ call: () -> T) -> T {
    while true {
        let result = call()
        if result < 0 && errno == EINTR { continue }
        return result
    }
}
