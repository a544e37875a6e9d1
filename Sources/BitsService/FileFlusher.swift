import Foundation

/// Makes finished files durable in the background: each finished file is fsynced on a
/// serial queue while the job goes on with its next file; Complete waits only for what is
/// still pending before it renames. (A file-system-wide syncfs would also flush every other
/// program's dirty data.)
final class FileFlusher: @unchecked Sendable {
    private let queue = DispatchQueue(label: "bitsd.flush", qos: .utility)

    /// Schedules an fsync of the file behind `descriptor` (a duplicate is kept until done).
    func flush(_ descriptor: Int32) {
        let copy = dup(descriptor)
        guard copy >= 0 else { fsync(descriptor); return }
        queue.async {
            fsync(copy)
            close(copy)
        }
    }

    /// Waits until every scheduled flush is done.
    func waitForPending() {
        queue.sync {}
    }
}
