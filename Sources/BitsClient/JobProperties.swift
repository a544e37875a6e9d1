import BitsCore
import BitsDBus

/// Every property of a job (`org.example.Bits.Job`), decoded from `GetAll`. Unknown or
/// missing values keep their defaults; `raw` keeps what the service sent, by name.
public struct JobProperties: Sendable, Equatable {
    public var path: String
    public var id = ""
    public var type = JobType.download
    public var owner: UInt32 = 0
    public var displayName = ""
    public var description = ""
    public var state = JobState.suspended
    public var priority = JobPriority.normal
    /// `nil` while unknown (UINT64_MAX on the bus).
    public var bytesTotal: UInt64?
    public var bytesTransferred: UInt64 = 0
    /// Bytes per second over the last seconds while transferring, 0 otherwise.
    public var bytesPerSecond: UInt64 = 0
    /// Seconds left at that rate; `nil` while unknown (UINT64_MAX on the bus).
    public var estimatedTimeRemaining: UInt64?
    public var filesTotal: UInt32 = 0
    public var filesTransferred: UInt32 = 0
    /// Microseconds since the Unix epoch; 0 = never.
    public var creationTime: UInt64 = 0
    public var modificationTime: UInt64 = 0
    public var transferCompletionTime: UInt64 = 0
    public var errorContext = ErrorContext.none
    public var errorCode = ""
    public var errorDescription = ""
    /// The file concerned by the last error, `/` if none.
    public var errorFile = "/"
    public var errorCount: UInt32 = 0
    public var minimumRetryDelay: UInt32 = 600
    public var noProgressTimeout: UInt32 = 1_209_600
    public var maximumDownloadTime: UInt32 = 7_776_000
    public var notifyFlags: UInt32 = 3
    public var notifyCommandLine: [String] = []
    public var proxyUsage = "preconfig"
    public var proxyList = ""
    public var proxyBypassList = ""
    public var customHeaders: [String] = []
    public var customHeadersWriteOnly = false
    public var httpMethod = "GET"
    public var redirectPolicy = "allow"
    public var allowHttpsToHttpRedirect = false
    public var verifyPeer = true
    public var verifyHost = true
    public var checkRevocation = false
    public var transferPolicy = "always"
    public var dynamicContent = false
    public var highPerformance = false
    public var maximumDownloadSize: UInt64 = 0
    public var minimumNotificationInterval: UInt32 = 500
    public var replyFileName = ""
    /// `nil` while unknown.
    public var replyBytesTotal: UInt64?
    public var replyBytesTransferred: UInt64 = 0
    /// File object paths in the order they were added.
    public var files: [String] = []
    /// Every property as the service sent it (latest values).
    public var raw: [String: Variant] = [:]

    public init(path: String, properties: [String: Variant] = [:]) {
        self.path = path
        apply(properties)
    }

    /// True once the job is `acknowledged` or `cancelled`: it is gone from the service.
    public var isFinal: Bool { state == .acknowledged || state == .cancelled }

