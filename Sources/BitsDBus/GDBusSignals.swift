import CGLib

/// One signal as delivered.
package struct ReceivedSignal: Sendable {
    package let sender: String
    package let path: String
    package let interface: String
    package let member: String
    package let arguments: [Variant]
}

/// The GDBus connection calls a client needs beyond `GDBus.call`: its name, signal
/// subscriptions, closing. Each must run on the connection's loop thread (`MainLoopThread`).
extension GDBus {
    /// The unique name of `connection` on the bus.
    package static func uniqueName(of connection: OpaquePointer) -> String {
        String(cString: g_dbus_connection_get_unique_name(connection))
    }

    /// Subscribes to signals (nil matches anything); `handler` runs in the thread-default
    /// context the subscription was made in, in the order the bus delivered them. With a
    /// well-known `sender`, GLib delivers only signals sent by its current owner. Returns the
    /// id for `unsubscribe`.
    package static func subscribe(_ connection: OpaquePointer, sender: String?, interface: String?, member: String?,
                                  path: String?, arg0: String?,
                                  handler: @escaping @Sendable (ReceivedSignal) -> Void) -> UInt32 {
        let box = Unmanaged.passRetained(SignalBox(handler)).toOpaque()
        return g_dbus_connection_signal_subscribe(connection, sender, interface, member, path, arg0,
                                                  G_DBUS_SIGNAL_FLAGS_NONE, { _, sender, path, interface, member, parameters, data in
            let box = Unmanaged<SignalBox>.fromOpaque(data!).takeUnretainedValue()
            box.handler(ReceivedSignal(sender: sender.map { String(cString: $0) } ?? "",
                                       path: String(cString: path!), interface: String(cString: interface!),
                                       member: String(cString: member!),
                                       arguments: parameters.map { Variant(gvariant: $0).items } ?? []))
        }, box, { data in Unmanaged<SignalBox>.fromOpaque(data!).release() })
    }

    /// Ends a subscription made with `subscribe`.
    package static func unsubscribe(_ connection: OpaquePointer, _ id: UInt32) {
        g_dbus_connection_signal_unsubscribe(connection, id)
    }

    /// Closes `connection` (waiting for it) and releases it.
    package static func close(_ connection: OpaquePointer) {
        g_dbus_connection_close_sync(connection, nil, nil)
        g_object_unref(UnsafeMutableRawPointer(connection))
    }
}

/// A signal handler, passed through GLib as user data.
private final class SignalBox {
    let handler: @Sendable (ReceivedSignal) -> Void
    init(_ handler: @escaping @Sendable (ReceivedSignal) -> Void) { self.handler = handler }
}
