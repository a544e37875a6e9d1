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

    /// Merges changed properties (from `PropertiesChanged` or `GetAll`).
    public mutating func apply(_ changes: [String: Variant]) {
        for (name, boxed) in changes {
            let value = boxed.unboxed
            raw[name] = value
            switch name {
            case "Id": id = value.stringValue ?? id
            case "Type": type = value.stringValue.flatMap(JobType.init(rawValue:)) ?? type
            case "Owner": owner = value.uint32Value ?? owner
            case "DisplayName": displayName = value.stringValue ?? displayName
            case "Description": description = value.stringValue ?? description
            case "State": state = value.stringValue.flatMap(JobState.init(rawValue:)) ?? state
            case "Priority": priority = value.stringValue.flatMap(JobPriority.init(rawValue:)) ?? priority
            case "BytesTotal": bytesTotal = Self.size(value)
            case "BytesTransferred": bytesTransferred = value.uint64Value ?? bytesTransferred
            case "FilesTotal": filesTotal = value.uint32Value ?? filesTotal
            case "FilesTransferred": filesTransferred = value.uint32Value ?? filesTransferred
            case "CreationTime": creationTime = value.uint64Value ?? creationTime
            case "ModificationTime": modificationTime = value.uint64Value ?? modificationTime
            case "TransferCompletionTime": transferCompletionTime = value.uint64Value ?? transferCompletionTime
            case "ErrorContext": errorContext = value.stringValue.flatMap(ErrorContext.init(rawValue:)) ?? .unknown
            case "ErrorCode": errorCode = value.stringValue ?? errorCode
            case "ErrorDescription": errorDescription = value.stringValue ?? errorDescription
            case "ErrorFile": errorFile = value.stringValue ?? errorFile
            case "ErrorCount": errorCount = value.uint32Value ?? errorCount
            case "MinimumRetryDelay": minimumRetryDelay = value.uint32Value ?? minimumRetryDelay
            case "NoProgressTimeout": noProgressTimeout = value.uint32Value ?? noProgressTimeout
            case "MaximumDownloadTime": maximumDownloadTime = value.uint32Value ?? maximumDownloadTime
            case "NotifyFlags": notifyFlags = value.uint32Value ?? notifyFlags
            case "NotifyCommandLine": notifyCommandLine = value.items.compactMap(\.stringValue)
            case "ProxyUsage": proxyUsage = value.stringValue ?? proxyUsage
            case "ProxyList": proxyList = value.stringValue ?? proxyList
            case "ProxyBypassList": proxyBypassList = value.stringValue ?? proxyBypassList
            case "CustomHeaders": customHeaders = value.items.compactMap(\.stringValue)
            case "CustomHeadersWriteOnly": customHeadersWriteOnly = value.boolValue ?? customHeadersWriteOnly
            case "HttpMethod": httpMethod = value.stringValue ?? httpMethod
            case "RedirectPolicy": redirectPolicy = value.stringValue ?? redirectPolicy
            case "AllowHttpsToHttpRedirect": allowHttpsToHttpRedirect = value.boolValue ?? allowHttpsToHttpRedirect
            case "VerifyPeer": verifyPeer = value.boolValue ?? verifyPeer
            case "VerifyHost": verifyHost = value.boolValue ?? verifyHost
            case "CheckRevocation": checkRevocation = value.boolValue ?? checkRevocation
            case "TransferPolicy": transferPolicy = value.stringValue ?? transferPolicy
            case "DynamicContent": dynamicContent = value.boolValue ?? dynamicContent
            case "HighPerformance": highPerformance = value.boolValue ?? highPerformance
            case "MaximumDownloadSize": maximumDownloadSize = value.uint64Value ?? maximumDownloadSize
            case "MinimumNotificationInterval": minimumNotificationInterval = value.uint32Value ?? minimumNotificationInterval
            case "ReplyFileName": replyFileName = value.stringValue ?? replyFileName
            case "ReplyBytesTotal": replyBytesTotal = Self.size(value)
            case "ReplyBytesTransferred": replyBytesTransferred = value.uint64Value ?? replyBytesTransferred
            case "Files": files = value.items.compactMap(\.stringValue)
            default: break
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
            switch name {
            case "RemoteName": remoteName = value.stringValue ?? remoteName
            case "LocalName": localName = value.stringValue ?? localName
            case "TemporaryName": temporaryName = value.stringValue ?? temporaryName
            case "BytesTotal": bytesTotal = JobProperties.size(value)
            case "BytesTransferred": bytesTransferred = value.uint64Value ?? bytesTransferred
            case "Completed": completed = value.boolValue ?? completed
            case "Ranges":
                ranges = value.items.map { pair in
                    (pair.items.first?.uint64Value ?? 0, pair.items.dropFirst().first?.uint64Value ?? UInt64.max)
                }
            case "LastModified": lastModified = value.uint64Value ?? lastModified
            case "ValidationState": validationState = value.stringValue ?? validationState
            case "ResponseHeaders": responseHeaders = value.stringValue ?? responseHeaders
            default: break
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
