import BitsClient

/// A JSON value, written by `JSONOutput` with keys in byte order. (Foundation's
/// JSONSerialization with `.sortedKeys` spent most of `list --json`'s time comparing keys
/// with locale-aware string comparison on Linux.)
indirect enum JSON: Equatable {
    case null
    case bool(Bool)
    /// A number already in its JSON form (integers stay exact: UINT64_MAX is not a Double).
    case number(String)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    /// From plain Swift values: String, Bool, integers, Double, arrays, [String: Any], JSON.
    init(any value: Any) {
        switch value {
        case let json as JSON: self = json
        case let string as String: self = .string(string)
        case let bool as Bool: self = .bool(bool)
        case let number as any BinaryInteger: self = .number("\(number)")
        case let number as Double: self = number.isFinite ? .number("\(number)") : .null
        case let array as [Any]: self = .array(array.map(JSON.init(any:)))
        case let object as [String: Any]: self = .object(object.mapValues(JSON.init(any:)))
        default: self = .string("\(value)")
        }
    }

    /// The JSON text: pretty (two-space indent) or on one line.
    func text(compact: Bool) -> String {
        var out = ""
        write(to: &out, indent: compact ? nil : "")
        return out
    }

    private func write(to out: inout String, indent: String?) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n): out += n
        case .string(let s): JSON.quote(s, into: &out)
        case .array(let items):
            guard !items.isEmpty else { out += "[]"; return }
            let inner = indent.map { $0 + "  " }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                if let inner { out += "\n" + inner }
                item.write(to: &out, indent: inner)
            }
            if let indent { out += "\n" + indent }
            out += "]"
        case .object(let members):
            guard !members.isEmpty else { out += "{}"; return }
            let inner = indent.map { $0 + "  " }
            out += "{"
            let keys = members.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (i, key) in keys.enumerated() {
                if i > 0 { out += "," }
                if let inner { out += "\n" + inner }
                JSON.quote(key, into: &out)
                out += indent == nil ? ":" : ": "
                members[key]!.write(to: &out, indent: inner)
            }
            if let indent { out += "\n" + indent }
            out += "}"
        }
    }

    private static func quote(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

/// JSON for `--json`: property names as keys, D-Bus values as JSON values (UINT64_MAX stays
/// the number 18446744073709551615, as on the bus; `a(tt)` becomes `[[offset, length]]`).
enum JSONOutput {
    static func value(_ variant: Variant) -> JSON {
        switch variant {
        case .string(let s), .objectPath(let s), .signature(let s): return .string(s)
        case .bool(let b): return .bool(b)
        case .byte(let v): return .number("\(v)")
        case .int32(let v): return .number("\(v)")
        case .uint32(let v): return .number("\(v)")
        case .int64(let v): return .number("\(v)")
        case .uint64(let v): return .number("\(v)")
        case .double(let v): return JSON(any: v)
        case .variant(let inner): return value(inner)
        case .array(_, let items), .tuple(let items): return .array(items.map(value))
        case .dictionary(_, _, let entries):
            var object: [String: JSON] = [:]
            for (key, item) in entries { object[key.stringValue ?? "\(key)"] = value(item) }
            return .object(object)
        }
    }

    /// A job's properties (plus `Path`, and `FileDetails` when given).
    static func job(_ job: JobProperties, files: [FileProperties]? = nil) -> JSON {
        var object = properties(job.raw, path: job.path)
        if let files { object["FileDetails"] = .array(files.map { file($0) }) }
        return .object(object)
    }

    static func file(_ file: FileProperties) -> JSON {
        var object = properties(file.raw, path: file.path)
        if let index = file.index { object["Index"] = .number("\(index)") }
        return .object(object)
    }

    static func properties(_ raw: [String: Variant], path: String) -> [String: JSON] {
        var object: [String: JSON] = ["Path": .string(path)]
        for (name, variant) in raw { object[name] = value(variant) }
        return object
    }

    /// Prints one JSON document (pretty, or on one line with `compact`, for event streams).
    static func print(_ object: Any, compact: Bool = false) {
        Terminal.writeOut(JSON(any: object).text(compact: compact) + "\n")
    }
}
