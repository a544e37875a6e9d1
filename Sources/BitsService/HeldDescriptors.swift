import BitsSystem
import Synchronization

/// Descriptors of a user's files that the queue manager holds: a file opened ahead for its
/// transfer (and a `file://` source), the files of a transfer in flight, an upload run's
/// source. Each is a `FileDescriptor` (non-copyable: it closes exactly once) kept here until
/// the last holder of this object lets go, and then closed by `closer` (the queue manager's
/// hands them to a file worker: a close can block on NFS or FUSE) — unless it was handed on
/// first with `take` (the flusher adopts a finished file). Nothing closes them by hand, so
/// none is leaked or closed twice. The engine borrows the `numbers` while the transfer
/// holding this object is in flight.
///
/// The holder is a final class around the non-copyable descriptors: the queue manager keeps
/// these in dictionaries and `Result`s of its runtime, which hold copyable values only.
final class HeldDescriptors: Sendable {
    /// Closes what is left when the holder lets go (raw numbers, owned by the closer now:
    /// a non-copyable value cannot travel in the closure that takes them to another thread).
    typealias Closer = @Sendable ([Int32]) -> Void

    /// The descriptors' numbers, in order (borrowed: valid while this object holds them).
    let numbers: [Int32]
    private let first: Mutex<FileDescriptor?>
    private let second: Mutex<FileDescriptor?>
    private let closer: Closer

    /// Takes ownership of `descriptor` and, if given, `other`.
    init(_ descriptor: consuming FileDescriptor, _ other: consuming FileDescriptor? = nil,
         closer: @escaping Closer) {
        var numbers = [descriptor.raw]
        switch consume other {
        case .some(let fd):
            numbers.append(fd.raw)
            second = Mutex(fd)
        case .none:
            second = Mutex(nil)
        }
        first = Mutex(descriptor)
        self.numbers = numbers
        self.closer = closer
    }

    /// Hands `descriptor` on: from now on the caller owns it. Nil if it is not held (any more).
    func take(_ descriptor: Int32) -> FileDescriptor? {
        if let fd = Self.take(descriptor, from: first) { return fd }
        return Self.take(descriptor, from: second)
    }

    private static func take(_ descriptor: Int32, from slot: borrowing Mutex<FileDescriptor?>) -> FileDescriptor? {
        slot.withLock { held -> FileDescriptor? in
            guard held?.raw == descriptor else { return nil }
            return held.take()
        }
    }

    deinit {
        var left: [Int32] = []
        if let fd = first.withLock({ $0.take() }) { left.append(fd.take()) }
        if let fd = second.withLock({ $0.take() }) { left.append(fd.take()) }
        if !left.isEmpty { closer(left) }
    }
}
