/// The D-Bus contract of bitsd. The interface XML in `dbus/` is its single source: the
/// InterfaceCodegen plugin generates from it, at build time, one enum per interface's methods,
/// signals and properties (`ManagerMethod`, `ManagerProperty`, `JobMethod`, `JobSignal`,
/// `JobProperty`, `FileProperty`, and `BitsInterface` for the interface names), whose raw values
/// are the D-Bus names. The daemon's harnesses and property coding, the client library and bitsctl
/// switch over these enums, so a member added to the XML does not build until it is handled.
/// The error names are `ServiceError.Name`, which BitsBusTests checks against the XML.
public enum BitsContract {
    /// The well-known bus name of the service.
    public static let serviceName = "org.example.Bits"
    /// The manager object (org.example.Bits.Manager and org.freedesktop.DBus.ObjectManager).
    public static let managerPath = "/org/example/Bits"
}

/// Standard freedesktop interfaces the objects also implement, and their members.
public enum StandardInterface {
    public static let properties = "org.freedesktop.DBus.Properties"
    public static let objectManager = "org.freedesktop.DBus.ObjectManager"
    public static let introspectable = "org.freedesktop.DBus.Introspectable"
    public static let propertiesChanged = "PropertiesChanged"
    public static let interfacesAdded = "InterfacesAdded"
    public static let interfacesRemoved = "InterfacesRemoved"
    public static let getManagedObjects = "GetManagedObjects"
}

/// A property's `access` in the XML.
public enum PropertyAccess: String, Sendable {
    case read, readwrite, write

    public var isReadable: Bool { self != .write }
    public var isWritable: Bool { self != .read }
}

/// One argument of a method or signal: its name and D-Bus type.
public struct ContractArgument: Sendable, Equatable, CustomStringConvertible {
    public let name: String
    public let type: String

    public init(_ name: String, _ type: String) {
        self.name = name
        self.type = type
    }

    public var description: String { "\(type) \(name)" }
}

/// The members of one interface of the contract, by kind (implemented by the generated enums).
public protocol ContractMember: RawRepresentable, CaseIterable, Hashable, Sendable where RawValue == String {
    static var interface: BitsInterface { get }
}

public protocol ContractMethod: ContractMember {
    var inArguments: [ContractArgument] { get }
    var outArguments: [ContractArgument] { get }
}

public protocol ContractSignal: ContractMember {
    var arguments: [ContractArgument] { get }
}

public protocol ContractProperty: ContractMember {
    /// The D-Bus type of the value.
    var signature: String { get }
    var access: PropertyAccess { get }
}

extension ContractMember {
    /// The D-Bus name (`Interface.Member` is `Self.interface.rawValue + "." + name`).
    public var name: String { rawValue }
}

extension ContractProperty {
    /// The writable properties, in XML order.
    public static var writable: [Self] { allCases.filter { $0.access.isWritable } }
}

extension JobProperty {
    /// The properties that describe the last error.
    public static let errorProperties: Set<JobProperty> =
        [.errorContext, .errorCode, .errorDescription, .errorFile, .errorCount]
}

extension FileProperty {
    /// The progress counters, published coalesced (MinimumNotificationInterval).
    public static let progress: Set<FileProperty> = [.bytesTotal, .bytesTransferred]
}
