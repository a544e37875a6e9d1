import CGLib

/// A method call as received by an exported object (or taken over by a call filter), decoded
/// into Swift values.
package struct MethodCall: Sendable {
    package let invocation: MethodInvocation
    package let path: String
    package let interface: String
    package let method: String
    package let arguments: [Variant]
}

/// A method call being served: its reply must be sent exactly once, from any thread.
/// Either a GDBus method invocation, or a raw call message a filter took over.
package final class MethodInvocation: @unchecked Sendable {
    private enum Backing {
        /// The GDBusMethodInvocation GDBus handed over (its reference is consumed by the reply).
        case invocation(OpaquePointer)
        /// A call message with a reference of ours, released when this goes away.
        case message(connection: OpaquePointer, message: OpaquePointer)
    }
    private let backing: Backing
    /// Unique bus name of the caller.
    package let sender: String
    /// True when the caller set ALLOW_INTERACTIVE_AUTHORIZATION on the call.
    package let allowsInteraction: Bool

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
    package func reply(_ values: [Variant] = []) {
        switch backing {
        case .invocation(let invocation):
            g_dbus_method_invocation_return_value(invocation, Variant.tuple(values).makeGVariant())
        case .message(let connection, let message):
            bits_send_reply(connection, message, Variant.tuple(values).makeGVariant())
        }
    }

    /// Replies with the D-Bus error `name` and its message.
    package func fail(name: String, message text: String) {
        switch backing {
        case .invocation(let invocation):
            g_dbus_method_invocation_return_dbus_error(invocation, name, text)
        case .message(let connection, let message):
            bits_send_error(connection, message, name, text)
        }
    }
}

/// What exported objects answer when GDBus asks, on the loop thread: each method call
/// (property access included), and for a subtree the nodes a sender may see and the
/// interfaces of one node. Never freed: GDBus holds it as the user data of registrations that
/// may outlive any Swift owner, so it keeps itself (and what its closures capture) alive.
package final class ExportHandlers: @unchecked Sendable {
    let call: (MethodCall) -> Void
    let nodes: (_ sender: String, _ root: String) -> [String]
    let interfaces: (_ sender: String, _ base: String, _ node: String?) -> [InterfaceInfo]
    /// `self`, retained for good: the user data of every registration made with it.
    private(set) var userData: UnsafeMutableRawPointer!

    /// - Parameters:
    ///   - call: every method call to the exported objects.
    ///   - nodes: the child nodes of subtree root `root` that `sender` may see (enumeration).
    ///   - interfaces: the interfaces of `node` below `base` as `sender` may see them (GDBus
    ///     passes either the subtree root or the full path as `base`, depending on its version).
    package init(call: @escaping (MethodCall) -> Void,
                 nodes: @escaping (_ sender: String, _ root: String) -> [String] = { _, _ in [] },
                 interfaces: @escaping (_ sender: String, _ base: String, _ node: String?) -> [InterfaceInfo] = { _, _, _ in [] }) {
        self.call = call
        self.nodes = nodes
        self.interfaces = interfaces
        userData = Unmanaged.passRetained(self).toOpaque()
    }
}

extension BusConnection {
    /// Exports the object at `path` with `interfaces`; every call to it, Properties calls
    /// included, goes to `handlers.call`. Call on the loop thread, where the calls then arrive.
    package func exportObject(at path: String, interfaces: [InterfaceInfo], handlers: ExportHandlers) throws {
        for info in interfaces {
            var error: UnsafeMutablePointer<GError>?
            if g_dbus_connection_register_object(connection, path, info.pointer, ExportVTables.interface,
                                                 handlers.userData, nil, &error) == 0 {
                throw BusSetupError(description: GDBus.takeMessage(error))
            }
        }
    }

    /// Exports a subtree of objects below `path` (one level deep: its child nodes), whose nodes
    /// and interfaces `handlers` gives per sender; calls reach nodes that are not enumerated
    /// too. Call on the loop thread, where the callbacks then arrive. Returns the registration
    /// for `unexportSubtree`.
    package func exportSubtree(at path: String, handlers: ExportHandlers) throws -> UInt32 {
        var error: UnsafeMutablePointer<GError>?
        let registration = g_dbus_connection_register_subtree(connection, path, ExportVTables.subtree,
                                                              G_DBUS_SUBTREE_FLAGS_DISPATCH_TO_UNENUMERATED_NODES,
                                                              handlers.userData, nil, &error)
        if registration == 0 { throw BusSetupError(description: GDBus.takeMessage(error)) }
        return registration
    }

    /// Ends a registration made with `exportSubtree`.
    package func unexportSubtree(_ registration: UInt32) {
        _ = g_dbus_connection_unregister_subtree(connection, registration)
    }

    /// Takes over incoming calls of `interface`.`member` on paths starting with `pathPrefix`
    /// before GDBus dispatches them, and hands them to `handler` on GDBus's worker thread with
    /// no arguments (their body is not read: nothing checked it against a signature). Their
    /// invocation answers the call message. For good: the filter is never removed.
    package func interceptCalls(interface: String, member: String, pathPrefix: String,
                                handler: @escaping @Sendable (MethodCall) -> Void) {
        let filter = CallFilter(interface: interface, member: member, pathPrefix: pathPrefix, handler: handler)
        g_dbus_connection_add_filter(connection, callFilterThunk, Unmanaged.passRetained(filter).toOpaque(), nil)
    }
}

