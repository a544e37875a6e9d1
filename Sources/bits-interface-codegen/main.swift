import Foundation

// The build tool behind the InterfaceCodegen plugin. It reads the interface XML in `dbus/`
// (the contract) and writes Swift:
//
//   bits-interface-codegen contract OUT.swift XML...   the contract table for BitsCore: one enum
//       per interface's methods, signals and properties, with names, argument and property
//       signatures and property access (`JobProperty`, `JobMethod`, `JobSignal`, ...)
//   bits-interface-codegen embed OUT.swift XML...      the XML texts for BitsBus
//       (`EmbeddedInterfaces.xml`), which the daemon serves as its introspection data
//
// The parser reads the subset of XML that D-Bus introspection data is: elements and quoted
// attributes, comments and a DOCTYPE (skipped). The daemon parses the same text with GDBus, and
// BitsBusTests compares the two.

struct Argument {
    var name: String
    var type: String
    var direction: String
}

struct Member {
    var name: String
    var arguments: [Argument] = []
}

struct Property {
    var name: String
    var type: String
    var access: String
}

struct Interface {
    var name: String
    var methods: [Member] = []
    var signals: [Member] = []
    var properties: [Property] = []
}

struct ToolError: Error, CustomStringConvertible {
    let description: String
}

/// The interfaces of one introspection document, in document order.
func parse(_ text: String, file: String) throws -> [Interface] {
    var rest = Substring(text)
    var interfaces: [Interface] = []
    var current: Interface?
    var member: (kind: String, value: Member)?
    var depth: [String] = []
    func ended(_ name: String) throws {
        switch name {
        case "method", "signal":
            guard let finished = member, current != nil else { return }
            if finished.kind == "method" { current!.methods.append(finished.value) } else { current!.signals.append(finished.value) }
            member = nil
        case "interface":
            if let current { interfaces.append(current) }
            current = nil
        default:
            break
        }
    }
    while let open = rest.firstIndex(of: "<") {
        rest = rest[open...]
        if rest.hasPrefix("<!--") {
            guard let end = rest.range(of: "-->") else { throw ToolError(description: "\(file): unterminated comment") }
            rest = rest[end.upperBound...]
            continue
        }
        guard let close = rest.firstIndex(of: ">") else { throw ToolError(description: "\(file): unterminated tag") }
        let tag = rest[rest.index(after: open)..<close]
        rest = rest[rest.index(after: close)...]
        if tag.hasPrefix("!") || tag.hasPrefix("?") { continue }
        if tag.hasPrefix("/") {
            let name = tag.dropFirst().trimmingCharacters(in: .whitespacesAndNewlines)
            guard depth.last == name else { throw ToolError(description: "\(file): </\(name)> does not close <\(depth.last ?? "")>") }
            depth.removeLast()
            try ended(name)
            continue
        }
        let selfClosing = tag.hasSuffix("/")
        let body = selfClosing ? tag.dropLast() : tag
        let name = String(body.prefix { !$0.isWhitespace })
        let attributes = try attributesOf(body.dropFirst(name.count), file: file)
        func attribute(_ key: String) throws -> String {
            guard let value = attributes[key] else { throw ToolError(description: "\(file): <\(name)> without \(key)") }
            return value
        }
        switch name {
        case "interface":
            current = Interface(name: try attribute("name"))
        case "method", "signal":
            member = (name, Member(name: try attribute("name")))
        case "arg" where member != nil:
            let direction = attributes["direction"] ?? (member!.kind == "signal" ? "out" : "in")
            member!.value.arguments.append(Argument(name: attributes["name"] ?? "", type: try attribute("type"), direction: direction))
        case "property" where current != nil:
            current!.properties.append(Property(name: try attribute("name"), type: try attribute("type"),
                                                access: try attribute("access")))
        default:
            break
        }
        if selfClosing { try ended(name) } else { depth.append(name) }
    }

    return interfaces
}

func attributesOf(_ text: Substring, file: String) throws -> [String: String] {
    var result: [String: String] = [:]
    var rest = text
    while true {
        rest = rest.drop { $0.isWhitespace }
        guard !rest.isEmpty else { return result }
        guard let equals = rest.firstIndex(of: "=") else { throw ToolError(description: "\(file): bad attribute in \(text)") }
        let key = rest[..<equals].trimmingCharacters(in: .whitespaces)
        rest = rest[rest.index(after: equals)...].drop { $0.isWhitespace }
        guard let quote = rest.first, quote == "\"" || quote == "'",
              let end = rest.dropFirst().firstIndex(of: quote) else {
            throw ToolError(description: "\(file): unquoted attribute \(key)")
        }
        result[key] = unescape(rest[rest.index(after: rest.startIndex)..<end])
        rest = rest[rest.index(after: end)...]
    }
}

func unescape(_ text: Substring) -> String {
    text.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
        .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
        .replacingOccurrences(of: "&amp;", with: "&")
}

// MARK: - Swift output