    /// Merges changed properties (from `PropertiesChanged` or `GetAll`). The switch covers
    /// every property of the contract; unknown names are kept in `raw` only.
    public mutating func apply(_ changes: [String: Variant]) {
        for (name, boxed) in changes {
            let value = boxed.unboxed
            raw[name] = value
            switch JobProperty(rawValue: name) {
            case .id?: id = value.stringValue ?? id
            case .type?: type = value.stringValue.flatMap(JobType.init(rawValue:)) ?? type
            case .owner?: owner = value.uint32Value ?? owner
            case .displayName?: displayName = value.stringValue ?? displayName
            case .description?: description = value.stringValue ?? description
            case .state?: state = value.stringValue.flatMap(JobState.init(rawValue:)) ?? state
            case .priority?: priority = value.stringValue.flatMap(JobPriority.init(rawValue:)) ?? priority
            case .bytesTotal?: bytesTotal = Self.size(value)
            case .bytesTransferred?: bytesTransferred = value.uint64Value ?? bytesTransferred
            case .bytesPerSecond?: bytesPerSecond = value.uint64Value ?? bytesPerSecond
            case .estimatedTimeRemaining?: estimatedTimeRemaining = Self.size(value)
            case .filesTotal?: filesTotal = value.uint32Value ?? filesTotal
            case .filesTransferred?: filesTransferred = value.uint32Value ?? filesTransferred
            case .creationTime?: creationTime = value.uint64Value ?? creationTime
            case .modificationTime?: modificationTime = value.uint64Value ?? modificationTime
            case .transferCompletionTime?: transferCompletionTime = value.uint64Value ?? transferCompletionTime
            case .errorContext?: errorContext = value.stringValue.flatMap(ErrorContext.init(rawValue:)) ?? .unknown
            case .errorCode?: errorCode = value.stringValue ?? errorCode
            case .errorDescription?: errorDescription = value.stringValue ?? errorDescription
            case .errorFile?: errorFile = value.stringValue ?? errorFile
            case .errorCount?: errorCount = value.uint32Value ?? errorCount
            case .minimumRetryDelay?: minimumRetryDelay = value.uint32Value ?? minimumRetryDelay
            case .noProgressTimeout?: noProgressTimeout = value.uint32Value ?? noProgressTimeout
            case .maximumDownloadTime?: maximumDownloadTime = value.uint32Value ?? maximumDownloadTime
            case .notifyFlags?: notifyFlags = value.uint32Value ?? notifyFlags
            case .notifyCommandLine?: notifyCommandLine = value.items.compactMap(\.stringValue)
            case .proxyUsage?: proxyUsage = value.stringValue ?? proxyUsage
            case .proxyList?: proxyList = value.stringValue ?? proxyList
            case .proxyBypassList?: proxyBypassList = value.stringValue ?? proxyBypassList
            case .customHeaders?: customHeaders = value.items.compactMap(\.stringValue)
            case .customHeadersWriteOnly?: customHeadersWriteOnly = value.boolValue ?? customHeadersWriteOnly
            case .httpMethod?: httpMethod = value.stringValue ?? httpMethod
            case .redirectPolicy?: redirectPolicy = value.stringValue ?? redirectPolicy
            case .allowHttpsToHttpRedirect?: allowHttpsToHttpRedirect = value.boolValue ?? allowHttpsToHttpRedirect
            case .verifyPeer?: verifyPeer = value.boolValue ?? verifyPeer
            case .verifyHost?: verifyHost = value.boolValue ?? verifyHost
            case .checkRevocation?: checkRevocation = value.boolValue ?? checkRevocation
            case .transferPolicy?: transferPolicy = value.stringValue ?? transferPolicy
            case .dynamicContent?: dynamicContent = value.boolValue ?? dynamicContent
            case .highPerformance?: highPerformance = value.boolValue ?? highPerformance
            case .maximumDownloadSize?: maximumDownloadSize = value.uint64Value ?? maximumDownloadSize
            case .minimumNotificationInterval?: minimumNotificationInterval = value.uint32Value ?? minimumNotificationInterval
            case .replyFileName?: replyFileName = value.stringValue ?? replyFileName
            case .replyBytesTotal?: replyBytesTotal = Self.size(value)
            case .replyBytesTransferred?: replyBytesTransferred = value.uint64Value ?? replyBytesTransferred
            case .files?: files = value.items.compactMap(\.stringValue)
            case nil: break
            }
        }
    }

    static func size(_ value: Variant) -> UInt64? {
        guard let size = value.uint64Value, size != UInt64.max else { return nil }
        return size
    }
}

/// Every property of a file (`org.example.Bits.File`).
public struct FileProperties: Sendable, Equatable {
    public var path: String
    public var remoteName = ""
    public var localName = ""
    public var temporaryName = ""
    /// `nil` while unknown.
    public var bytesTotal: UInt64?
    public var bytesTransferred: UInt64 = 0
    public var completed = false
    /// (offset, length) pairs; length `UInt64.max` = to the end.
    public var ranges: [(offset: UInt64, length: UInt64)] = []
    public var lastModified: UInt64 = 0
    public var validationState = "unknown"
    public var responseHeaders = ""
    /// `ExpectedHash`: `""` or `sha256:<hex>`/`sha512:<hex>`.
    public var expectedHash = ""
    /// `Hash`: `sha256:<hex>` of the transferred file, `""` before.
    public var hash = ""
    public var raw: [String: Variant] = [:]

    public init(path: String, properties: [String: Variant] = [:]) {
        self.path = path
        apply(properties)
    }

    /// The file's 0-based index, from its object path.
    public var index: Int? { path.split(separator: "/").last.flatMap { Int($0) } }

    public mutating func apply(_ changes: [String: Variant]) {
        for (name, boxed) in changes {
            let value = boxed.unboxed
            raw[name] = value
            switch FileProperty(rawValue: name) {
            case .remoteName?: remoteName = value.stringValue ?? remoteName
            case .localName?: localName = value.stringValue ?? localName
            case .temporaryName?: temporaryName = value.stringValue ?? temporaryName
            case .bytesTotal?: bytesTotal = JobProperties.size(value)
            case .bytesTransferred?: bytesTransferred = value.uint64Value ?? bytesTransferred
            case .completed?: completed = value.boolValue ?? completed
            case .ranges?:
                ranges = value.items.map { pair in
                    (pair.items.first?.uint64Value ?? 0, pair.items.dropFirst().first?.uint64Value ?? UInt64.max)
                }
            case .lastModified?: lastModified = value.uint64Value ?? lastModified
            case .validationState?: validationState = value.stringValue ?? validationState
            case .responseHeaders?: responseHeaders = value.stringValue ?? responseHeaders
            case .expectedHash?: expectedHash = value.stringValue ?? expectedHash
            case .hash?: hash = value.stringValue ?? hash
            case nil: break
            }
        }
    }

    public static func == (lhs: FileProperties, rhs: FileProperties) -> Bool { lhs.path == rhs.path && lhs.raw == rhs.raw }
}

/// `a{sv}` as a Swift dictionary.
func propertyDictionary(_ value: Variant?) -> [String: Variant] {
    guard case .dictionary(_, _, let entries)? = value else { return [:] }
    var result: [String: Variant] = [:]
    for (key, item) in entries { if let name = key.stringValue { result[name] = item.unboxed } }
    return result
}
