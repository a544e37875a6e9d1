import BitsClient
import Foundation

/// JSON for `--json`: property names as keys, D-Bus values as JSON values (UINT64_MAX stays
/// the number 18446744073709551615, as on the bus; `a(tt)` becomes `[[offset, length]]`).
enum JSONOutput {
    static func value(_ variant: Variant) -> Any {
        switch variant {
        case .string(let s), .objectPath(let s), .signature(let s): return s
        case .bool(let b): return b
        case .byte(let v): return NSNumber(value: v)
        case .int32(let v): return NSNumber(value: v)
        case .uint32(let v): return NSNumber(value: v)
        case .int64(let v): return NSNumber(value: v)
        case .uint64(let v): return NSNumber(value: v)
        case .double(let v): return NSNumber(value: v)
        case .variant(let inner): return value(inner)
        case .array(_, let items), .tuple(let items): return items.map(value)
        case .dictionary(_, _, let entries):
            var object: [String: Any] = [:]
            for (key, item) in entries { object[key.stringValue ?? "\(key)"] = value(item) }
            return object
        }
    }

    /// A job's properties (plus `Path`, and `FileDetails` when given).
    static func job(_ job: JobProperties, files: [FileProperties]? = nil) -> [String: Any] {
        var object = properties(job.raw, path: job.path)
        if let files { object["FileDetails"] = files.map { file($0) } }
        return object
    }

    static func file(_ file: FileProperties) -> [String: Any] {
        var object = properties(file.raw, path: file.path)
        if let index = file.index { object["Index"] = index }
        return object
    }

    static func properties(_ raw: [String: Variant], path: String) -> [String: Any] {
        var object: [String: Any] = ["Path": path]
        for (name, variant) in raw { object[name] = value(variant) }
        return object
    }

    /// Prints one JSON document (sorted keys; one line with `compact`, for event streams).
    static func print(_ object: Any, compact: Bool = false) {
        var options: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed]
        if !compact { options.insert(.prettyPrinted) }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: options)) ?? Data("null".utf8)
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }
}
