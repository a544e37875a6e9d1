import BitsTransfer

/// The engine requests in flight and what each serves: a job's file (a download, an upload
/// packet, an upload-reply job's reply) or a Cancel-Session the service still owes a server
/// of a cancelled upload job. Ids come from one sequence for both, so an event can never be
/// taken for another request's.
struct TransferTable {
    private var active: [TransferID: QueueManager.ActiveTransfer] = [:]
    private var cancels: [TransferID: QueueManager.PendingCancel] = [:]
    private var next: TransferID = 1

    /// A fresh id for a request about to go to the engine.
    mutating func newID() -> TransferID {
        defer { next += 1 }
        return next
    }

    /// The transfer of request `id` (changed in place), nil when it is not a job's transfer in
    /// flight.
    subscript(id: TransferID) -> QueueManager.ActiveTransfer? {
        get { active[id] }
        _modify { yield &active[id] }
    }

    /// Every job's transfer in flight, by request id.
    var all: [TransferID: QueueManager.ActiveTransfer] { active }

    /// Request `id` ended: its transfer, taken out (its descriptors close as it goes).
    mutating func end(_ id: TransferID) -> QueueManager.ActiveTransfer? { active.removeValue(forKey: id) }

    /// Records a Cancel-Session about to be sent; returns its request's id.
    mutating func owe(_ cancel: QueueManager.PendingCancel) -> TransferID {
        let id = newID()
        cancels[id] = cancel
        return id
    }

    /// Request `id` was answered: the Cancel-Session it carried, taken out; nil when it was
    /// not one.
    mutating func answered(_ id: TransferID) -> QueueManager.PendingCancel? { cancels.removeValue(forKey: id) }
}
