import BitsDBus
import BitsCore

/// The D-Bus properties of jobs and files, as Variants: the one place that maps the model onto
/// the contract's properties (`JobProperty`, `FileProperty`, generated from the interface XML).
/// The switches are exhaustive, so a property added to the XML does not build until it is
/// encoded here; BitsBusTests checks that each value has the property's XML signature.
enum PropertyEncoding {
    static let unknownSize = UInt64.max

    static func jobValue(_ property: JobProperty, _ job: Job) -> Variant? {
        switch property {
        case .id: .string(job.id.guid)
        case .type: .string(job.type.rawValue)
        case .owner: .uint32(job.owner)
        case .displayName: .string(job.displayName)
        case .description: .string(job.description)
        case .state: .string(job.state.rawValue)
        case .priority: .string(job.priority.rawValue)
        case .bytesTotal: .uint64(job.bytesTotal ?? unknownSize)
        case .bytesTransferred: .uint64(job.bytesTransferred)
        // Live values: only while transferring (0 and "unknown" in every other state).
        case .bytesPerSecond: .uint64(job.state == .transferring ? job.transferRate.bytesPerSecond : 0)
        case .estimatedTimeRemaining: .uint64(job.state == .transferring ? job.transferRate.secondsRemaining : UInt64.max)
        case .filesTotal: .uint32(job.filesTotal)
        case .filesTransferred: .uint32(job.filesTransferred)
        case .creationTime: .uint64(job.creationTime)
        case .modificationTime: .uint64(job.modificationTime)
        case .transferCompletionTime: .uint64(job.transferCompletionTime)
        case .errorContext: .string((job.lastError?.context ?? .none).rawValue)
        case .errorCode: .string(job.lastError?.code.rawValue ?? "")
        case .errorDescription: .string(job.lastError?.description ?? "")
        case .errorFile: .objectPath(job.lastError?.fileIndex.map { ObjectPaths.file(job.id, $0) } ?? "/")
        case .errorCount: .uint32(job.errorCount)
        case .minimumRetryDelay: .uint32(job.minimumRetryDelay)
        case .noProgressTimeout: .uint32(job.noProgressTimeout)
        case .maximumDownloadTime: .uint32(job.maximumDownloadTime)
        case .minimumNotificationInterval: .uint32(job.minimumNotificationInterval)
        case .files: .objectPaths(job.files.indices.map { ObjectPaths.file(job.id, $0) })
        case .notifyFlags: .uint32(job.options.notifyFlags)
        case .notifyCommandLine: .strings(job.options.notifyCommandLine)
        case .proxyUsage: .string(job.options.proxyUsage.rawValue)
        case .proxyList: .string(job.options.proxyList)
        case .proxyBypassList: .string(job.options.proxyBypassList)
        // Write-only headers are never returned, to anyone.
        case .customHeaders: .strings(job.options.customHeadersWriteOnly ? [] : job.options.customHeaders)
        case .customHeadersWriteOnly: .bool(job.options.customHeadersWriteOnly)
        case .httpMethod: .string(job.options.httpMethod)
        case .redirectPolicy: .string(job.options.redirectPolicy.rawValue)
        case .allowHttpsToHttpRedirect: .bool(job.options.allowHttpsToHttpRedirect)
        case .verifyPeer: .bool(job.options.verifyPeer)
        case .verifyHost: .bool(job.options.verifyHost)
        case .checkRevocation: .bool(job.options.checkRevocation)
        case .transferPolicy: .string(job.options.transferPolicy.rawValue)
        case .dynamicContent: .bool(job.options.dynamicContent)
        case .highPerformance: .bool(job.options.highPerformance)
        case .maximumDownloadSize: .uint64(job.options.maximumDownloadSize)
        // The reply of an upload-reply job: not supported by other job types.
        case .replyFileName: job.type == .uploadReply ? .string(job.reply?.fileName ?? "") : nil
        case .replyBytesTotal: job.type == .uploadReply ? .uint64(job.reply?.bytesTotal ?? unknownSize) : nil
        case .replyBytesTransferred: job.type == .uploadReply ? .uint64(job.reply?.bytesTransferred ?? 0) : nil
        }
    }