/// The vtables every export shares (allocated once, never freed).
private enum ExportVTables {
    /// All calls, property access included, go to `methodCallThunk` (NULL property handlers
    /// make GDBus forward Properties calls).
    static let interface: UnsafeMutablePointer<GDBusInterfaceVTable> = {
        let vtable = UnsafeMutablePointer<GDBusInterfaceVTable>.allocate(capacity: 1)
        vtable.initialize(to: GDBusInterfaceVTable())
        vtable.pointee.method_call = methodCallThunk
        return vtable
    }()

    static let subtree: UnsafeMutablePointer<GDBusSubtreeVTable> = {
        let vtable = UnsafeMutablePointer<GDBusSubtreeVTable>.allocate(capacity: 1)
        vtable.initialize(to: GDBusSubtreeVTable())
        vtable.pointee.enumerate = subtreeEnumerateThunk
        vtable.pointee.introspect = subtreeIntrospectThunk
        vtable.pointee.dispatch = subtreeDispatchThunk
        return vtable
    }()
}

// The C entry points GDBus calls. They run on the main-loop thread, find the `ExportHandlers`
// through the user-data pointer and hand over Swift values. No Swift state is captured.

private let methodCallThunk: GDBusInterfaceMethodCallFunc = { _, _, path, interface, method, parameters, invocation, userData in
    let handlers = Unmanaged<ExportHandlers>.fromOpaque(userData!).takeUnretainedValue()
    let arguments = parameters.map { Variant(gvariant: $0).items } ?? []
    handlers.call(MethodCall(invocation: MethodInvocation(invocation!),
                             path: String(cString: path!),
                             interface: String(cString: interface!),
                             method: String(cString: method!),
                             arguments: arguments))
}

/// Lists the nodes under a subtree root that the sender may see (a g_malloc'ed array of
/// g_strdup'ed names, which GDBus frees).
private let subtreeEnumerateThunk: GDBusSubtreeEnumerateFunc = { _, sender, objectPath, userData in
    let handlers = Unmanaged<ExportHandlers>.fromOpaque(userData!).takeUnretainedValue()
    let names = handlers.nodes(sender.map { String(cString: $0) } ?? "", String(cString: objectPath!))
    let result = g_malloc0(gsize(MemoryLayout<UnsafeMutablePointer<gchar>?>.stride * (names.count + 1)))!
        .bindMemory(to: UnsafeMutablePointer<gchar>?.self, capacity: names.count + 1)
    for (i, name) in names.enumerated() { result[i] = g_strdup(name) }
    return result
}

/// The interfaces of one node, or none when the sender may not see it (a g_malloc'ed array
/// holding a reference on each info; GDBus frees the array and releases the references).
private let subtreeIntrospectThunk: GDBusSubtreeIntrospectFunc = { _, sender, objectPath, node, userData in
    let handlers = Unmanaged<ExportHandlers>.fromOpaque(userData!).takeUnretainedValue()
    let infos = handlers.interfaces(sender.map { String(cString: $0) } ?? "", String(cString: objectPath!),
                                    node.map { String(cString: $0) })
    let result = g_malloc0(gsize(MemoryLayout<UnsafeMutablePointer<GDBusInterfaceInfo>?>.stride * (infos.count + 1)))!
        .bindMemory(to: UnsafeMutablePointer<GDBusInterfaceInfo>?.self, capacity: infos.count + 1)
    for (i, info) in infos.enumerated() { result[i] = g_dbus_interface_info_ref(info.pointer) }
    return result
}

/// Every node's calls go to the same method handler; the path tells the object.
private let subtreeDispatchThunk: GDBusSubtreeDispatchFunc = { _, _, _, _, _, outUserData, userData in
    outUserData?.pointee = userData
    return UnsafePointer(ExportVTables.interface)
}

/// What `interceptCalls` takes over, passed through GLib as the filter's user data (never
/// freed: the filter is never removed).
private final class CallFilter: @unchecked Sendable {
    let interface: String
    let member: String
    let pathPrefix: String
    let handler: @Sendable (MethodCall) -> Void

    init(interface: String, member: String, pathPrefix: String, handler: @escaping @Sendable (MethodCall) -> Void) {
        self.interface = interface
        self.member = member
        self.pathPrefix = pathPrefix
        self.handler = handler
    }
}

/// Runs on GDBus's worker thread for every message: takes over the calls a `CallFilter`
/// names (the message is then ours to release), lets everything else pass.
private let callFilterThunk: GDBusMessageFilterFunction = { connection, message, incoming, userData in
    let filter = Unmanaged<CallFilter>.fromOpaque(userData!).takeUnretainedValue()
    guard incoming != 0, let message,
          g_dbus_message_get_message_type(message) == G_DBUS_MESSAGE_TYPE_METHOD_CALL,
          let member = g_dbus_message_get_member(message), String(cString: member) == filter.member,
          let interface = g_dbus_message_get_interface(message), String(cString: interface) == filter.interface,
          let pathPointer = g_dbus_message_get_path(message) else { return message }
    let path = String(cString: pathPointer)
    guard path.hasPrefix(filter.pathPrefix) else { return message }
    filter.handler(MethodCall(invocation: MethodInvocation(message: message, connection: connection!),
                              path: path, interface: filter.interface, method: filter.member, arguments: []))
    bits_object_unref(UnsafeMutableRawPointer(message))
    return nil
}
