import BitsDBus
import CGLib
import Foundation

/// The client's GDBus connection: async method calls and signal subscriptions, served by a
/// GLib main loop on its own thread. The only file of BitsClient that touches GDBus.
final class ClientConnection: @unchecked Sendable {
    private let connection: OpaquePointer
    private let loop: MainLoopThread

    init(bus: BitsBusAddress) throws {
        loop = MainLoopThread(name: "bitsclient-dbus")
        loop.start()
        let result: Result<OpaquePointer, BitsClientError> = loop.perform {
            var error: UnsafeMutablePointer<GError>?
            var connection: OpaquePointer?
            // A private connection (not GLib's shared singleton), so closing it affects no one else.
            var address: String?
            switch bus {
            case .system, .session:
                let type = bus == .system ? G_BUS_TYPE_SYSTEM : G_BUS_TYPE_SESSION
                if let text = g_dbus_address_get_for_bus_sync(type, nil, &error) {
                    address = String(cString: text)
                    g_free(text)
                }
            case .address(let text): address = text
            }
            if let address {
                let flags = GDBusConnectionFlags(rawValue: G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT.rawValue
                                                 | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION.rawValue)
                connection = g_dbus_connection_new_for_address_sync(address, flags, nil, nil, &error)
            }
            guard let connection else {
                return .failure(BitsClientError(code: .serviceUnavailable, name: "org.freedesktop.DBus.Error.Failed",
                                                message: "Cannot connect to the \(bus) bus: \(Self.take(error))"))
            }
            g_dbus_connection_set_exit_on_close(connection, 0)
            return .success(connection)
        }
        switch result {
        case .success(let connection): self.connection = connection
        case .failure(let error): loop.stop(); throw error
        }
    }

    deinit {
        let connection = self.connection
        loop.perform { g_dbus_connection_close_sync(connection, nil, nil); g_object_unref(UnsafeMutableRawPointer(connection)) }
        loop.stop()
    }

    /// Unique name of this connection on the bus.
    var uniqueName: String { String(cString: g_dbus_connection_get_unique_name(connection)) }

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
            let box = Unmanaged.passRetained(CallBox(completion)).toOpaque()
            let flags = interactive ? G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION : G_DBUS_CALL_FLAGS_NONE
            g_dbus_connection_call(connection, destination, path, interface, method,
                                   Variant.tuple(arguments).makeGVariant(), nil, flags, timeoutMs, nil,
                                   { source, result, data in
                let box = Unmanaged<CallBox>.fromOpaque(data!).takeRetainedValue()
                var error: UnsafeMutablePointer<GError>?
                if let reply = g_dbus_connection_call_finish(OpaquePointer(source), result, &error) {
                    let value = Variant(gvariant: reply)
                    g_variant_unref(reply)
                    box.completion(.success(value.items))
                } else {
                    var name = "org.freedesktop.DBus.Error.Failed"
                    if let remote = bits_error_remote_name(error) {
                        name = String(cString: remote)
                        g_free(remote)
                    }
                    if let error { g_dbus_error_strip_remote_error(error) }
                    box.completion(.failure(BitsClientError(name: name, message: ClientConnection.take(error))))
                }
            }, box)
        }
    }

    /// Subscribes to signals; `handler` runs on the connection's loop thread, in the order
    /// the bus delivered them. With a well-known `sender`, GLib delivers only signals sent by
    /// its current owner (GLib's fix for CVE-2024-34397, in Debian 12's 2.74.6-2+deb12u1).
    func subscribe(sender: String?, interface: String?, member: String?, path: String?, arg0: String? = nil,
                   handler: @escaping @Sendable (ReceivedSignal) -> Void) -> SignalSubscription {
        let box = Unmanaged.passRetained(SignalBox(handler)).toOpaque()
        let id: UInt32 = loop.perform { [connection] in
            g_dbus_connection_signal_subscribe(connection, sender, interface, member, path, arg0,
                                               G_DBUS_SIGNAL_FLAGS_NONE, { _, sender, path, interface, member, parameters, data in
                let box = Unmanaged<SignalBox>.fromOpaque(data!).takeUnretainedValue()
                box.handler(ReceivedSignal(sender: sender.map { String(cString: $0) } ?? "",
                                           path: String(cString: path!), interface: String(cString: interface!),
                                           member: String(cString: member!),
                                           arguments: parameters.map { Variant(gvariant: $0).items } ?? []))
            }, box, { data in Unmanaged<SignalBox>.fromOpaque(data!).release() })
        }
        return SignalSubscription { [weak self] in
            guard let self else { return }
            let connection = self.connection
            self.loop.async { g_dbus_connection_signal_unsubscribe(connection, id) }
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

    /// Takes a GError's message and frees it.
    static func take(_ error: UnsafeMutablePointer<GError>?) -> String {
        guard let message = bits_error_take_message(error) else { return "unknown error" }
        defer { g_free(message) }
        return String(cString: message)
    }
}

/// One signal as delivered.
struct ReceivedSignal: Sendable {
    let sender: String
    let path: String
    let interface: String
    let member: String
    let arguments: [Variant]
}

/// Ends a signal subscription when cancelled or released.
final class SignalSubscription: @unchecked Sendable {
    private var cancelAction: (() -> Void)?
    private let lock = NSLock()
    init(_ cancel: @escaping () -> Void) { cancelAction = cancel }
    func cancel() {
        lock.lock(); let action = cancelAction; cancelAction = nil; lock.unlock()
        action?()
    }
    deinit { cancel() }
}

/// The subscriptions of one watcher, ended together (from any thread).
final class SubscriptionGroup: @unchecked Sendable {
    private var subscriptions: [SignalSubscription] = []
    private let lock = NSLock()

    func hold(_ list: [SignalSubscription]) { lock.withLock { subscriptions = list } }

    func cancelAll() {
        let list = lock.withLock { () -> [SignalSubscription] in
            defer { subscriptions = [] }
            return subscriptions
        }
        list.forEach { $0.cancel() }
    }
}

private final class CallBox {
    let completion: (Result<[Variant], Error>) -> Void
    init(_ completion: @escaping (Result<[Variant], Error>) -> Void) { self.completion = completion }
}

private final class SignalBox {
    let handler: @Sendable (ReceivedSignal) -> Void
    init(_ handler: @escaping @Sendable (ReceivedSignal) -> Void) { self.handler = handler }
}
