import BitsCore
import BitsDBus

/// Typed decoding of D-Bus values, used by the harnesses: a value of exactly the declared
/// type becomes a Swift value, anything else is `InvalidArgs` naming the argument or property
/// (never a silent default). GDBus already checks method signatures against the interface
/// XML; this is the harness's own check, and the only one for values inside variants.

/// A Swift type that a D-Bus value of one type string decodes into.
protocol BusDecodable {
    /// The D-Bus type string a value must have to decode into this type.
    static var busType: String { get }
    /// The value, or nil when `value` does not have type `busType`.
    init?(busValue value: Variant)
}

extension String: BusDecodable {
    static var busType: String { "s" }
    init?(busValue value: Variant) {
        guard case .string(let string) = value else { return nil }
        self = string
    }
}

extension Bool: BusDecodable {
    static var busType: String { "b" }
    init?(busValue value: Variant) {
        guard case .bool(let bool) = value else { return nil }
        self = bool
    }
}

extension UInt32: BusDecodable {
    static var busType: String { "u" }
    init?(busValue value: Variant) {
        guard case .uint32(let number) = value else { return nil }
        self = number
    }
}

extension UInt64: BusDecodable {
    static var busType: String { "t" }
    init?(busValue value: Variant) {
        guard case .uint64(let number) = value else { return nil }
        self = number
    }
}

extension Array: BusDecodable where Element: BusDecodable {
    static var busType: String { "a" + Element.busType }
    /// Every element must decode, or the whole array does not.
    init?(busValue value: Variant) {
        guard case .array(let elementType, let items) = value, elementType == Element.busType else { return nil }
        var elements: [Element] = []
        elements.reserveCapacity(items.count)
        for item in items {
            guard let element = Element(busValue: item) else { return nil }
            elements.append(element)
        }
        self = elements
    }
}

/// `(tt)`: one (offset, length) range of `AddFileWithRanges`.
extension FileRange: BusDecodable {
    static var busType: String { "(tt)" }
    init?(busValue value: Variant) {
        guard case .tuple(let items) = value, items.count == 2,
              let offset = UInt64(busValue: items[0]), let length = UInt64(busValue: items[1]) else { return nil }
        self.init(offset: offset, length: length)
    }
}

/// `(ss)`: one (remote_url, local_path) entry of `AddFiles`.
struct FileSource: BusDecodable, Equatable {
    let remote: String
    let local: String
    static var busType: String { "(ss)" }
    init(remote: String, local: String) {
        self.remote = remote
        self.local = local
    }
    init?(busValue value: Variant) {
        guard case .tuple(let items) = value, items.count == 2,
              let remote = String(busValue: items[0]), let local = String(busValue: items[1]) else { return nil }
        self.init(remote: remote, local: local)
    }
}

/// `(sss)`: AddFilesWithHashes's (remote_url, local_path, expected_hash).
struct HashedFileSource: BusDecodable, Equatable {
    let remote: String
    let local: String
    let expectedHash: String
    static var busType: String { "(sss)" }
    init?(busValue value: Variant) {
        guard case .tuple(let items) = value, items.count == 3,
              let remote = String(busValue: items[0]), let local = String(busValue: items[1]),
              let hash = String(busValue: items[2]) else { return nil }
        (self.remote, self.local, self.expectedHash) = (remote, local, hash)
    }
}

/// `v`: the value inside a variant (unboxed, for `Properties.Set`); its own type is checked
/// later, by the property that takes it (`BusDecoding.property`).
struct BoxedValue: BusDecodable {
    let value: Variant
    static var busType: String { "v" }
    init?(busValue value: Variant) {
        guard case .variant = value else { return nil }
        self.value = value.unboxed
    }
}

/// The arguments of one method call, read by position into typed values.
struct CallArguments {
    /// The member the arguments belong to (named in errors).
    let member: String
    let values: [Variant]
    /// The contract's input arguments of the member, when it is one of the contract's methods.
    let declared: [ContractArgument]

    init(member: String, _ values: [Variant]) {
        self.member = member
        self.values = values
        declared = []
    }

    /// The arguments of a method of the contract: named and typed as its XML declares them.
    init<M: ContractMethod>(_ method: M, _ values: [Variant]) {
        member = method.name
        self.values = values
        declared = method.inArguments
    }

    /// Argument `index` of a contract method, as a `T`, which must be the declared type
    /// (`InvalidArgs` naming it as for `callAsFunction(_:_:as:)`).
    func callAsFunction<T: BusDecodable>(_ index: Int, as type: T.Type = T.self) throws -> T {
        let argument = declared.indices.contains(index) ? declared[index] : ContractArgument("#\(index)", "")
        assert(argument.type == T.busType, "\(member) argument \(index) is not declared as '\(T.busType)' in the interface XML")
        return try self(index, argument.name, as: type)
    }

    /// Argument `index`, called `name` in the interface XML, as a `T`; `InvalidArgs` naming
    /// it when it is missing or has another type.
    func callAsFunction<T: BusDecodable>(_ index: Int, _ name: String, as type: T.Type = T.self) throws -> T {
        guard values.indices.contains(index) else {
            throw ServiceError.invalidArgs("Argument \(name) of \(member) is missing (type '\(T.busType)').")
        }
        guard let decoded = T(busValue: values[index]) else {
            throw ServiceError.invalidArgs("Argument \(name) of \(member) takes type '\(T.busType)', not '\(values[index].typeString)'.")
        }
        return decoded
    }
}

enum BusDecoding {
    /// The new value of property `name` (from `Properties.Set`) as a `T`; `InvalidArgs`
    /// naming the property when it has another type.
    static func property<T: BusDecodable>(_ name: String, _ value: Variant, as type: T.Type = T.self) throws -> T {
        guard let decoded = T(busValue: value) else {
            throw ServiceError.invalidArgs("Property \(name) takes type '\(T.busType)', not '\(value.typeString)'.")
        }
        return decoded
    }
}
