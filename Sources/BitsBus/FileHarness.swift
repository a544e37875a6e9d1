import BitsCore
import BitsDBus
import BitsService

/// Transport of file objects `/org/example/Bits/jobs/<hex>/files/<n>`: decodes each call,
/// declares what polkit must be asked, and calls the queue manager. `org.example.Bits.File`
/// has no methods; its members are Properties Get/GetAll (values of `PropertyEncoding`) and
/// Set of the writable ones: `RemoteName` (s), `ValidationState` (s) and `ExpectedHash` (s). Every call needs
/// manage-all-jobs (non-interactive) when the file's job is another user's.
struct FileHarness: Sendable {
    let manager: QueueManager

    func plan(_ call: MethodCall, id: JobID, index: Int) throws -> CallPlan {
        let properties = call.interface == PropertiesCall.interface ? try PropertiesCall(call) : nil
        let manager = self.manager, interface = call.interface, method = call.method
        return CallPlan(.anotherUsersJob(id)) { caller in
            let job = try await manager.job(id, caller: caller)
            guard job.files.indices.contains(index) else {
                throw ServiceError.notFound("Job \(id) has no file \(index).")
            }
            guard let properties else {
                throw ServiceError(.notSupported, "\(interface).\(method) is not supported on files.")
            }
            let file = job.files[index]
            return try await properties.answer(FileProperty.self, value: { PropertyEncoding.fileValue($0, file) },
                                               set: { name, value in
                guard let property = FileProperty(rawValue: name) else { throw PropertiesCall.readOnly(name) }
                switch property {
                case .remoteName:
                    let url: String = try BusDecoding.property(name, value)
                    try await manager.setRemoteName(id, file: index, caller: caller, url: url)
                case .validationState:
                    let state: String = try BusDecoding.property(name, value)
                    try await manager.setValidationState(id, file: index, caller: caller, value: state)
                case .expectedHash:
                    let hash: String = try BusDecoding.property(name, value)
                    try await manager.setExpectedHash(id, file: index, caller: caller, value: hash)
                case .localName, .temporaryName, .bytesTotal, .bytesTransferred, .completed, .ranges, .lastModified,
                     .responseHeaders, .hash:
                    throw PropertiesCall.readOnly(name)
                }
            })
        }
    }
}
