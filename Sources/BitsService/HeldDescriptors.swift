import BitsSystem
import Synchronization

/// Descriptors of a user's files that the queue manager holds: a file opened ahead for its
/// transfer, the files of a transfer in flight, an upload run's source. Each is closed exactly
/// once, by `closer` (the queue manager's hands them to a file worker: a close can block on
/// NFS or FUSE) when the last holder lets go of this object — unless it was handed on first
/// with `take` (the flusher adopts a finished file). Nothing closes them by hand, so none is
/// leaked or closed twice. The engine borrows the numbers while the transfer holding this
/// object is in flight.
///
/// A final class rather than a non-copyable struct: the queue manager keeps these in
/// dictionaries and `Result`s of its runtime, which hold copyable values only.
final class HeldDescriptors: Sendable {
    /// Closes what is left when the holder lets go.
    typealias Closer = @Sendable ([Int32]) -> Void

    private let held: Mutex<[Int32]>
    private let closer: Closer

    /// Takes ownership of `descriptors` (raw numbers taken from `FileDescriptor`s).
    init(_ descriptors: [Int32], closer: @escaping Closer) {
        held = Mutex(descriptors)
        self.closer = closer
    }

    /// The numbers held, in order (borrowed: valid while this object lives).
    var numbers: [Int32] { held.withLock { $0 } }

    /// Hands `descriptor` on: from now on the caller owns it. Nil if it is not held.
    func take(_ descriptor: Int32) -> FileDescriptor? {
        let taken = held.withLock { numbers -> Bool in
            guard let index = numbers.firstIndex(of: descriptor) else { return false }
            numbers.remove(at: index)
            return true
        }
        return taken ? FileDescriptor(adopting: descriptor) : nil
    }

    deinit {
        let left = held.withLock { $0 }
        if !left.isEmpty { closer(left) }
    }
}
