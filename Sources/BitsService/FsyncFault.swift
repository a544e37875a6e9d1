import BitsSystem
import BitsTransfer
import Foundation

/// Durability test hook: with `BITSD_FSYNC_FAILS=<text>` in its environment the daemon's fsync
/// of a finished file whose path contains <text> fails with EIO, without syncing, as a failing
/// disk would, so the integration tests can check that `Complete` does not publish it.
/// Without the variable `sync` is `fsync`.
enum FsyncFault {
    static let armed = ProcessInfo.processInfo.environment["BITSD_FSYNC_FAILS"].flatMap { $0.isEmpty ? nil : $0 }

    @Sendable static func sync(_ descriptor: BorrowedDescriptor) throws(SystemError) {
        if let armed, descriptorName(descriptor.raw).contains(armed) {
            throw SystemError(code: Errno.io, operation: "fsync")
        }
        try descriptor.sync()
    }
}
