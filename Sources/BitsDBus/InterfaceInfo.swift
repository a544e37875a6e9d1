import CGLib

/// One D-Bus interface as GDBus parsed it from introspection XML (a GDBusInterfaceInfo with
/// its lookup cache built): what objects are exported with, its XML as served by Introspect,
/// and its members. Holds one reference and one use of the cache, both released with it
/// (GDBus takes references of its own for what it exports).
package final class InterfaceInfo: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<GDBusInterfaceInfo>

    /// Interface `name` of the introspection document `xml`.
    package init(xml: String, name: String) throws {
        var error: UnsafeMutablePointer<GError>?
        guard let node = g_dbus_node_info_new_for_xml(xml, &error) else {
            throw BusSetupError(description: "interface \(name): \(GDBus.takeMessage(error))")
        }
        defer { g_dbus_node_info_unref(node) }
        guard let info = g_dbus_node_info_lookup_interface(node, name) else {
            throw BusSetupError(description: "interface XML for \(name) does not define it")
        }
        g_dbus_interface_info_ref(info)
        g_dbus_interface_info_cache_build(info)
        pointer = info
    }

    deinit {
        g_dbus_interface_info_cache_release(pointer)
        g_dbus_interface_info_unref(pointer)
    }

    /// The interface's introspection XML, each line indented by `indent` spaces.
    package func xml(indent: Int) -> String {
        let text = bits_interface_xml(pointer, guint(indent))!
        defer { g_free(text) }
        return String(cString: text)
    }

    /// An argument of a method or signal.
    package struct Argument: Sendable {
        package let name: String
        package let signature: String
    }

    package struct Method: Sendable {
        package let name: String
        package let inArguments: [Argument]
        package let outArguments: [Argument]
    }

    package struct Signal: Sendable {
        package let name: String
        package let arguments: [Argument]
    }

    package struct Property: Sendable {
        package let name: String
        package let signature: String
        package let readable: Bool
        package let writable: Bool
    }

    /// The methods, in the order of the XML.
    package var methods: [Method] {
        Self.each(pointer.pointee.methods) { method in
            Method(name: String(cString: method.name), inArguments: Self.arguments(method.in_args),
                   outArguments: Self.arguments(method.out_args))
        }
    }

    /// The signals, in the order of the XML.
    package var signals: [Signal] {
        Self.each(pointer.pointee.signals) { signal in
            Signal(name: String(cString: signal.name), arguments: Self.arguments(signal.args))
        }
    }

    /// The properties, in the order of the XML.
    package var properties: [Property] {
        Self.each(pointer.pointee.properties) { property in
            let flags = property.flags.rawValue
            return Property(name: String(cString: property.name), signature: String(cString: property.signature),
                            readable: flags & G_DBUS_PROPERTY_INFO_FLAGS_READABLE.rawValue != 0,
                            writable: flags & G_DBUS_PROPERTY_INFO_FLAGS_WRITABLE.rawValue != 0)
        }
    }

    /// Each item of a NULL-terminated array of GDBus infos.
    private static func each<T, R>(_ list: UnsafeMutablePointer<UnsafeMutablePointer<T>?>?, _ body: (T) -> R) -> [R] {
        guard var cursor = list else { return [] }
        var result: [R] = []
        while let item = cursor.pointee {
            result.append(body(item.pointee))
            cursor += 1
        }
        return result
    }

    private static func arguments(_ list: UnsafeMutablePointer<UnsafeMutablePointer<GDBusArgInfo>?>?) -> [Argument] {
        each(list) { Argument(name: String(cString: $0.name), signature: String(cString: $0.signature)) }
    }
}
