/// The transfer options of a job (api.md Job properties beyond the basics). Pure data; the
/// rules for setting them are in `JobSettingRules`.
public struct JobOptions: Sendable, Equatable, Codable {
    public var notifyFlags: UInt32 = 0x3
    public var notifyCommandLine: [String] = []
    public var proxyUsage: ProxyUsage = .preconfig
    public var proxyList = ""
    public var proxyBypassList = ""
    public var customHeaders: [String] = []
    public var customHeadersWriteOnly = false
    public var httpMethod = "GET"
    public var redirectPolicy: JobRedirectPolicy = .allow
    public var allowHttpsToHttpRedirect = false
    public var verifyPeer = true
    public var verifyHost = true
    public var checkRevocation = false
    public var transferPolicy: TransferPolicy = .always
    public var dynamicContent = false
    public var highPerformance = false
    public var maximumDownloadSize: UInt64 = 0

    public init() {}

    /// A method other than GET: every error is fatal and nothing resumes (BITS).
    public var usesCustomMethod: Bool { httpMethod != "GET" }
}

/// Write-only job secrets: never readable through D-Bus, never logged.
public struct JobSecrets: Sendable, Equatable, Codable {
    public var credentials: [JobCredential] = []
    /// PEM files the owner can read, read again (as the owner) at each transfer.
    public var clientCertificateFile: String?
    public var clientKeyFile: String?

    public init() {}

    public var isEmpty: Bool { credentials.isEmpty && clientCertificateFile == nil }
}

/// One SetCredentials entry.
public struct JobCredential: Sendable, Equatable, Codable {
    public enum Target: String, Sendable, CaseIterable, Codable { case server, proxy }
    public enum Scheme: String, Sendable, CaseIterable, Codable { case basic, digest, ntlm, negotiate }
    public var target: Target
    public var scheme: Scheme
    public var userName: String
    public var password: String

    public init(target: Target, scheme: Scheme, userName: String, password: String) {
        self.target = target
        self.scheme = scheme
        self.userName = userName
        self.password = password
    }
}

/// `ProxyUsage` values.
public enum ProxyUsage: String, Sendable, CaseIterable, Codable {
    case preconfig
    case noProxy = "no-proxy"
    case override
    case autodetect
}

/// `RedirectPolicy` values.
public enum JobRedirectPolicy: String, Sendable, CaseIterable, Codable {
    case allow
    case allowReport = "allow-report"
    case deny
}

/// `TransferPolicy` values.
public enum TransferPolicy: String, Sendable, CaseIterable, Codable {
    case always
    /// Waits while the network is metered.
    case unmetered
    /// Waits while the machine runs on battery (UPower's `OnBattery`).
    case notOnBattery = "not-on-battery"
}

/// `ValidationState` of a file.
public enum ValidationState: String, Sendable, CaseIterable, Codable {
    case unknown, valid, invalid
}

/// A requested byte range of a file (`AddFileWithRanges`); length UInt64.max = to EOF.
public struct FileRange: Sendable, Equatable, Codable {
    public var offset: UInt64
    public var length: UInt64
    public init(offset: UInt64, length: UInt64) {
        self.offset = offset
        self.length = length
    }
    public static let toEndOfFile = UInt64.max
}
