/// Names of the job properties that change, for change notification. Raw values are the
/// D-Bus property names of `org.example.Bits.Job`.
public enum JobProperty: String, Sendable, CaseIterable {
    case owner = "Owner"
    case displayName = "DisplayName"
    case description = "Description"
    case state = "State"
    case priority = "Priority"
    case bytesTotal = "BytesTotal"
    case bytesTransferred = "BytesTransferred"
    case filesTotal = "FilesTotal"
    case filesTransferred = "FilesTransferred"
    case modificationTime = "ModificationTime"
    case transferCompletionTime = "TransferCompletionTime"
    case errorContext = "ErrorContext"
    case errorCode = "ErrorCode"
    case errorDescription = "ErrorDescription"
    case errorFile = "ErrorFile"
    case errorCount = "ErrorCount"
    case minimumRetryDelay = "MinimumRetryDelay"
    case noProgressTimeout = "NoProgressTimeout"
    case maximumDownloadTime = "MaximumDownloadTime"
    case minimumNotificationInterval = "MinimumNotificationInterval"
    case files = "Files"
    case notifyFlags = "NotifyFlags"
    case notifyCommandLine = "NotifyCommandLine"
    case proxyUsage = "ProxyUsage"
    case proxyList = "ProxyList"
    case proxyBypassList = "ProxyBypassList"
    case customHeaders = "CustomHeaders"
    case customHeadersWriteOnly = "CustomHeadersWriteOnly"
    case httpMethod = "HttpMethod"
    case redirectPolicy = "RedirectPolicy"
    case allowHttpsToHttpRedirect = "AllowHttpsToHttpRedirect"
    case verifyPeer = "VerifyPeer"
    case verifyHost = "VerifyHost"
    case checkRevocation = "CheckRevocation"
    case transferPolicy = "TransferPolicy"
    case dynamicContent = "DynamicContent"
    case highPerformance = "HighPerformance"
    case maximumDownloadSize = "MaximumDownloadSize"
    case replyFileName = "ReplyFileName"
    case replyBytesTotal = "ReplyBytesTotal"
    case replyBytesTransferred = "ReplyBytesTransferred"

    /// The properties that describe the last error.
    public static let errorProperties: Set<JobProperty> =
        [.errorContext, .errorCode, .errorDescription, .errorFile, .errorCount]
}

/// Names of the file properties that change (`org.example.Bits.File`).
public enum FileProperty: String, Sendable, CaseIterable {
    case remoteName = "RemoteName"
    case bytesTotal = "BytesTotal"
    case bytesTransferred = "BytesTransferred"
    case completed = "Completed"
    case lastModified = "LastModified"
    case responseHeaders = "ResponseHeaders"
    case validationState = "ValidationState"

    /// The progress counters, published coalesced (MinimumNotificationInterval).
    public static let progress: Set<FileProperty> = [.bytesTotal, .bytesTransferred]
}

/// A settable job property with its already-typed value (decoded by the transport layer).
public enum JobSetting: Sendable, Equatable {
    case displayName(String)
    case description(String)
    case priority(String)
    case minimumRetryDelay(UInt32)
    case noProgressTimeout(UInt32)
    case maximumDownloadTime(UInt32)
    case minimumNotificationInterval(UInt32)
    case notifyFlags(UInt32)
    case notifyCommandLine([String])
    case proxyUsage(String)
    case proxyList(String)
    case proxyBypassList(String)
    case customHeaders([String])
    case customHeadersWriteOnly(Bool)
    case httpMethod(String)
    case redirectPolicy(String)
    case allowHttpsToHttpRedirect(Bool)
    case verifyPeer(Bool)
    case verifyHost(Bool)
    case checkRevocation(Bool)
    case transferPolicy(String)
    case dynamicContent(Bool)
    case highPerformance(Bool)
    case maximumDownloadSize(UInt64)
    case replyFileName(String)
}
