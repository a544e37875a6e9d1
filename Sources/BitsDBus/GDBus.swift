import CGLib

/// Which bus to connect to.
public enum BusAddress: Sendable, Equatable, CustomStringConvertible {
    /// The system bus (`DBUS_SYSTEM_BUS_ADDRESS` honoured).
    case system
    case session
    case address(String)

    public var description: String {
        switch self {
        case .system: "system"
        case .session: "session"
        case .address(let address): address
        }
    }
}

/// A failed GDBus operation: the D-Bus error name (Failed when there is none) and message.
package struct RemoteError: Error, Sendable {
    package let name: String
    package let message: String
}

/// The GDBus operations the daemon and the client share: connecting and async calls. With
/// `Variant.swift`, the only place they handle GError and call replies.
package enum GDBus {
    /// Takes a GError's message and frees it.
    package static func takeMessage(_ error: UnsafeMutablePointer<GError>?) -> String {
        guard let message = bits_error_take_message(error) else { return "unknown error" }
        defer { g_free(message) }
        return String(cString: message)
    }

    /// Takes a GError from a call: the remote error name and the message without GDBus's
    /// "GDBus.Error:name:" prefix.
    package static func takeRemoteError(_ error: UnsafeMutablePointer<GError>?) -> RemoteError {
        var name = "org.freedesktop.DBus.Error.Failed"
        if let remote = bits_error_remote_name(error) {
            name = String(cString: remote)
            g_free(remote)
        }
        if let error { g_dbus_error_strip_remote_error(error) }
        return RemoteError(name: name, message: takeMessage(error))
    }

    /// Opens a private message-bus connection (never GLib's shared singleton, so closing it
    /// affects no one else). Call it on the loop thread that will dispatch its signals.
    package static func connect(_ bus: BusAddress) throws -> OpaquePointer {
        var error: UnsafeMutablePointer<GError>?
        var address: String?
        switch bus {
        case .system, .session:
            if let text = g_dbus_address_get_for_bus_sync(bus == .system ? G_BUS_TYPE_SYSTEM : G_BUS_TYPE_SESSION, nil, &error) {
                address = String(cString: text)
                g_free(text)
            }
        case .address(let text): address = text
        }
        var connection: OpaquePointer?
        if let address {
            let flags = GDBusConnectionFlags(rawValue: G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT.rawValue
                                             | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION.rawValue)
            connection = g_dbus_connection_new_for_address_sync(address, flags, nil, nil, &error)
        }
        guard let connection else {
            throw RemoteError(name: "org.freedesktop.DBus.Error.Failed",
                              message: "Cannot connect to the \(bus) bus: \(takeMessage(error))")
        }
        g_dbus_connection_set_exit_on_close(connection, 0)
        return connection
    }

    /// Calls a method; must run on the loop thread, whose context then runs `completion` with
    /// the reply tuple or the error. `replyType` nil accepts any reply.
    package static func call(_ connection: OpaquePointer, destination: String, path: String, interface: String,
                             method: String, arguments: Variant?, replyType: String?, interactive: Bool = false,
                             timeoutMs: Int32, completion: @escaping (Result<Variant, RemoteError>) -> Void) {
        let box = Unmanaged.passRetained(CallBox(completion)).toOpaque()
        let flags = interactive ? G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION : G_DBUS_CALL_FLAGS_NONE
        let callback: GAsyncReadyCallback = { source, result, data in
            let box = Unmanaged<CallBox>.fromOpaque(data!).takeRetainedValue()
            var error: UnsafeMutablePointer<GError>?
            if let reply = g_dbus_connection_call_finish(OpaquePointer(source), result, &error) {
                let value = Variant(gvariant: reply)
                g_variant_unref(reply)
                box.completion(.success(value))
            } else {
                box.completion(.failure(GDBus.takeRemoteError(error)))
            }
        }
        func send(_ type: OpaquePointer?) {
            g_dbus_connection_call(connection, destination, path, interface, method, arguments?.makeGVariant(), type,
                                   flags, timeoutMs, nil, callback, box)
        }
        if let replyType { withVariantType(replyType, send) } else { send(nil) }
    }
}

/// Completion of an asynchronous call, passed through GLib as user data.
private final class CallBox {
    let completion: (Result<Variant, RemoteError>) -> Void
    init(_ completion: @escaping (Result<Variant, RemoteError>) -> Void) { self.completion = completion }
}
