import BitsCore
import BitsDBus
import CGLib
import Foundation

// The C entry points GDBus calls. They run on the main-loop thread, find the BusService
// through the user-data pointer and hand over Swift values. No Swift state is captured.

let methodCallThunk: GDBusInterfaceMethodCallFunc = { _, sender, path, interface, method, parameters, invocation, userData in
    let service = Unmanaged<BusService>.fromOpaque(userData!).takeUnretainedValue()
    let arguments = parameters.map { Variant(gvariant: $0).items } ?? []
    service.received(IncomingCall(invocation: Invocation(invocation!),
                                  path: String(cString: path!),
                                  interface: String(cString: interface!),
                                  method: String(cString: method!),
                                  arguments: arguments))
}

/// Lists the nodes under a subtree root (jobs, or one job's files) that the sender may see.
let subtreeEnumerateThunk: GDBusSubtreeEnumerateFunc = { _, sender, objectPath, userData in
    let service = Unmanaged<BusService>.fromOpaque(userData!).takeUnretainedValue()
    let names = service.visibleNodes(sender: sender.map { String(cString: $0) } ?? "",
                                     root: String(cString: objectPath!))
    let result = g_malloc0(gsize(MemoryLayout<UnsafeMutablePointer<gchar>?>.stride * (names.count + 1)))!
        .bindMemory(to: UnsafeMutablePointer<gchar>?.self, capacity: names.count + 1)
    for (i, name) in names.enumerated() { result[i] = g_strdup(name) }
    return result
}

/// The interfaces of one node (a job, or a file below it), or none when the sender may not
/// see it.
let subtreeIntrospectThunk: GDBusSubtreeIntrospectFunc = { _, sender, objectPath, node, userData in
    let service = Unmanaged<BusService>.fromOpaque(userData!).takeUnretainedValue()
    let infos = service.interfaces(sender: sender.map { String(cString: $0) } ?? "",
                                   base: String(cString: objectPath!), node: node.map { String(cString: $0) })
    let result = g_malloc0(gsize(MemoryLayout<UnsafeMutablePointer<GDBusInterfaceInfo>?>.stride * (infos.count + 1)))!
        .bindMemory(to: UnsafeMutablePointer<GDBusInterfaceInfo>?.self, capacity: infos.count + 1)
    for (i, info) in infos.enumerated() { result[i] = g_dbus_interface_info_ref(info) }
    return result
}

/// Every node's calls go to the same method handler; the path tells the object.
let subtreeDispatchThunk: GDBusSubtreeDispatchFunc = { _, _, _, _, _, outUserData, userData in
    outUserData?.pointee = userData
    return UnsafePointer(BusService.interfaceVTable)
}

/// Takes over `Introspect` calls on job and file paths (on GDBus's worker thread) so that
/// the daemon answers them with the caller's identity in mind; everything else passes.
let introspectionFilterThunk: GDBusMessageFilterFunction = { connection, message, incoming, userData in
    guard incoming != 0, let message,
          g_dbus_message_get_message_type(message) == G_DBUS_MESSAGE_TYPE_METHOD_CALL,
          let member = g_dbus_message_get_member(message), String(cString: member) == "Introspect",
          let interface = g_dbus_message_get_interface(message),
          String(cString: interface) == StandardInterface.introspectable,
          let pathPointer = g_dbus_message_get_path(message) else { return message }
    let path = String(cString: pathPointer)
    guard path.hasPrefix(ObjectPaths.jobsRoot + "/") else { return message }
    let service = Unmanaged<BusService>.fromOpaque(userData!).takeUnretainedValue()
    service.received(IncomingCall(invocation: Invocation(message: message, connection: connection!),
                                  path: path, interface: StandardInterface.introspectable,
                                  method: "Introspect", arguments: []))
    bits_object_unref(UnsafeMutableRawPointer(message))
    return nil
}
