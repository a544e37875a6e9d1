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
        switch property {
        case "DisplayName": return .displayName(try string())
        case "Description": return .description(try string())
        case "Priority": return .priority(try string())
        case "MinimumRetryDelay": return .minimumRetryDelay(try uint32())
        case "NoProgressTimeout": return .noProgressTimeout(try uint32())
        case "MaximumDownloadTime": return .maximumDownloadTime(try uint32())
        case "MinimumNotificationInterval": return .minimumNotificationInterval(try uint32())
        default: return nil
        }
    }

    static func typeError(_ property: String, _ expected: String, _ value: Variant) -> ServiceError {
        .invalidArgs("Property \(property) takes type '\(expected)', not '\(value.typeString)'.")
    }
}
