import BitsDBus
import BitsSystem

/// The client's GDBus connection: async method calls and signal subscriptions, served by a
/// GLib main loop on its own thread. The only file of BitsClient that uses GDBus (through
/// BitsDBus: BitsClient never calls GLib itself).
final class ClientConnection: @unchecked Sendable {
    private let connection: OpaquePointer
    private let loop: MainLoopThread

    init(bus: BusAddress) throws {
        loop = MainLoopThread(name: "bitsclient-dbus")
        loop.start()
        let result: Result<OpaquePointer, Error> = loop.perform { Result { try GDBus.connect(bus) } }
        switch result {
        case .success(let connection): self.connection = connection
        case .failure(let error as RemoteError):
            loop.stop()
            throw BitsClientError(code: .serviceUnavailable, name: error.name, message: error.message)
        case .failure(let error):
            loop.stop()
            throw error
        }
    }

    deinit {
        let connection = self.connection
        loop.perform { GDBus.close(connection) }
        loop.stop()
    }

    /// Unique name of this connection on the bus.
    var uniqueName: String { GDBus.uniqueName(of: connection) }

    /// Calls a method; the reply's values as a tuple. `interactive` lets polkit ask the user
    /// (ALLOW_INTERACTIVE_AUTHORIZATION), `timeout` is in milliseconds (-1 = GDBus default).
    func call(destination: String, path: String, interface: String, method: String,
              arguments: [Variant] = [], interactive: Bool = false, timeoutMs: Int32 = -1) async throws -> [Variant] {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[Variant], Error>) in
            call(destination: destination, path: path, interface: interface, method: method, arguments: arguments,
                 interactive: interactive, timeoutMs: timeoutMs) { continuation.resume(with: $0) }
        }
    }

    /// Calls a method; `completion` runs on the loop thread, so it is ordered with the
    /// signal handlers (a reply and the signals sent after it arrive in that order).
    func call(destination: String, path: String, interface: String, method: String,
              arguments: [Variant] = [], interactive: Bool = false, timeoutMs: Int32 = -1,
              completion: @escaping (Result<[Variant], Error>) -> Void) {
        loop.async { [connection] in
            GDBus.call(connection, destination: destination, path: path, interface: interface, method: method,
                       arguments: .tuple(arguments), replyType: nil, interactive: interactive,
                       timeoutMs: timeoutMs) { result in
                completion(result.map(\.items).mapError { BitsClientError(name: $0.name, message: $0.message) })
            }
        }
    }

    /// Subscribes to signals; `handler` runs on the connection's loop thread, in the order
    /// the bus delivered them. With a well-known `sender`, GLib delivers only signals sent by
    /// its current owner (GLib's fix for CVE-2024-34397, in Debian 12's 2.74.6-2+deb12u1).
    func subscribe(sender: String?, interface: String?, member: String?, path: String?, arg0: String? = nil,
                   handler: @escaping @Sendable (ReceivedSignal) -> Void) -> SignalSubscription {
        let id: UInt32 = loop.perform { [connection] in
            GDBus.subscribe(connection, sender: sender, interface: interface, member: member, path: path, arg0: arg0,
                            handler: handler)
        }
        return SignalSubscription { [weak self] in
            guard let self else { return }
            let connection = self.connection
            self.loop.async { GDBus.unsubscribe(connection, id) }
        }
    }

    /// Calls `handler` when `name` gets a new owner: the service started (by activation) or
    /// restarted. Its jobs' signals only reach connections that call it again.
    func subscribeToNewOwner(of name: String, handler: @escaping @Sendable () -> Void) -> SignalSubscription {
        subscribe(sender: "org.freedesktop.DBus", interface: "org.freedesktop.DBus", member: "NameOwnerChanged",
                  path: "/org/freedesktop/DBus", arg0: name) { signal in
            guard let owner = signal.arguments.dropFirst(2).first?.stringValue, !owner.isEmpty else { return }
            handler()
        }
    }

    /// Runs `work` on the loop thread, ordered with signal handlers and call completions.
    func onLoop(_ work: @escaping () -> Void) { loop.async(work) }
}

/// Ends a signal subscription when cancelled or released.
final class SignalSubscription: @unchecked Sendable {
    private var cancelAction: (() -> Void)?
    private let lock = ConditionLock()
    init(_ cancel: @escaping () -> Void) { cancelAction = cancel }
    func cancel() {
        let action = lock.withLock { () -> (() -> Void)? in
            defer { cancelAction = nil }
            return cancelAction
        }
        action?()
    }
    deinit { cancel() }
}

/// The subscriptions of one watcher, ended together (from any thread).
final class SubscriptionGroup: @unchecked Sendable {
    private var subscriptions: [SignalSubscription] = []
    private let lock = ConditionLock()

    func hold(_ list: [SignalSubscription]) { lock.withLock { subscriptions = list } }

    func cancelAll() {
        let list = lock.withLock { () -> [SignalSubscription] in
            defer { subscriptions = [] }
            return subscriptions
        }
        list.forEach { $0.cancel() }
    }
}
