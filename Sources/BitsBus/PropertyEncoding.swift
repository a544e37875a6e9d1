import BitsDBus
import BitsCore

/// The D-Bus properties of jobs and files, as Variants. The names are those of the
/// interface XML; this is the one place that maps the model onto them.
enum PropertyEncoding {
    static let unknownSize = UInt64.max

    static func jobValue(_ property: String, _ job: Job) -> Variant? {
        switch property {
        case "Id": .string(job.id.guid)
        case "Type": .string(job.type.rawValue)
        case "Owner": .uint32(job.owner)
        case "DisplayName": .string(job.displayName)
        case "Description": .string(job.description)
        case "State": .string(job.state.rawValue)
        case "Priority": .string(job.priority.rawValue)
        case "BytesTotal": .uint64(job.bytesTotal ?? unknownSize)
        case "BytesTransferred": .uint64(job.bytesTransferred)
        case "FilesTotal": .uint32(job.filesTotal)
        case "FilesTransferred": .uint32(job.filesTransferred)
        case "CreationTime": .uint64(job.creationTime)
        case "ModificationTime": .uint64(job.modificationTime)
        case "TransferCompletionTime": .uint64(job.transferCompletionTime)
        case "ErrorContext": .string((job.lastError?.context ?? .none).rawValue)
        case "ErrorCode": .string(job.lastError?.code.rawValue ?? "")
        case "ErrorDescription": .string(job.lastError?.description ?? "")
        case "ErrorFile": .objectPath(job.lastError?.fileIndex.map { ObjectPaths.file(job.id, $0) } ?? "/")
        case "ErrorCount": .uint32(job.errorCount)
        case "MinimumRetryDelay": .uint32(job.minimumRetryDelay)
        case "NoProgressTimeout": .uint32(job.noProgressTimeout)
        case "MaximumDownloadTime": .uint32(job.maximumDownloadTime)
        case "MinimumNotificationInterval": .uint32(job.minimumNotificationInterval)
        case "Files": .objectPaths(job.files.indices.map { ObjectPaths.file(job.id, $0) })
        case "NotifyFlags": .uint32(job.options.notifyFlags)
        case "NotifyCommandLine": .strings(job.options.notifyCommandLine)
        case "ProxyUsage": .string(job.options.proxyUsage.rawValue)
        case "ProxyList": .string(job.options.proxyList)
        case "ProxyBypassList": .string(job.options.proxyBypassList)
        // Write-only headers are never returned, to anyone.
        case "CustomHeaders": .strings(job.options.customHeadersWriteOnly ? [] : job.options.customHeaders)
        case "CustomHeadersWriteOnly": .bool(job.options.customHeadersWriteOnly)
        case "HttpMethod": .string(job.options.httpMethod)
        case "RedirectPolicy": .string(job.options.redirectPolicy.rawValue)
        case "AllowHttpsToHttpRedirect": .bool(job.options.allowHttpsToHttpRedirect)
        case "VerifyPeer": .bool(job.options.verifyPeer)
        case "VerifyHost": .bool(job.options.verifyHost)
        case "CheckRevocation": .bool(job.options.checkRevocation)
        case "TransferPolicy": .string(job.options.transferPolicy.rawValue)
        case "DynamicContent": .bool(job.options.dynamicContent)
        case "HighPerformance": .bool(job.options.highPerformance)
        case "MaximumDownloadSize": .uint64(job.options.maximumDownloadSize)
        case "ReplyFileName" where job.type == .uploadReply: .string(job.reply?.fileName ?? "")
        case "ReplyBytesTotal" where job.type == .uploadReply: .uint64(job.reply?.bytesTotal ?? unknownSize)
        case "ReplyBytesTransferred" where job.type == .uploadReply: .uint64(job.reply?.bytesTransferred ?? 0)
        default: nil
        }
    }

