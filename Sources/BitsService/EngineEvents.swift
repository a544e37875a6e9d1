import BitsCore
import BitsTransfer

/// An engine event carried from the engine's threads to the queue manager.
enum EngineEvent: Sendable {
    case response(TransferID, ResponseInfo)
    case progress(TransferID, UInt64)
    case ended(TransferID, TransferOutcome)
    /// A finished download's digests, right before its `ended`.
    case hashed(TransferID, ComputedDigests)
    case exchanged(TransferID, ExchangeOutcome)
}

/// Turns engine callbacks (on the engine's threads) into one ordered stream of events.
final class EngineEventBridge: TransferEngineDelegate, @unchecked Sendable {
    let events: AsyncStream<EngineEvent>
    private let continuation: AsyncStream<EngineEvent>.Continuation

    init() {
        (events, continuation) = AsyncStream.makeStream(of: EngineEvent.self, bufferingPolicy: .unbounded)
    }

    func transfer(_ id: TransferID, didReceive response: ResponseInfo) { continuation.yield(.response(id, response)) }
    func transfer(_ id: TransferID, didProgress bytesOnDisk: UInt64) { continuation.yield(.progress(id, bytesOnDisk)) }
    func transfer(_ id: TransferID, didEnd outcome: TransferOutcome) { continuation.yield(.ended(id, outcome)) }
    func transfer(_ id: TransferID, didHash digests: ComputedDigests) { continuation.yield(.hashed(id, digests)) }
    func transfer(_ id: TransferID, didExchange outcome: ExchangeOutcome) { continuation.yield(.exchanged(id, outcome)) }
}
