import BitsCore
import BitsDBus
import BitsService

/// Introspection data of job and file objects as the caller may see them: a job the caller
/// may not see introspects exactly like one that does not exist (an empty node).
extension BusService {
    static let standardInterfacesXML = """
      <interface name="org.freedesktop.DBus.Properties">
        <method name="Get"><arg type="s" name="interface_name" direction="in"/><arg type="s" name="property_name" direction="in"/><arg type="v" name="value" direction="out"/></method>
        <method name="GetAll"><arg type="s" name="interface_name" direction="in"/><arg type="a{sv}" name="properties" direction="out"/></method>
        <method name="Set"><arg type="s" name="interface_name" direction="in"/><arg type="s" name="property_name" direction="in"/><arg type="v" name="value" direction="in"/></method>
        <signal name="PropertiesChanged"><arg type="s" name="interface_name"/><arg type="a{sv}" name="changed_properties"/><arg type="as" name="invalidated_properties"/></signal>
      </interface>
      <interface name="org.freedesktop.DBus.Introspectable">
        <method name="Introspect"><arg type="s" name="xml_data" direction="out"/></method>
      </interface>
      <interface name="org.freedesktop.DBus.Peer">
        <method name="Ping"/>
        <method name="GetMachineId"><arg type="s" name="machine_uuid" direction="out"/></method>
      </interface>

    """

    /// The Introspect answer for a path below the jobs root.
    func introspect(path: String, caller: Caller) async -> String {
        let header = "<!DOCTYPE node PUBLIC \"-//freedesktop//DTD D-BUS Object Introspection 1.0//EN\"\n\"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd\">\n"
        var body = ""
        switch ObjectPaths.parse(path) {
        case .job(let id)?:
            if (try? await manager.job(id, caller: caller)) != nil {
                body = Self.standardInterfacesXML + definitions.job.xml(indent: 2) + "  <node name=\"files\"/>\n"
            }
        case .file(let id, let index)?:
            if let job = try? await manager.job(id, caller: caller), job.files.indices.contains(index) {
                body = Self.standardInterfacesXML + definitions.file.xml(indent: 2)
            }
        case nil:
            if path.hasSuffix("/files"), case .job(let id)? = ObjectPaths.parse(String(path.dropLast(6))) {
                let count = (try? await manager.job(id, caller: caller))?.files.count ?? 0
                body = (0..<count).map { "  <node name=\"\($0)\"/>\n" }.joined()
            }
        }
        return header + "<node>\n" + body + "</node>\n"
    }
}
