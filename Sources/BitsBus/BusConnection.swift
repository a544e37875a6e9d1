import BitsDBus
import CGLib
import Foundation
import BitsCore

/// Errors of bus setup (connect, name ownership, registration).
public struct BusSetupError: Error, CustomStringConvertible {
    public let description: String
}

/// Owns the GDBusConnection: connecting, owning the name, replying, emitting and calling.
/// GDBus connections are thread-safe: replies and signals may be sent from any thread.
final class BusConnection: @unchecked Sendable {
    let connection: OpaquePointer
    private let loop: MainLoopThread

    /// Connects (on the calling thread, which must be the loop thread so that filters and
    /// subscriptions dispatch there).
    init(_ address: BusAddress, loop: MainLoopThread) throws {
        self.loop = loop
        do {
            connection = try GDBus.connect(address)
        } catch let error as RemoteError {
            throw BusSetupError(description: error.message)
        }
    }

    /// Requests the well-known name; fails unless we become its primary owner.
    func requestName(_ name: String) throws {
        let reply = try callSync(destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus",
                                 interface: "org.freedesktop.DBus", method: "RequestName",
                                 arguments: .tuple([.string(name), .uint32(4)]), replyType: "(u)")
        guard reply.items.first?.uint32Value == 1 else {
            throw BusSetupError(description: "the name \(name) is already owned on this bus")
        }
    }

    var uniqueName: String { String(cString: g_dbus_connection_get_unique_name(connection)) }

    /// A blocking call (setup only, or rare synchronous lookups).
    func callSync(destination: String, path: String, interface: String, method: String,
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
    func call(destination: String, path: String, interface: String, method: String,
              arguments: Variant?, replyType: String, timeoutMs: Int32 = 25_000,
              completion: @escaping (Result<Variant, ServiceError>) -> Void) {
        loop.async { [connection] in
            GDBus.call(connection, destination: destination, path: path, interface: interface, method: method,
                       arguments: arguments, replyType: replyType, timeoutMs: timeoutMs) { result in
                completion(result.mapError { ServiceError(.failed, $0.name + ": " + $0.message) })
            }
        }
    }

    /// Emits a signal to one destination (unicast), or broadcast when `destination` is nil.
    func emitSignal(destination: String?, path: String, interface: String, member: String, arguments: Variant) {
        var error: UnsafeMutablePointer<GError>?
        if g_dbus_connection_emit_signal(connection, destination, path, interface, member,
                                         arguments.makeGVariant(), &error) == 0 {
            g_error_free(error)
        }
    }
}

/// A method call being served: its reply must be sent exactly once, from any thread.
/// Either a GDBus method invocation, or a raw call message a filter took over.
final class Invocation: @unchecked Sendable {
    private enum Backing {
        case invocation(OpaquePointer)
        case message(connection: OpaquePointer, message: OpaquePointer)
    }
    private let backing: Backing
    /// Unique bus name of the caller.
    let sender: String
    let allowsInteraction: Bool

    init(_ invocation: OpaquePointer) {
        backing = .invocation(invocation)
        sender = bits_invocation_sender(invocation).map { String(cString: $0) } ?? ""
        allowsInteraction = bits_invocation_allows_interaction(invocation) != 0
    }

    /// Takes a reference on a call message (from a filter) to answer it later.
    init(message: OpaquePointer, connection: OpaquePointer) {
        _ = bits_object_ref(UnsafeMutableRawPointer(message))
        backing = .message(connection: connection, message: message)
        sender = g_dbus_message_get_sender(message).map { String(cString: $0) } ?? ""
        allowsInteraction = false
    }

    deinit {
        if case .message(_, let message) = backing { bits_object_unref(UnsafeMutableRawPointer(message)) }
    }

    /// Replies with a tuple of values (empty for `()`).
    func reply(_ values: [Variant] = []) {
        switch backing {
        case .invocation(let invocation):
            g_dbus_method_invocation_return_value(invocation, Variant.tuple(values).makeGVariant())
        case .message(let connection, let message):
            bits_send_reply(connection, message, Variant.tuple(values).makeGVariant())
        }
    }

    func fail(_ error: ServiceError) {
        switch backing {
        case .invocation(let invocation):
            g_dbus_method_invocation_return_dbus_error(invocation, error.name.rawValue, error.message)
        case .message(let connection, let message):
            bits_send_error(connection, message, error.name.rawValue, error.message)
        }
    }

    /// Replies from a throwing body: its values, or its ServiceError (anything else is a
    /// generic failure with no internal detail).
    func respond(_ body: () async throws -> [Variant]) async {
        do {
            reply(try await body())
        } catch let error as ServiceError {
            fail(error)
        } catch {
            fail(ServiceError(.failed, "Internal error: \(error)"))
        }
    }
}
