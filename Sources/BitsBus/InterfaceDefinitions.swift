import BitsCore
import BitsDBus
import CGLib
import Foundation

/// The introspection data the daemon serves, parsed at start-up from the interface XML in
/// `dbus/` plus the standard ObjectManager interface. The XML must declare exactly the contract
/// the daemon was built with.
final class InterfaceDefinitions: @unchecked Sendable {
    let manager: UnsafeMutablePointer<GDBusInterfaceInfo>
    let job: UnsafeMutablePointer<GDBusInterfaceInfo>
    let file: UnsafeMutablePointer<GDBusInterfaceInfo>
    let objectManager: UnsafeMutablePointer<GDBusInterfaceInfo>

    private static let objectManagerXML = """
    <node><interface name="\(StandardInterface.objectManager)">
      <method name="\(StandardInterface.getManagedObjects)"><arg type="a{oa{sa{sv}}}" name="objects" direction="out"/></method>
      <signal name="\(StandardInterface.interfacesAdded)"><arg type="o" name="object_path"/><arg type="a{sa{sv}}" name="interfaces_and_properties"/></signal>
      <signal name="\(StandardInterface.interfacesRemoved)"><arg type="o" name="object_path"/><arg type="as" name="interfaces"/></signal>
    </interface></node>
    """

    /// Loads `<directory>/<interface>.xml` for each interface of the contract.
    init(directory: String) throws {
        func text(_ interface: BitsInterface) throws -> String {
            let path = directory + "/" + interface.rawValue + ".xml"
            guard let contents = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw BusSetupError(description: "cannot read interface file \(path)")
            }
            return contents
        }
        func load(_ interface: BitsInterface) throws -> UnsafeMutablePointer<GDBusInterfaceInfo> {
            let info = try Self.parse(text(interface), name: interface.rawValue)
            let differences = Self.differences(info, from: interface)
            guard differences.isEmpty else {
                throw BusSetupError(description: "interface \(interface.rawValue) differs from the contract bitsd was built with: "
                                    + differences.joined(separator: "; "))
            }
            return info
        }
        manager = try load(.manager)
        job = try load(.job)
        file = try load(.file)
        objectManager = try Self.parse(Self.objectManagerXML, name: StandardInterface.objectManager)
    }

    /// Interface `name` of the introspection document `xml`, parsed by GDBus.
    static func parse(_ xml: String, name: String) throws -> UnsafeMutablePointer<GDBusInterfaceInfo> {
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
        return info
    }

    /// How the parsed interface differs from the contract's table of it (generated from the
    /// XML bitsd was built with): members missing or extra, and different arguments,
    /// signatures or access. Empty when they agree.
    static func differences(_ info: UnsafeMutablePointer<GDBusInterfaceInfo>, from interface: BitsInterface) -> [String] {
        let parsed = Contract(info)
        let expected: Contract
        switch interface {
        case .manager: expected = Contract(ManagerMethod.self, ManagerProperty.self)
        case .job: expected = Contract(JobMethod.self, JobProperty.self, signals: JobSignal.self)
        case .file: expected = Contract(FileProperty.self)
        }
        return expected.differences(parsed)
    }

    /// The interface info named `name`, if the daemon serves it.
    func info(named name: String) -> UnsafeMutablePointer<GDBusInterfaceInfo>? {
        switch name {
        case BitsInterface.manager.rawValue: manager
        case BitsInterface.job.rawValue: job
        case BitsInterface.file.rawValue: file
        case StandardInterface.objectManager: objectManager
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
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/\(BitsInterface.manager.rawValue).xml") }
            ?? "/usr/share/dbus-1/interfaces"
    }
}

/// One interface's members in comparable form: each method, signal and property by name with
/// its arguments (`in s remote_url, out o file`) or its type and access (`s readwrite`).
struct Contract: Equatable {
    var methods: [String: String] = [:]
    var signals: [String: String] = [:]
    var properties: [String: String] = [:]

    init<P: ContractProperty>(_ properties: P.Type) {
        self.properties = Dictionary(uniqueKeysWithValues: P.allCases.map { ($0.name, "\($0.signature) \($0.access.rawValue)") })
    }

    init<M: ContractMethod, P: ContractProperty>(_ methods: M.Type, _ properties: P.Type) {
        self.init(properties)
        self.methods = Dictionary(uniqueKeysWithValues: M.allCases.map { method in
            (method.name, (method.inArguments.map { "in \($0)" } + method.outArguments.map { "out \($0)" }).joined(separator: ", "))
        })
    }

    init<M: ContractMethod, P: ContractProperty, S: ContractSignal>(_ methods: M.Type, _ properties: P.Type, signals: S.Type) {
        self.init(methods, properties)
        self.signals = Dictionary(uniqueKeysWithValues: S.allCases.map { signal in
            (signal.name, signal.arguments.map(\.description).joined(separator: ", "))
        })
    }

    /// The members GDBus parsed.
    init(_ info: UnsafeMutablePointer<GDBusInterfaceInfo>) {
        func each<T>(_ list: UnsafeMutablePointer<UnsafeMutablePointer<T>?>?, _ body: (T) -> Void) {
            guard var cursor = list else { return }
            while let item = cursor.pointee {
                body(item.pointee)
                cursor += 1
            }
        }
        func arguments(_ list: UnsafeMutablePointer<UnsafeMutablePointer<GDBusArgInfo>?>?, _ direction: String?) -> [String] {
            var result: [String] = []
            each(list) { arg in
                let text = "\(String(cString: arg.signature)) \(String(cString: arg.name))"
                result.append(direction.map { "\($0) \(text)" } ?? text)
            }
            return result
        }
        each(info.pointee.methods) { method in
            methods[String(cString: method.name)] = (arguments(method.in_args, "in") + arguments(method.out_args, "out"))
                .joined(separator: ", ")
        }
        each(info.pointee.signals) { signal in
            signals[String(cString: signal.name)] = arguments(signal.args, nil).joined(separator: ", ")
        }
        each(info.pointee.properties) { property in
            let flags = property.flags.rawValue
            let readable = flags & G_DBUS_PROPERTY_INFO_FLAGS_READABLE.rawValue != 0
            let writable = flags & G_DBUS_PROPERTY_INFO_FLAGS_WRITABLE.rawValue != 0
            let access: PropertyAccess = readable && writable ? .readwrite : writable ? .write : .read
            properties[String(cString: property.name)] = "\(String(cString: property.signature)) \(access.rawValue)"
        }
    }

    /// Each difference of `other` from this one, in words.
    func differences(_ other: Contract) -> [String] {
        func compare(_ kind: String, _ mine: [String: String], _ theirs: [String: String]) -> [String] {
            Set(mine.keys).union(theirs.keys).sorted().compactMap { name in
                switch (mine[name], theirs[name]) {
                case (let a?, let b?) where a != b: "\(kind) \(name) is (\(b)), not (\(a))"
                case (_?, nil): "\(kind) \(name) is missing"
                case (nil, _?): "\(kind) \(name) is not in the contract"
                default: nil
                }
            }
        }
        return compare("method", methods, other.methods) + compare("signal", signals, other.signals)
            + compare("property", properties, other.properties)
    }
}
