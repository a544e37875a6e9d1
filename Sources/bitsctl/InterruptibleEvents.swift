/// One event of a watched stream merged with Ctrl-C: an element, the stream's end (with its
/// error, if any), or an interrupt.
enum InterruptibleEvent<Element: Sendable>: Sendable {
    case element(Element)
    case ended(Error?)
    case interrupt
}

/// A stream of the service's updates and `Terminal.interrupts()` as one sequence, in arrival
/// order (for `transfer` and `monitor`). `stop()` ends both feeders.
struct InterruptibleEvents<Element: Sendable> {
    let events: AsyncStream<InterruptibleEvent<Element>>
    private let feeders: [Task<Void, Never>]

    init(_ stream: AsyncThrowingStream<Element, Error>, interrupts: AsyncStream<Int32>) {
        let (events, sink) = AsyncStream.makeStream(of: InterruptibleEvent<Element>.self)
        self.events = events
        feeders = [
            Task {
                do {
                    for try await element in stream { sink.yield(.element(element)) }
                    sink.yield(.ended(nil))
                } catch {
                    sink.yield(.ended(error))
                }
            },
            Task { for await _ in interrupts { sink.yield(.interrupt) } },
        ]
    }

    func stop() { feeders.forEach { $0.cancel() } }
}