    static func fileValue(_ property: FileProperty, _ file: JobFile) -> Variant? {
        switch property {
        case .remoteName: .string(file.remoteName)
        case .localName: .string(file.localName)
        case .temporaryName: .string(file.temporaryName)
        case .bytesTotal: .uint64(file.bytesTotal ?? unknownSize)
        case .bytesTransferred: .uint64(file.bytesTransferred)
        case .completed: .bool(file.completed)
        case .lastModified: .uint64(file.lastModified)
        case .responseHeaders: .string(file.responseHeaders)
        case .ranges: .array(elementType: "(tt)", file.ranges.map { .tuple([.uint64($0.offset), .uint64($0.length)]) })
        case .validationState: .string(file.validationState.rawValue)
        case .expectedHash: .string(file.expectedHash?.text ?? "")
        case .hash: .string(file.hash?.text ?? "")
        }
    }

    /// Every supported property of `properties` (by default all, in XML order), by name.
    static func jobProperties(_ job: Job, _ properties: [JobProperty] = JobProperty.allCases) -> [(String, Variant)] {
        properties.compactMap { property in jobValue(property, job).map { (property.name, $0) } }
    }

    static func fileProperties(_ file: JobFile, _ properties: [FileProperty] = FileProperty.allCases) -> [(String, Variant)] {
        properties.compactMap { property in fileValue(property, file).map { (property.name, $0) } }
    }

    /// Decodes a `Properties.Set` on a job into a typed setting; nil if the property is
    /// read-only. A value of another type than the property's is `InvalidArgs` naming it.
    static func jobSetting(_ property: JobProperty, _ value: Variant) throws -> JobSetting? {
        func string() throws -> String { try BusDecoding.property(property.name, value) }
        func uint32() throws -> UInt32 { try BusDecoding.property(property.name, value) }
        func uint64() throws -> UInt64 { try BusDecoding.property(property.name, value) }
        func bool() throws -> Bool { try BusDecoding.property(property.name, value) }
        func strings() throws -> [String] { try BusDecoding.property(property.name, value) }
        switch property {
        case .displayName: return .displayName(try string())
        case .description: return .description(try string())
        case .priority: return .priority(try string())
        case .minimumRetryDelay: return .minimumRetryDelay(try uint32())
        case .noProgressTimeout: return .noProgressTimeout(try uint32())
        case .maximumDownloadTime: return .maximumDownloadTime(try uint32())
        case .minimumNotificationInterval: return .minimumNotificationInterval(try uint32())
        case .notifyFlags: return .notifyFlags(try uint32())
        case .notifyCommandLine: return .notifyCommandLine(try strings())
        case .proxyUsage: return .proxyUsage(try string())
        case .proxyList: return .proxyList(try string())
        case .proxyBypassList: return .proxyBypassList(try string())
        case .customHeaders: return .customHeaders(try strings())
        case .customHeadersWriteOnly: return .customHeadersWriteOnly(try bool())
        case .httpMethod: return .httpMethod(try string())
        case .redirectPolicy: return .redirectPolicy(try string())
        case .allowHttpsToHttpRedirect: return .allowHttpsToHttpRedirect(try bool())
        case .verifyPeer: return .verifyPeer(try bool())
        case .verifyHost: return .verifyHost(try bool())
        case .checkRevocation: return .checkRevocation(try bool())
        case .transferPolicy: return .transferPolicy(try string())
        case .dynamicContent: return .dynamicContent(try bool())
        case .highPerformance: return .highPerformance(try bool())
        case .maximumDownloadSize: return .maximumDownloadSize(try uint64())
        case .replyFileName: return .replyFileName(try string())
        case .id, .type, .owner, .state, .bytesTotal, .bytesTransferred, .bytesPerSecond, .estimatedTimeRemaining,
             .filesTotal, .filesTransferred, .creationTime,
             .modificationTime, .transferCompletionTime, .errorContext, .errorCode, .errorDescription, .errorFile,
             .errorCount, .files, .replyBytesTotal, .replyBytesTransferred:
            return nil
        }
    }
}
