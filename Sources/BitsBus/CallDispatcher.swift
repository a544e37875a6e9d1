import BitsSystem
import Dispatch

/// Serves method calls concurrently across callers and in order per caller: each call of a
/// connection waits for that connection's previous call, never for another connection's. So a
/// slow polkit check, a slow `GetConnectionCredentials` or a slow file system delays only the
/// calls of the connection that needs it (the contract's per-caller order is kept: a client
/// that sends AddFile then Resume sees them handled in that order).
final class CallDispatcher: @unchecked Sendable {
    private let lock = ConditionLock()
    /// The last call submitted per sender, and its sequence number (to forget it when done).
    private var tails: [String: (task: Task<Void, Never>, sequence: UInt64)] = [:]
    private var sequence: UInt64 = 0

    /// Runs `work` after the sender's previous call has finished.
    func submit(sender: String, _ work: @escaping @Sendable () async -> Void) {
        lock.withLock {
            sequence += 1
            let mine = sequence
            let previous = tails[sender]?.task
            let task = Task { [weak self] in
                await previous?.value
                await work()
                self?.finished(sender: sender, sequence: mine)
            }
            tails[sender] = (task, mine)
        }
    }

    /// The number of senders with calls in progress (for tests and diagnostics).
    var busySenders: Int { lock.withLock { tails.count } }

    private func finished(sender: String, sequence: UInt64) {
        lock.withLock {
            if tails[sender]?.sequence == sequence { tails[sender] = nil }
        }
    }
}