/// A string literal (escaped, on one line).
func literal(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\\": out += "\\\\"
        case "\"": out += "\\\""
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// `AllowHttpsToHttpRedirect` → `allowHttpsToHttpRedirect`, `URLName` → `urlName`.
func caseName(_ name: String) -> String {
    let characters = Array(name)
    var upper = characters.prefix { $0.isUppercase }.count
    if upper > 1, upper < characters.count { upper -= 1 }
    let result = String(characters.prefix(upper)).lowercased() + String(characters.dropFirst(upper))
    let keywords: Set<String> = ["default", "self", "init", "case", "class", "protocol", "func", "var", "let", "in", "is", "as"]
    return keywords.contains(result) ? "`\(result)`" : result
}

func arguments(_ list: [Argument]) -> String {
    "[" + list.map { "ContractArgument(\(literal($0.name)), \(literal($0.type)))" }.joined(separator: ", ") + "]"
}

func enumeration(kind: String, interface: Interface, names: [String], conformance: String,
                 members: [(name: String, body: String)], document: String) -> String {
    let short = interface.name.split(separator: ".").last.map(String.init) ?? interface.name
    var out = "/// \(document) of `\(interface.name)`, in the order of its XML.\n"
    out += "public enum \(short)\(kind): String, \(conformance) {\n"
    for name in names { out += "    case \(caseName(name)) = \(literal(name))\n" }
    out += "\n    public static let interface = BitsInterface.\(caseName(short))\n"
    for (property, cases) in members {
        out += "\n    public var \(property) {\n        switch self {\n"
        out += cases
        out += "        }\n    }\n"
    }
    return out + "}\n"
}

func contract(_ interfaces: [Interface]) -> String {
    var out = "// Generated from dbus/*.xml by the InterfaceCodegen plugin (bits-interface-codegen contract). Do not edit.\n\n"
    out += "/// The interfaces of the bitsd contract.\npublic enum BitsInterface: String, Sendable, CaseIterable {\n"
    for interface in interfaces {
        out += "    case \(caseName(String(interface.name.split(separator: ".").last!))) = \(literal(interface.name))\n"
    }
    out += "}\n"
    for interface in interfaces {
        if !interface.methods.isEmpty {
            let inputs = interface.methods.map { "        case .\(caseName($0.name)): \(arguments($0.arguments.filter { $0.direction == "in" }))\n" }.joined()
            let outputs = interface.methods.map { "        case .\(caseName($0.name)): \(arguments($0.arguments.filter { $0.direction == "out" }))\n" }.joined()
            out += "\n" + enumeration(kind: "Method", interface: interface, names: interface.methods.map(\.name),
                                      conformance: "ContractMethod",
                                      members: [("inArguments: [ContractArgument]", inputs), ("outArguments: [ContractArgument]", outputs)],
                                      document: "The methods")
        }
        if !interface.signals.isEmpty {
            let args = interface.signals.map { "        case .\(caseName($0.name)): \(arguments($0.arguments))\n" }.joined()
            out += "\n" + enumeration(kind: "Signal", interface: interface, names: interface.signals.map(\.name),
                                      conformance: "ContractSignal", members: [("arguments: [ContractArgument]", args)],
                                      document: "The signals")
        }
        if !interface.properties.isEmpty {
            let signatures = interface.properties.map { "        case .\(caseName($0.name)): \(literal($0.type))\n" }.joined()
            let access = interface.properties.map { "        case .\(caseName($0.name)): .\($0.access)\n" }.joined()
            out += "\n" + enumeration(kind: "Property", interface: interface, names: interface.properties.map(\.name),
                                      conformance: "ContractProperty",
                                      members: [("signature: String", signatures), ("access: PropertyAccess", access)],
                                      document: "The properties")
        }
    }
    return out
}

func embedded(_ documents: [(interface: String, text: String)]) -> String {
    var out = "// Generated from dbus/*.xml by the InterfaceCodegen plugin (bits-interface-codegen embed). Do not edit.\n\n"
    out += "/// The interface XML of `dbus/`, compiled into the daemon: its introspection data.\n"
    out += "enum EmbeddedInterfaces {\n    /// The XML text by interface name.\n    static let xml: [String: String] = [\n"
    for document in documents { out += "        \(literal(document.interface)): \(literal(document.text)),\n" }
    return out + "    ]\n}\n"
}

func run() throws {
    let arguments = CommandLine.arguments.dropFirst()
    guard arguments.count >= 2, let mode = arguments.first, ["contract", "embed"].contains(mode) else {
        throw ToolError(description: "usage: bits-interface-codegen contract|embed OUT.swift XML...")
    }
    let output = arguments.dropFirst().first!
    var interfaces: [Interface] = []
    var documents: [(interface: String, text: String)] = []
    for path in arguments.dropFirst(2) {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let found = try parse(text, file: path)
        guard found.count == 1, let interface = found.first,
              URL(fileURLWithPath: path).lastPathComponent == interface.name + ".xml" else {
            throw ToolError(description: "\(path): expected one interface named as the file")
        }
        interfaces.append(interface)
        documents.append((interface.name, text))
    }
    let swift = mode == "contract" ? contract(interfaces) : embedded(documents)
    // Rewritten only when it changed, so that an unchanged contract does not recompile its module.
    if (try? String(contentsOfFile: output, encoding: .utf8)) != swift {
        try swift.write(toFile: output, atomically: true, encoding: .utf8)
    }
}

do {
    try run()
} catch {
    FileHandle.standardError.write(Data("bits-interface-codegen: \(error)\n".utf8))
    exit(1)
}
