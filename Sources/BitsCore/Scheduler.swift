/// Which jobs may transfer now (bits-reference §1.4): every active foreground job, plus one
/// background job — the highest priority, first queued among equals, and among equals
/// each in turn for a time slice so a huge job does not block a small one.
public enum Scheduler {
    /// What the scheduler needs to know about an active (queued/connecting/transferring) job.
    public struct Candidate: Sendable, Equatable {
        public var id: JobID
        public var priority: JobPriority
        /// Order in which the job became queued (smaller = earlier).
        public var queuedSequence: UInt64
        /// The job is transferring now.
        public var running: Bool
        /// A running background job has used up its time slice.
        public var sliceExpired: Bool

        public init(id: JobID, priority: JobPriority, queuedSequence: UInt64, running: Bool, sliceExpired: Bool = false) {
            self.id = id
            self.priority = priority
            self.queuedSequence = queuedSequence
            self.running = running
            self.sliceExpired = sliceExpired
        }
    }

    /// The set of jobs that should be transferring.
    public static func select(_ candidates: [Candidate]) -> Set<JobID> {
        var chosen = Set(candidates.filter { $0.priority == .foreground }.map(\.id))
        let background = candidates.filter { $0.priority.isBackground }
        guard let bestRank = background.map(\.priority.rank).min() else { return chosen }
        let top = background.filter { $0.priority.rank == bestRank }
        // A running job of the best priority keeps its turn until its slice is over and an
        // equal waits; otherwise the earliest queued.
        let running = top.first(where: \.running)
        let waiting = top.filter { !$0.running }
        if let running, !running.sliceExpired || waiting.isEmpty {
            chosen.insert(running.id)
        } else if let first = waiting.min(by: { $0.queuedSequence < $1.queuedSequence }) {
            chosen.insert(first.id)
        }
        return chosen
    }
}
