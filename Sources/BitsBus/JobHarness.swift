import BitsCore
import BitsDBus
import BitsService

/// Transport of job objects `/org/example/Bits/jobs/<hex>`: decodes each call, declares what
/// polkit must be asked, and calls the queue manager. Every member, properties included,
/// needs manage-all-jobs (non-interactive) when the job is another user's; the `AddFile…`
/// members also retry with exceed-limits on a limit error. Members of `org.example.Bits.Job`:
///
/// `AddFile(s remote_url, s local_path) → (o file)`, `AddFiles(a(ss) files) → (ao files)`,
/// `AddFileWithRanges(s remote_url, s local_path, a(tt) ranges) → (o file)`, `Resume()`,
/// `Suspend()`, `Cancel()`, `Complete()`, `TakeOwnership()`,
/// `ReplaceRemotePrefix(s old_prefix, s new_prefix) → (u changed)`,
/// `SetCredentials(s target, s scheme, s user_name, s password)`,
/// `RemoveCredentials(s target, s scheme)`,
/// `SetClientCertificate(s certificate_file, s private_key_file)`,
/// `RemoveClientCertificate()`, `GetReplyData() → (ay data)`; and Properties Get/GetAll/Set
/// (the values and settings are those of `PropertyEncoding`).
struct JobHarness: Sendable {
    let manager: QueueManager
    let callers: CallerRegistry

    func plan(_ call: MethodCall, id: JobID) throws -> CallPlan {
        let access = Authorization.anotherUsersJob(id)
        if call.interface == PropertiesCall.interface {
            return CallPlan(access, properties(try PropertiesCall(call), id: id))
        }
        guard call.interface == JobMethod.interface.rawValue, let method = JobMethod(rawValue: call.method) else {
            return unsupported(call, id: id, access)
        }
        let args = CallArguments(method, call.arguments)
        let manager = self.manager
        switch method {
        case .addFile:
            let source = FileSource(remote: try args(0), local: try args(1))
            return CallPlan(access.exceedingLimits) { [self] caller in
                let added = try await manager.addFiles(id, caller: withUmask(caller, call), files: [(source.remote, source.local)])
                return [.objectPath(ObjectPaths.file(id, added.lowerBound))]
            }
        case .addFiles:
            let sources: [FileSource] = try args(0)
            return CallPlan(access.exceedingLimits) { [self] caller in
                let added = try await manager.addFiles(id, caller: withUmask(caller, call), files: sources.map { ($0.remote, $0.local) })
                return [.objectPaths(added.map { ObjectPaths.file(id, $0) })]
            }
        case .addFilesWithHashes:
            let sources: [HashedFileSource] = try args(0)
            return CallPlan(access.exceedingLimits) { [self] caller in
                let added = try await manager.addFiles(id, caller: withUmask(caller, call), files: sources.map { ($0.remote, $0.local) },
                                                       expectedHashes: sources.map(\.expectedHash))
                return [.objectPaths(added.map { ObjectPaths.file(id, $0) })]
            }
        case .addFileWithRanges:
            let source = FileSource(remote: try args(0), local: try args(1))
            let ranges: [FileRange] = try args(2)
            return CallPlan(access.exceedingLimits) { [self] caller in
                let added = try await manager.addFiles(id, caller: withUmask(caller, call), files: [(source.remote, source.local)],
                                                       ranges: ranges)
                return [.objectPath(ObjectPaths.file(id, added.lowerBound))]
            }
        case .resume:
            return CallPlan(access) { caller in try await manager.resume(id, caller: caller); return [] }
        case .suspend:
            return CallPlan(access) { caller in try await manager.suspend(id, caller: caller); return [] }
        case .cancel:
            return CallPlan(access) { caller in try await manager.cancel(id, caller: caller); return [] }
        case .complete:
            return CallPlan(access) { caller in try await manager.complete(id, caller: caller); return [] }
        case .takeOwnership:
            return CallPlan(access) { caller in
                _ = try await manager.job(id, caller: caller)
                try await manager.takeOwnership(id, caller: caller)
                return []
            }
        case .replaceRemotePrefix:
            let old: String = try args(0), new: String = try args(1)
            return CallPlan(access) { caller in
                [.uint32(try await manager.replaceRemotePrefix(id, caller: caller, old: old, new: new))]
            }
        case .setCredentials:
            let target: String = try args(0), scheme: String = try args(1)
            let userName: String = try args(2), password: String = try args(3)
            return CallPlan(access) { caller in
                try await manager.setCredentials(id, caller: caller, target: target, scheme: scheme,
                                                 userName: userName, password: password)
                return []
            }
        case .removeCredentials:
            let target: String = try args(0), scheme: String = try args(1)
            return CallPlan(access) { caller in
                try await manager.removeCredentials(id, caller: caller, target: target, scheme: scheme)
                return []
            }
        case .setClientCertificate:
            let certificate: String = try args(0), key: String = try args(1)
            return CallPlan(access) { caller in
                try await manager.setClientCertificate(id, caller: caller, certificate: certificate, key: key)
                return []
            }
        case .removeClientCertificate:
            return CallPlan(access) { caller in try await manager.removeClientCertificate(id, caller: caller); return [] }
        case .getReplyData:
            return CallPlan(access) { caller in
                let data = try await manager.replyData(id, caller: caller)
                return [.array(elementType: "y", data.map { .byte($0) })]
            }
        }
    }

    /// New files get the mode the caller's umask gives, as if it had created them.
    private func withUmask(_ caller: Caller, _ call: MethodCall) -> Caller {
        var caller = caller
        caller.umask = callers.umask(of: call.invocation.sender)
        return caller
    }

    private func properties(_ call: PropertiesCall, id: JobID) -> @Sendable (Caller) async throws -> [Variant] {
        { [manager] caller in
            let job = try await manager.job(id, caller: caller)
            return try await call.answer(JobProperty.self, value: { PropertyEncoding.jobValue($0, job) },
                                         set: { name, value in
                guard let property = JobProperty(rawValue: name) else { throw PropertiesCall.unsupportedProperty(name) }
                guard let setting = try PropertyEncoding.jobSetting(property, value) else {
                    if PropertyEncoding.jobValue(property, job) != nil { throw PropertiesCall.readOnly(name) }
                    throw PropertiesCall.unsupportedProperty(name)
                }
                try await manager.set(setting, on: id, caller: caller)
            })
        }
    }

    /// Known members of later versions: answered only after the access check.
    private func unsupported(_ call: MethodCall, id: JobID, _ access: Authorization) -> CallPlan {
        let manager = self.manager, interface = call.interface, method = call.method
        return CallPlan(access) { caller in
            _ = try await manager.job(id, caller: caller)
            throw ServiceError(.notSupported, "\(interface).\(method) is not supported by this version of bitsd yet.")
        }
    }
}
