import BitsCore

/// The client methods' durable writes of each job, one at a time, and the service's own
/// writes of a job held back while one is in flight.
///
/// A method that changes a job (Resume, Set, AddFiles, Complete, …) stores the change before
/// it replies, awaiting the store writer: the queue manager's executor stays free meanwhile,
/// so transfer events still change the job in memory. A write of the job the service made
/// during that wait would not contain the method's change and, landing after it, would undo
/// it on disk. So while a job's client write is in flight:
/// - other client methods on the same job wait their turn (a per-job FIFO lock, `begin`);
/// - the service's own writes of that job are only noted (`holdSave`, `holdDelete`) and are
///   written, with the job as it is then, when the method ends (`end`).
///
/// A crash in between loses only service changes (progress, an event's state), as a crash
/// before any unawaited service write does; never the change a reply confirmed.
struct ClientWrites {
    /// What the service wanted to write of a job while a client write of it was in flight.
    struct Held: Equatable {
        /// Save the job (with these pending temporaries settled).
        var save = false
        var settling: [String] = []
        /// Then delete it (it reached a final state).
        var delete = false
    }

    private struct Flight {
        var held = Held()
        /// Client methods waiting for this job, first come first served.
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private var flights: [JobID: Flight] = [:]

    /// Whether a client method holds job `id`'s write turn.
    func isInFlight(_ id: JobID) -> Bool { flights[id] != nil }

    /// Takes job `id`'s turn when it is free (true); else the caller must `wait`.
    mutating func begin(_ id: JobID) -> Bool {
        guard flights[id] == nil else { return false }
        flights[id] = Flight()
        return true
    }

    /// Queues a method for job `id`'s turn; `continuation` is resumed by the `end` that hands
    /// the turn over.
    mutating func wait(_ id: JobID, _ continuation: CheckedContinuation<Void, Never>) {
        flights[id, default: Flight()].waiting.append(continuation)
    }

    /// Notes a service save of job `id`; false (write it now) when no client write is in flight.
    mutating func holdSave(_ id: JobID, settling: [String]) -> Bool {
        guard flights[id] != nil else { return false }
        flights[id]?.held.save = true
        flights[id]?.held.settling.append(contentsOf: settling)
        return true
    }

    /// Notes the removal of job `id` from the store; false (remove it now) when no client
    /// write is in flight.
    mutating func holdDelete(_ id: JobID) -> Bool {
        guard flights[id] != nil else { return false }
        flights[id]?.held.delete = true
        return true
    }

    /// Marks job `id` for a save when its turn ends (the stored job is not the one in memory).
    mutating func markStale(_ id: JobID) {
        flights[id]?.held.save = true
    }

    /// Ends the turn on job `id`: what was held (to write now, in this order: save, delete)
    /// and the next method waiting, which now holds the turn (to resume after writing).
    mutating func end(_ id: JobID) -> (held: Held, next: CheckedContinuation<Void, Never>?) {
        guard var flight = flights[id] else { return (Held(), nil) }
        let held = flight.held
        guard !flight.waiting.isEmpty else {
            flights[id] = nil
            return (held, nil)
        }
        let next = flight.waiting.removeFirst()
        flight.held = Held()
        flights[id] = flight
        return (held, next)
    }
}
