import BitsCore
import BitsDBus

extension BitsJob {
    /// A value for one writable job property, typed as the contract says.
    public struct Setting: Sendable, Equatable {
        public let name: String
        public let value: Variant

        public static func displayName(_ v: String) -> Setting { .init(name: "DisplayName", value: .string(v)) }
        public static func description(_ v: String) -> Setting { .init(name: "Description", value: .string(v)) }
        public static func priority(_ v: JobPriority) -> Setting { .init(name: "Priority", value: .string(v.rawValue)) }
        public static func minimumRetryDelay(_ seconds: UInt32) -> Setting { .init(name: "MinimumRetryDelay", value: .uint32(seconds)) }
        public static func noProgressTimeout(_ seconds: UInt32) -> Setting { .init(name: "NoProgressTimeout", value: .uint32(seconds)) }
        public static func maximumDownloadTime(_ seconds: UInt32) -> Setting { .init(name: "MaximumDownloadTime", value: .uint32(seconds)) }
        public static func notifyFlags(_ v: UInt32) -> Setting { .init(name: "NotifyFlags", value: .uint32(v)) }
        public static func notifyCommandLine(_ argv: [String]) -> Setting { .init(name: "NotifyCommandLine", value: .strings(argv)) }
        public static func proxyUsage(_ v: String) -> Setting { .init(name: "ProxyUsage", value: .string(v)) }
        public static func proxyList(_ v: String) -> Setting { .init(name: "ProxyList", value: .string(v)) }
        public static func proxyBypassList(_ v: String) -> Setting { .init(name: "ProxyBypassList", value: .string(v)) }
        public static func customHeaders(_ lines: [String]) -> Setting { .init(name: "CustomHeaders", value: .strings(lines)) }
        public static func customHeadersWriteOnly(_ v: Bool) -> Setting { .init(name: "CustomHeadersWriteOnly", value: .bool(v)) }
        public static func httpMethod(_ v: String) -> Setting { .init(name: "HttpMethod", value: .string(v)) }
        public static func redirectPolicy(_ v: String) -> Setting { .init(name: "RedirectPolicy", value: .string(v)) }
        public static func allowHttpsToHttpRedirect(_ v: Bool) -> Setting { .init(name: "AllowHttpsToHttpRedirect", value: .bool(v)) }
        public static func verifyPeer(_ v: Bool) -> Setting { .init(name: "VerifyPeer", value: .bool(v)) }
        public static func verifyHost(_ v: Bool) -> Setting { .init(name: "VerifyHost", value: .bool(v)) }
        public static func checkRevocation(_ v: Bool) -> Setting { .init(name: "CheckRevocation", value: .bool(v)) }
        public static func transferPolicy(_ v: String) -> Setting { .init(name: "TransferPolicy", value: .string(v)) }
        public static func dynamicContent(_ v: Bool) -> Setting { .init(name: "DynamicContent", value: .bool(v)) }
        public static func highPerformance(_ v: Bool) -> Setting { .init(name: "HighPerformance", value: .bool(v)) }
        public static func maximumDownloadSize(_ bytes: UInt64) -> Setting { .init(name: "MaximumDownloadSize", value: .uint64(bytes)) }
        public static func minimumNotificationInterval(_ ms: UInt32) -> Setting { .init(name: "MinimumNotificationInterval", value: .uint32(ms)) }
        public static func replyFileName(_ v: String) -> Setting { .init(name: "ReplyFileName", value: .string(v)) }

        /// The D-Bus type of every writable job property.
        public static let writableJobProperties: [String: String] = [
            "DisplayName": "s", "Description": "s", "Priority": "s", "MinimumRetryDelay": "u",
            "NoProgressTimeout": "u", "MaximumDownloadTime": "u", "NotifyFlags": "u", "NotifyCommandLine": "as",
            "ProxyUsage": "s", "ProxyList": "s", "ProxyBypassList": "s", "CustomHeaders": "as",
            "CustomHeadersWriteOnly": "b", "HttpMethod": "s", "RedirectPolicy": "s", "AllowHttpsToHttpRedirect": "b",
            "VerifyPeer": "b", "VerifyHost": "b", "CheckRevocation": "b", "TransferPolicy": "s",
            "DynamicContent": "b", "HighPerformance": "b", "MaximumDownloadSize": "t",
            "MinimumNotificationInterval": "u", "ReplyFileName": "s",
        ]

        /// The D-Bus type of every writable file property.
        public static let writableFileProperties: [String: String] = ["RemoteName": "s", "ValidationState": "s"]

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
