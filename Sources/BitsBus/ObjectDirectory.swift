import BitsCore
import BitsSystem

/// The exported job objects and their owners, readable synchronously by GDBus's
/// enumeration/introspection callbacks (which cannot await the queue manager).
final class ObjectDirectory: @unchecked Sendable {
    private let lock = ConditionLock()
    private var jobs: [JobID: (owner: UInt32, files: Int)] = [:]
    private var filesRegistrations: [JobID: UInt32] = [:]

    func set(_ id: JobID, owner: UInt32, files: Int) { lock.withLock { jobs[id] = (owner, files) } }
    func hasFilesRegistration(_ id: JobID) -> Bool { lock.withLock { filesRegistrations[id] != nil } }
    func setFilesRegistration(_ id: JobID, _ registration: UInt32) { lock.withLock { filesRegistrations[id] = registration } }

    /// Removes a job; returns its files-subtree registration to unexport.
    func remove(_ id: JobID) -> UInt32? {
        lock.withLock {
            jobs.removeValue(forKey: id)
            return filesRegistrations.removeValue(forKey: id)
        }
    }

    /// Job ids visible to `uid` (all for an administrator).
    func jobs(visibleTo uid: UInt32, administrator: Bool) -> [JobID] {
        lock.withLock { jobs.filter { administrator || $0.value.owner == uid }.map(\.key) }
    }

    /// The owner and file count of a job, if exported.
    func entry(_ id: JobID) -> (owner: UInt32, files: Int)? { lock.withLock { jobs[id] } }
}
