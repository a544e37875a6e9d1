import BitsCore
import BitsDBus

extension BitsJob {
    /// A value for one writable job property, typed as the contract says.
    public struct Setting: Sendable, Equatable {
        public let name: String
        public let value: Variant

        public static func displayName(_ v: String) -> Setting { .init(.displayName, .string(v)) }
        public static func description(_ v: String) -> Setting { .init(.description, .string(v)) }
        public static func priority(_ v: JobPriority) -> Setting { .init(.priority, .string(v.rawValue)) }
        public static func minimumRetryDelay(_ seconds: UInt32) -> Setting { .init(.minimumRetryDelay, .uint32(seconds)) }
        public static func noProgressTimeout(_ seconds: UInt32) -> Setting { .init(.noProgressTimeout, .uint32(seconds)) }
        public static func maximumDownloadTime(_ seconds: UInt32) -> Setting { .init(.maximumDownloadTime, .uint32(seconds)) }
        public static func notifyFlags(_ v: UInt32) -> Setting { .init(.notifyFlags, .uint32(v)) }
        public static func notifyCommandLine(_ argv: [String]) -> Setting { .init(.notifyCommandLine, .strings(argv)) }
        public static func proxyUsage(_ v: String) -> Setting { .init(.proxyUsage, .string(v)) }
        public static func proxyList(_ v: String) -> Setting { .init(.proxyList, .string(v)) }
        public static func proxyBypassList(_ v: String) -> Setting { .init(.proxyBypassList, .string(v)) }
        public static func customHeaders(_ lines: [String]) -> Setting { .init(.customHeaders, .strings(lines)) }
        public static func customHeadersWriteOnly(_ v: Bool) -> Setting { .init(.customHeadersWriteOnly, .bool(v)) }
        public static func httpMethod(_ v: String) -> Setting { .init(.httpMethod, .string(v)) }
        public static func redirectPolicy(_ v: String) -> Setting { .init(.redirectPolicy, .string(v)) }
        public static func allowHttpsToHttpRedirect(_ v: Bool) -> Setting { .init(.allowHttpsToHttpRedirect, .bool(v)) }
        public static func verifyPeer(_ v: Bool) -> Setting { .init(.verifyPeer, .bool(v)) }
        public static func verifyHost(_ v: Bool) -> Setting { .init(.verifyHost, .bool(v)) }
        public static func checkRevocation(_ v: Bool) -> Setting { .init(.checkRevocation, .bool(v)) }
        public static func transferPolicy(_ v: String) -> Setting { .init(.transferPolicy, .string(v)) }
        public static func dynamicContent(_ v: Bool) -> Setting { .init(.dynamicContent, .bool(v)) }
        public static func highPerformance(_ v: Bool) -> Setting { .init(.highPerformance, .bool(v)) }
        public static func maximumDownloadSize(_ bytes: UInt64) -> Setting { .init(.maximumDownloadSize, .uint64(bytes)) }
        public static func minimumNotificationInterval(_ ms: UInt32) -> Setting { .init(.minimumNotificationInterval, .uint32(ms)) }
        public static func replyFileName(_ v: String) -> Setting { .init(.replyFileName, .string(v)) }

        init(_ property: JobProperty, _ value: Variant) {
            name = property.name
            self.value = value
        }

        init(name: String, value: Variant) {
            self.name = name
            self.value = value
        }

        /// The D-Bus type of every writable job property (from the contract).
        public static let writableJobProperties = types(JobProperty.writable)

        /// The D-Bus type of every writable file property.
        public static let writableFileProperties = types(FileProperty.writable)

        static func types<P: ContractProperty>(_ properties: [P]) -> [String: String] {
            Dictionary(uniqueKeysWithValues: properties.map { ($0.name, $0.signature) })
        }

        /// Parses command-line text into a value of the property's type: strings as they
        /// are, numbers in decimal or `0x` hex, booleans `true`/`false` (also yes/no, 1/0),
        /// string lists one argument per element (no arguments = empty list).
        /// - Parameter types: `writableJobProperties` or `writableFileProperties`.
        public static func parse(name: String, arguments: [String],
                                 types: [String: String] = writableJobProperties) throws -> Setting {
            guard let type = types[name] ?? types.first(where: { $0.key.lowercased() == name.lowercased() })?.value else {
                let known = types.keys.sorted().joined(separator: ", ")
                throw BitsClientError(code: .invalidArgs, name: "", message: "\"\(name)\" is not a writable property; writable: \(known).")
            }
            let canonical = types.keys.first { $0.lowercased() == name.lowercased() } ?? name
            if type == "as" { return Setting(name: canonical, value: .strings(arguments)) }
            guard arguments.count == 1, let text = arguments.first else {
                throw BitsClientError(code: .invalidArgs, name: "",
                                      message: "\(canonical) takes exactly one value (got \(arguments.count)).")
            }
            func bad(_ what: String) -> BitsClientError {
                BitsClientError(code: .invalidArgs, name: "", message: "\"\(text)\" is not \(what) (\(canonical)).")
            }
            switch type {
            case "s": return Setting(name: canonical, value: .string(text))
            case "u":
                guard let value = parseInteger(text).flatMap({ UInt32(exactly: $0) }) else { throw bad("an unsigned 32-bit number") }
                return Setting(name: canonical, value: .uint32(value))
            case "t":
                guard let value = parseInteger(text) else { throw bad("an unsigned 64-bit number") }
                return Setting(name: canonical, value: .uint64(value))
            default:
                switch text.lowercased() {
                case "true", "yes", "1", "on": return Setting(name: canonical, value: .bool(true))
                case "false", "no", "0", "off": return Setting(name: canonical, value: .bool(false))
                default: throw bad("true or false")
                }
            }
        }

        static func parseInteger(_ text: String) -> UInt64? {
            let lower = text.lowercased()
            if lower.hasPrefix("0x") { return UInt64(lower.dropFirst(2), radix: 16) }
            return UInt64(text)
        }
    }
}
