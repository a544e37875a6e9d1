import CGLib

/// Errors of bus setup (connect, name ownership, registration, interface data).
public struct BusSetupError: Error, CustomStringConvertible {
    public let description: String

    package init(description: String) { self.description = description }
}

/// A service's private message-bus connection (a GDBusConnection): owning a name, calling,
/// emitting signals, subscribing, and exporting objects (`ExportedObjects.swift`). GDBus
/// connections are thread-safe: replies and signals may be sent from any thread. The
/// connection is never closed: it lives as long as the process.
package final class BusConnection: @unchecked Sendable {
    let connection: OpaquePointer
    private let loop: MainLoopThread

    /// Connects (on the calling thread, which must be the loop thread so that filters and
    /// subscriptions dispatch there).
    package init(_ address: BusAddress, loop: MainLoopThread) throws {
        self.loop = loop
        do {
            connection = try GDBus.connect(address)
        } catch let error as RemoteError {
            throw BusSetupError(description: error.message)
        }
    }

    /// Requests the well-known name; fails unless we become its primary owner.
    package func requestName(_ name: String) throws {
        let reply = try callSync(destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus",
                                 interface: "org.freedesktop.DBus", method: "RequestName",
                                 arguments: .tuple([.string(name), .uint32(4)]), replyType: "(u)")
        guard reply.items.first?.uint32Value == 1 else {
            throw BusSetupError(description: "the name \(name) is already owned on this bus")
        }
    }

    /// The connection's unique name on the bus.
    package var uniqueName: String { String(cString: g_dbus_connection_get_unique_name(connection)) }

    /// A blocking call (setup only, or rare synchronous lookups).
    package func callSync(destination: String, path: String, interface: String, method: String,
                          arguments: Variant?, replyType: String, timeoutMs: Int32 = 25_000) throws -> Variant {
        var error: UnsafeMutablePointer<GError>?
        let reply = withVariantType(replyType) { type in
            g_dbus_connection_call_sync(connection, destination, path, interface, method,
                                        arguments?.makeGVariant(), type, G_DBUS_CALL_FLAGS_NONE, timeoutMs, nil, &error)
        }
        guard let reply else { throw BusSetupError(description: "\(method) failed: \(GDBus.takeMessage(error))") }
        defer { g_variant_unref(reply) }
        return Variant(gvariant: reply)
    }

    /// An asynchronous call; `completion` runs on the loop thread with the reply or the
    /// error's D-Bus name and message.
    package func call(destination: String, path: String, interface: String, method: String,
                      arguments: Variant?, replyType: String, timeoutMs: Int32 = 25_000,
                      completion: @escaping (Result<Variant, RemoteError>) -> Void) {
        loop.async { [connection] in
            GDBus.call(connection, destination: destination, path: path, interface: interface, method: method,
                       arguments: arguments, replyType: replyType, timeoutMs: timeoutMs, completion: completion)
        }
    }

    /// Emits a signal to one destination (unicast), or broadcast when `destination` is nil.
    package func emitSignal(destination: String?, path: String, interface: String, member: String, arguments: Variant) {
        var error: UnsafeMutablePointer<GError>?
        if g_dbus_connection_emit_signal(connection, destination, path, interface, member,
                                         arguments.makeGVariant(), &error) == 0 {
            g_error_free(error)
        }
    }

    /// Subscribes to signals (see `GDBus.subscribe`); call on the loop thread, where `handler`
    /// then runs. Returns the subscription's id.
    @discardableResult
    package func subscribe(sender: String?, interface: String?, member: String?, path: String?, arg0: String?,
                           handler: @escaping @Sendable (ReceivedSignal) -> Void) -> UInt32 {
        GDBus.subscribe(connection, sender: sender, interface: interface, member: member, path: path, arg0: arg0,
                        handler: handler)
    }
}
