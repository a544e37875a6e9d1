import BitsDBus
import CGLib
import Foundation

/// The introspection data the daemon serves, parsed at start-up from the interface XML in
/// `dbus/` (the single source of truth) plus the standard ObjectManager interface.
final class InterfaceDefinitions: @unchecked Sendable {
    static let managerName = "org.example.Bits.Manager"
    static let jobName = "org.example.Bits.Job"
    static let fileName = "org.example.Bits.File"
    static let objectManagerName = "org.freedesktop.DBus.ObjectManager"

    let manager: UnsafeMutablePointer<GDBusInterfaceInfo>
    let job: UnsafeMutablePointer<GDBusInterfaceInfo>
    let file: UnsafeMutablePointer<GDBusInterfaceInfo>
    let objectManager: UnsafeMutablePointer<GDBusInterfaceInfo>
    /// Property names per interface, in XML order.
    let jobProperties: [String]
    let fileProperties: [String]
    let managerProperties: [String]

    private static let objectManagerXML = """
    <node><interface name="org.freedesktop.DBus.ObjectManager">
      <method name="GetManagedObjects"><arg type="a{oa{sa{sv}}}" name="objects" direction="out"/></method>
      <signal name="InterfacesAdded"><arg type="o" name="object_path"/><arg type="a{sa{sv}}" name="interfaces_and_properties"/></signal>
      <signal name="InterfacesRemoved"><arg type="o" name="object_path"/><arg type="as" name="interfaces"/></signal>
    </interface></node>
    """

    /// Loads `<directory>/<interface>.xml` for the three interfaces.
    init(directory: String) throws {
        func load(_ name: String, xml: String? = nil) throws -> UnsafeMutablePointer<GDBusInterfaceInfo> {
            let text: String
            if let xml { text = xml } else {
                let path = directory + "/" + name + ".xml"
                guard let contents = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw BusSetupError(description: "cannot read interface file \(path)")
                }
                text = contents
            }
            var error: UnsafeMutablePointer<GError>?
            guard let node = g_dbus_node_info_new_for_xml(text, &error) else {
                throw BusSetupError(description: "interface \(name): \(GDBus.takeMessage(error))")
            }
            guard let info = g_dbus_node_info_lookup_interface(node, name) else {
                throw BusSetupError(description: "interface file for \(name) does not define it")
            }
            g_dbus_interface_info_ref(info)
            g_dbus_interface_info_cache_build(info)
            g_dbus_node_info_unref(node)
            return info
        }
        manager = try load(Self.managerName)
        job = try load(Self.jobName)
        file = try load(Self.fileName)
        objectManager = try load(Self.objectManagerName, xml: Self.objectManagerXML)
        jobProperties = Self.propertyNames(job)
        fileProperties = Self.propertyNames(file)
        managerProperties = Self.propertyNames(manager)
    }

    private static func propertyNames(_ info: UnsafeMutablePointer<GDBusInterfaceInfo>) -> [String] {
        var names: [String] = []
        guard var cursor = info.pointee.properties else { return names }
        while let property = cursor.pointee {
            names.append(String(cString: property.pointee.name))
            cursor += 1
        }
        return names
    }

    /// The interface info named `name`, if the daemon serves it.
    func info(named name: String) -> UnsafeMutablePointer<GDBusInterfaceInfo>? {
        switch name {
        case Self.managerName: manager
        case Self.jobName: job
        case Self.fileName: file
        case Self.objectManagerName: objectManager
        default: nil
        }
    }

    /// Locates the interface XML: an explicit directory, `$BITSD_INTERFACE_DIR`, the source
    /// tree next to a development build, or the installed copies.
    static func locateDirectory(explicit: String?) -> String {
        if let explicit { return explicit }
        if let env = ProcessInfo.processInfo.environment["BITSD_INTERFACE_DIR"] { return env }
        var candidates: [String] = []
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = executable.deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(dir.appendingPathComponent("dbus").path)
            dir = dir.deletingLastPathComponent()
        }
        candidates += ["/usr/local/share/dbus-1/interfaces", "/usr/share/dbus-1/interfaces"]
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/\(managerName).xml") }
            ?? "/usr/share/dbus-1/interfaces"
    }
}