    static func fileValue(_ property: String, _ file: JobFile) -> Variant? {
        switch property {
        case "RemoteName": .string(file.remoteName)
        case "LocalName": .string(file.localName)
        case "TemporaryName": .string(file.temporaryName)
        case "BytesTotal": .uint64(file.bytesTotal ?? unknownSize)
        case "BytesTransferred": .uint64(file.bytesTransferred)
        case "Completed": .bool(file.completed)
        case "LastModified": .uint64(file.lastModified)
        case "ResponseHeaders": .string(file.responseHeaders)
        case "Ranges": .array(elementType: "(tt)", file.ranges.map { .tuple([.uint64($0.offset), .uint64($0.length)]) })
        case "ValidationState": .string(file.validationState.rawValue)
        default: nil
        }
    }

    /// Every supported property of `names`, in order.
    static func jobProperties(_ job: Job, names: [String]) -> [(String, Variant)] {
        names.compactMap { name in jobValue(name, job).map { (name, $0) } }
    }

    static func fileProperties(_ file: JobFile, names: [String]) -> [(String, Variant)] {
        names.compactMap { name in fileValue(name, file).map { (name, $0) } }
    }

    /// Decodes a `Properties.Set` on a job into a typed setting; nil if not writable here.
    static func jobSetting(_ property: String, _ value: Variant) throws -> JobSetting? {
        func string() throws -> String {
            guard case .string(let s) = value else { throw typeError(property, "s", value) }
            return s
        }
        func uint32() throws -> UInt32 {
            guard case .uint32(let v) = value else { throw typeError(property, "u", value) }
            return v
        }
        func uint64() throws -> UInt64 {
            guard case .uint64(let v) = value else { throw typeError(property, "t", value) }
            return v
        }
        func bool() throws -> Bool {
            guard case .bool(let v) = value else { throw typeError(property, "b", value) }
            return v
        }
        func strings() throws -> [String] {
            guard case .array("s", let items) = value else { throw typeError(property, "as", value) }
            return items.compactMap(\.stringValue)
        }
        switch property {
        case "DisplayName": return .displayName(try string())
        case "Description": return .description(try string())
        case "Priority": return .priority(try string())
        case "MinimumRetryDelay": return .minimumRetryDelay(try uint32())
        case "NoProgressTimeout": return .noProgressTimeout(try uint32())
        case "MaximumDownloadTime": return .maximumDownloadTime(try uint32())
        case "MinimumNotificationInterval": return .minimumNotificationInterval(try uint32())
        case "NotifyFlags": return .notifyFlags(try uint32())
        case "NotifyCommandLine": return .notifyCommandLine(try strings())
        case "ProxyUsage": return .proxyUsage(try string())
        case "ProxyList": return .proxyList(try string())
        case "ProxyBypassList": return .proxyBypassList(try string())
        case "CustomHeaders": return .customHeaders(try strings())
        case "CustomHeadersWriteOnly": return .customHeadersWriteOnly(try bool())
        case "HttpMethod": return .httpMethod(try string())
        case "RedirectPolicy": return .redirectPolicy(try string())
        case "AllowHttpsToHttpRedirect": return .allowHttpsToHttpRedirect(try bool())
        case "VerifyPeer": return .verifyPeer(try bool())
        case "VerifyHost": return .verifyHost(try bool())
        case "CheckRevocation": return .checkRevocation(try bool())
        case "TransferPolicy": return .transferPolicy(try string())
        case "DynamicContent": return .dynamicContent(try bool())
        case "HighPerformance": return .highPerformance(try bool())
        case "MaximumDownloadSize": return .maximumDownloadSize(try uint64())
        case "ReplyFileName": return .replyFileName(try string())
        default: return nil
        }
    }

    static func typeError(_ property: String, _ expected: String, _ value: Variant) -> ServiceError {
        .invalidArgs("Property \(property) takes type '\(expected)', not '\(value.typeString)'.")
    }
}
