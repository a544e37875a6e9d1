import BitsCore

/// Every job the queue manager holds, each with its runtime (a `JobController`, changed in
/// place), and the counts of live (non-final) jobs that `CreateJob` checks the limits against.
///
/// A job and its runtime come and go together (one entry), and the counts change only here —
/// with a creation (`reserve` … `publish`, or `cancelReservation`), a restored job (`insert`),
/// a job reaching a final state (`retire`) and a new owner (`changeOwner`) — so they cannot
/// drift from the jobs. A created job is reserved (counted, its id taken, its runtime there)
/// before it is stored, and visible (`self[id]`) only once published.
struct JobTable: Sendable {
    /// A job and the queue manager's bookkeeping for it.
    typealias Entry = JobController

    private var entries: [JobID: Entry] = [:]
    /// Ids of jobs being created (counted, not yet visible).
    private var reserved: [JobID: UInt32] = [:]
    private var liveByOwner: [UInt32: Int] = [:]
    /// Live (non-final) jobs of every owner, reserved ones included.
    private(set) var liveCount = 0

    /// The entry of job `id` (nil when there is none or it is only reserved). Changed in place:
    /// `table[id]?.job.files[i].x = y` does not copy the job's file list.
    subscript(id: JobID) -> Entry? {
        get { entries[id] }
        _modify { yield &entries[id] }
    }

    /// Live jobs of `owner`, reserved ones included.
    func liveJobs(of owner: UInt32) -> Int { liveByOwner[owner] ?? 0 }

    /// Every job held (final ones included, until `remove`).
    var jobs: some Collection<Job> { entries.values.lazy.map(\.job) }

    /// Every entry held.
    var all: some Collection<Entry> { entries.values }

    var count: Int { entries.count }

    /// Takes a fresh id for a new job of `owner` and counts it as live (before it is stored,
    /// so concurrent creations cannot exceed the limits). `publish` or `cancelReservation` ends it.
    mutating func reserve(owner: UInt32) -> JobID {
        var id = JobID.random()
        while entries[id] != nil || reserved[id] != nil { id = JobID.random() }
        reserved[id] = owner
        count(owner, by: 1)
        return id
    }

    /// A reserved job was stored: it is visible from now on.
    mutating func publish(_ job: Job) {
        precondition(reserved.removeValue(forKey: job.id) == job.owner, "job \(job.id) was not reserved for uid \(job.owner)")
        entries[job.id] = Entry(job: job, runtime: JobRuntime())
    }

    /// A reserved job could not be stored: its id and its count are given back.
    mutating func cancelReservation(_ id: JobID) {
        guard let owner = reserved.removeValue(forKey: id) else { return }
        count(owner, by: -1)
    }

    /// Adds a job restored from the store (live unless final).
    mutating func insert(_ job: Job, runtime: JobRuntime) {
        precondition(entries[job.id] == nil && reserved[job.id] == nil, "job \(job.id) is already held")
        var runtime = runtime
        runtime.retired = job.state.isFinal
        entries[job.id] = Entry(job: job, runtime: runtime)
        if !runtime.retired { count(job.owner, by: 1) }
    }

    /// Job `id` reached a final state: it no longer counts. Once per job (a second call, or
    /// one for a job that is not final, changes nothing).
    mutating func retire(_ id: JobID) {
        guard let entry = entries[id], entry.job.state.isFinal, !entry.runtime.retired else { return }
        entries[id]?.runtime.retired = true
        count(entry.job.owner, by: -1)
    }

    /// Job `id` (live) now counts against `owner` instead of its previous owner; the caller
    /// changes the job itself.
    mutating func changeOwner(_ id: JobID, from previous: UInt32, to owner: UInt32) {
        guard let entry = entries[id], !entry.runtime.retired, previous != owner else { return }
        count(previous, by: -1)
        count(owner, by: 1)
    }

    /// Forgets job `id` (its grace period in a final state is over).
    mutating func remove(_ id: JobID) {
        guard let entry = entries.removeValue(forKey: id) else { return }
        if !entry.runtime.retired { count(entry.job.owner, by: -1) }
    }

    private mutating func count(_ owner: UInt32, by delta: Int) {
        let value = (liveByOwner[owner] ?? 0) + delta
        liveByOwner[owner] = value > 0 ? value : nil
        liveCount += delta
    }
}
