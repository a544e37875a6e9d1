import BitsTransfer
import Foundation

/// Durability test hook: with `BITSD_FSYNC_FAILS=<text>` in its environment the daemon's fsync
/// of a finished file whose path contains <text> fails with EIO, without syncing, as a failing
/// disk would, so the integration tests can check that `Complete` does not publish it.
/// Without the variable `sync` is `fsync`.
enum FsyncFault {
    static let armed = ProcessInfo.processInfo.environment["BITSD_FSYNC_FAILS"].flatMap { $0.isEmpty ? nil : $0 }

    @Sendable static func sync(_ descriptor: Int32) -> Int32 {
        if let armed, descriptorName(descriptor).contains(armed) {
            errno = EIO
            return -1
        }
        return fsync(descriptor)
    }
}
