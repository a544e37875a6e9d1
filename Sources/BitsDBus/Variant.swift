import CGLib

/// A D-Bus value in Swift form. The transport layer decodes arguments into it and encodes
/// replies, properties and signals from it; only this file converts to and from GVariant.
public indirect enum Variant: Equatable, Sendable {
    case string(String)
    case objectPath(String)
    case signature(String)
    case bool(Bool)
    case byte(UInt8)
    case int32(Int32)
    case uint32(UInt32)
    case int64(Int64)
    case uint64(UInt64)
    case double(Double)
    /// A value boxed in `v`.
    case variant(Variant)
    /// An array with its element type string (needed for empty arrays).
    case array(elementType: String, [Variant])
    /// `a{sv}` and other dictionaries: ordered entries with key and value types.
    case dictionary(keyType: String, valueType: String, [(Variant, Variant)])
    case tuple([Variant])

    public static func == (lhs: Variant, rhs: Variant) -> Bool { lhs.typeString == rhs.typeString && "\(lhs)" == "\(rhs)" }

    /// The D-Bus type string of this value.
    public var typeString: String {
        switch self {
        case .string: "s"
        case .objectPath: "o"
        case .signature: "g"
        case .bool: "b"
        case .byte: "y"
        case .int32: "i"
        case .uint32: "u"
        case .int64: "x"
        case .uint64: "t"
        case .double: "d"
        case .variant: "v"
        case .array(let element, _): "a" + element
        case .dictionary(let k, let v, _): "a{" + k + v + "}"
        case .tuple(let items): "(" + items.map(\.typeString).joined() + ")"
        }
    }

    /// `a{sv}` from named values.
    public static func vardict(_ entries: [(String, Variant)]) -> Variant {
        .dictionary(keyType: "s", valueType: "v", entries.map { (.string($0.0), .variant($0.1)) })
    }

    public static func strings(_ values: [String]) -> Variant { .array(elementType: "s", values.map(Variant.string)) }
    public static func objectPaths(_ values: [String]) -> Variant { .array(elementType: "o", values.map(Variant.objectPath)) }

    public var stringValue: String? {
        switch self { case .string(let s), .objectPath(let s), .signature(let s): s; default: nil }
    }
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var uint32Value: UInt32? { if case .uint32(let v) = self { v } else { nil } }
    public var uint64Value: UInt64? { if case .uint64(let v) = self { v } else { nil } }
    public var unboxed: Variant { if case .variant(let inner) = self { inner.unboxed } else { self } }
    public var items: [Variant] {
        switch self {
        case .array(_, let values), .tuple(let values): values
        default: []
        }
    }
}

// MARK: - GVariant conversion

extension Variant {
    /// A new floating GVariant for this value.
    package func makeGVariant() -> OpaquePointer {
        switch self {
        case .string(let s): return g_variant_new_string(s)
        case .objectPath(let s): return g_variant_new_object_path(s)
        case .signature(let s): return g_variant_new_signature(s)
        case .bool(let b): return g_variant_new_boolean(b ? 1 : 0)
        case .byte(let v): return g_variant_new_byte(v)
        case .int32(let v): return g_variant_new_int32(v)
        case .uint32(let v): return g_variant_new_uint32(v)
        case .int64(let v): return g_variant_new_int64(Int(v))
        case .uint64(let v): return g_variant_new_uint64(UInt(v))
        case .double(let v): return g_variant_new_double(v)
        case .variant(let inner): return g_variant_new_variant(inner.makeGVariant())
        case .array(let element, let values):
            if element == "y" {
                let bytes: [UInt8] = values.map { value -> UInt8 in
                    if case .byte(let b) = value { return b }
                    return 0
                }
                // g_bytes_new copies the bytes; the GVariant keeps the GBytes.
                let data = bytes.withUnsafeBytes { raw in g_bytes_new(raw.baseAddress, gsize(raw.count)) }
                defer { g_bytes_unref(data) }
                return withVariantType("ay") { type in g_variant_new_from_bytes(type, data, 1) }
            }
            let children: [OpaquePointer?] = values.map { $0.makeGVariant() }
            return withVariantType(element) { type in
                children.withUnsafeBufferPointer { g_variant_new_array(type, $0.baseAddress, gsize($0.count)) }
            }
        case .dictionary(let k, let v, let entries):
            let children: [OpaquePointer?] = entries.map { g_variant_new_dict_entry($0.0.makeGVariant(), $0.1.makeGVariant()) }
            let entryType = "{" + k + v + "}"
            return withVariantType(entryType) { type in
                children.withUnsafeBufferPointer { g_variant_new_array(type, $0.baseAddress, gsize($0.count)) }
            }
        case .tuple(let items):
            let children: [OpaquePointer?] = items.map { $0.makeGVariant() }
            return children.withUnsafeBufferPointer { buffer in
                g_variant_new_tuple(buffer.baseAddress, gsize(buffer.count))
            }
        }
    }

