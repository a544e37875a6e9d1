import BitsCore
import BitsDBus

/// A decoded `org.freedesktop.DBus.Properties` call. The harness of the object it was made
/// on answers it from its own property values and setters (`answer`). The `interface_name`
/// argument is not consulted: each object path serves one interface of properties.
enum PropertiesCall: Sendable {
    static let interface = StandardInterface.properties

    case get(property: String)
    case getAll
    case set(property: String, value: Variant)
    /// Anything else (GDBus lets only the three through): NotSupported once access is checked.
    case unsupported(method: String)

    init(_ call: MethodCall) throws {
        let args = CallArguments(member: "Properties." + call.method, call.arguments)
        switch call.method {
        case "Get": self = .get(property: try args(1, "property_name"))
        case "GetAll": self = .getAll
        case "Set": self = .set(property: try args(1, "property_name"), value: try args(2, "value", as: BoxedValue.self).value)
        default: self = .unsupported(method: call.method)
        }
    }

    /// Answers with `value` (nil: not supported) for the contract's properties `P` (GetAll in
    /// XML order), and `set` for a new value of the property named.
    func answer<P: ContractProperty>(_: P.Type, value: (P) -> Variant?,
                                     set: (String, Variant) async throws -> Void) async throws -> [Variant] {
        switch self {
        case .get(let name):
            guard let v = P(rawValue: name).flatMap(value) else { throw Self.unsupportedProperty(name) }
            return [.variant(v)]
        case .getAll:
            return [.vardict(P.allCases.compactMap { property in value(property).map { (property.name, $0) } })]
        case .set(let name, let newValue):
            try await set(name, newValue)
            return []
        case .unsupported(let method):
            throw ServiceError(.notSupported, "Properties.\(method) is not supported.")
        }
    }

    static func unsupportedProperty(_ name: String) -> ServiceError {
        ServiceError(.notSupported, "Property \(name) is not supported by this version of bitsd yet.")
    }

    static func readOnly(_ name: String) -> ServiceError {
        .invalidArgs("Property \(name) is read-only.")
    }
}