    /// Decodes a GVariant (borrowed, not consumed).
    package init(gvariant value: OpaquePointer) {
        let type = String(cString: g_variant_get_type_string(value))
        switch type {
        case "s": self = .string(String(cString: g_variant_get_string(value, nil)))
        case "o": self = .objectPath(String(cString: g_variant_get_string(value, nil)))
        case "g": self = .signature(String(cString: g_variant_get_string(value, nil)))
        case "b": self = .bool(g_variant_get_boolean(value) != 0)
        case "y": self = .byte(g_variant_get_byte(value))
        case "i": self = .int32(g_variant_get_int32(value))
        case "u": self = .uint32(g_variant_get_uint32(value))
        case "x": self = .int64(Int64(g_variant_get_int64(value)))
        case "t": self = .uint64(UInt64(g_variant_get_uint64(value)))
        case "n": self = .int32(Int32(g_variant_get_int16(value)))
        case "q": self = .uint32(UInt32(g_variant_get_uint16(value)))
        case "d": self = .double(g_variant_get_double(value))
        case "v":
            let inner = g_variant_get_variant(value)!
            defer { g_variant_unref(inner) }
            self = .variant(Variant(gvariant: inner))
        default:
            let children = Variant.children(of: value)
            if type.hasPrefix("a{") {
                let inner = String(type.dropFirst(2).dropLast())
                let keyType = String(inner.prefix(1))
                let entries = children.map { entry -> (Variant, Variant) in
                    let items = entry.items
                    return (items.first ?? .string(""), items.count > 1 ? items[1] : .string(""))
                }
                self = .dictionary(keyType: keyType, valueType: String(inner.dropFirst()), entries)
            } else if type.hasPrefix("a") {
                self = .array(elementType: String(type.dropFirst()), children)
            } else {
                self = .tuple(children)
            }
        }
    }

    /// This value encoded into a GVariant and decoded back, with the GVariant's own type
    /// string: the coding checked without a bus (the tests' round trips).
    package func roundTripped() -> (typeString: String, value: Variant) {
        let value = makeGVariant()
        g_variant_ref_sink(value)
        defer { g_variant_unref(value) }
        return (String(cString: g_variant_get_type_string(value)), Variant(gvariant: value))
    }

    private static func children(of value: OpaquePointer) -> [Variant] {
        let count = g_variant_n_children(value)
        return (0..<count).map { index in
            let child = g_variant_get_child_value(value, index)!
            defer { g_variant_unref(child) }
            return Variant(gvariant: child)
        }
    }
}

/// Runs `body` with a GVariantType for `typeString`. The C string must outlive the call that
/// uses the type: passing `bits_variant_type(swiftString)` straight into another C call
/// would hand it a pointer to a temporary that is already freed (seen as sporadic NULL
/// GVariants and crashes in release builds).
package func withVariantType<T>(_ typeString: String, _ body: (OpaquePointer?) -> T) -> T {
    typeString.withCString { body(bits_variant_type($0)) }
}
