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
    /// The job's property names, in XML order.
    let propertyNames: [String]

    func plan(_ call: IncomingCall, id: JobID) throws -> CallPlan {
        let access = Authorization.anotherUsersJob(id)
        if call.interface == PropertiesCall.interface {
            return CallPlan(access, properties(try PropertiesCall(call), id: id))
        }
        guard call.interface == InterfaceDefinitions.jobName else { return unsupported(call, id: id, access) }
        let args = CallArguments(member: call.method, call.arguments)
        let manager = self.manager
        switch call.method {
        case "AddFile":
            let source = FileSource(remote: try args(0, "remote_url"), local: try args(1, "local_path"))
            return CallPlan(access.exceedingLimits) { [self] caller in
                let added = try await manager.addFiles(id, caller: withUmask(caller, call), files: [(source.remote, source.local)])
                return [.objectPath(ObjectPaths.file(id, added.lowerBound))]
            }
        case "AddFiles":
            let sources: [FileSource] = try args(0, "files")
            return CallPlan(access.exceedingLimits) { [self] caller in
                let added = try await manager.addFiles(id, caller: withUmask(caller, call), files: sources.map { ($0.remote, $0.local) })
                return [.objectPaths(added.map { ObjectPaths.file(id, $0) })]
            }
        case "AddFileWithRanges":
            let source = FileSource(remote: try args(0, "remote_url"), local: try args(1, "local_path"))
            let ranges: [FileRange] = try args(2, "ranges")
            return CallPlan(access.exceedingLimits) { [self] caller in
                let added = try await manager.addFiles(id, caller: withUmask(caller, call), files: [(source.remote, source.local)],
                                                       ranges: ranges)
                return [.objectPath(ObjectPaths.file(id, added.lowerBound))]
            }
        case "Resume":
            return CallPlan(access) { caller in try await manager.resume(id, caller: caller); return [] }
        case "Suspend":
            return CallPlan(access) { caller in try await manager.suspend(id, caller: caller); return [] }
        case "Cancel":
            return CallPlan(access) { caller in try await manager.cancel(id, caller: caller); return [] }
        case "Complete":
            return CallPlan(access) { caller in try await manager.complete(id, caller: caller); return [] }
        case "TakeOwnership":
            return CallPlan(access) { caller in
                _ = try await manager.job(id, caller: caller)
                try await manager.takeOwnership(id, caller: caller)
                return []
            }
        case "ReplaceRemotePrefix":
            let old: String = try args(0, "old_prefix"), new: String = try args(1, "new_prefix")
            return CallPlan(access) { caller in
                [.uint32(try await manager.replaceRemotePrefix(id, caller: caller, old: old, new: new))]
            }
        case "SetCredentials":
            let target: String = try args(0, "target"), scheme: String = try args(1, "scheme")
            let userName: String = try args(2, "user_name"), password: String = try args(3, "password")
            return CallPlan(access) { caller in
                try await manager.setCredentials(id, caller: caller, target: target, scheme: scheme,
                                                 userName: userName, password: password)
                return []
            }
        case "RemoveCredentials":
            let target: String = try args(0, "target"), scheme: String = try args(1, "scheme")
            return CallPlan(access) { caller in
                try await manager.removeCredentials(id, caller: caller, target: target, scheme: scheme)
                return []
            }
        case "SetClientCertificate":
            let certificate: String = try args(0, "certificate_file"), key: String = try args(1, "private_key_file")
            return CallPlan(access) { caller in
                try await manager.setClientCertificate(id, caller: caller, certificate: certificate, key: key)
                return []
            }
        case "RemoveClientCertificate":
            return CallPlan(access) { caller in try await manager.removeClientCertificate(id, caller: caller); return [] }
        case "GetReplyData":
            return CallPlan(access) { caller in
                let data = try await manager.replyData(id, caller: caller)
                return [.array(elementType: "y", data.map { .byte($0) })]
            }
        default:
            return unsupported(call, id: id, access)
        }
    }

    /// New files get the mode the caller's umask gives, as if it had created them.
    private func withUmask(_ caller: Caller, _ call: IncomingCall) -> Caller {
        var caller = caller
        caller.umask = callers.umask(of: call.invocation.sender)
        return caller
    }

    private func properties(_ call: PropertiesCall, id: JobID) -> @Sendable (Caller) async throws -> [Variant] {
        { [manager, propertyNames] caller in
            let job = try await manager.job(id, caller: caller)
            return try await call.answer(names: propertyNames, value: { PropertyEncoding.jobValue($0, job) },
                                         set: { name, value in
                guard let setting = try PropertyEncoding.jobSetting(name, value) else {
                    if propertyNames.contains(name), PropertyEncoding.jobValue(name, job) != nil {
                        throw PropertiesCall.readOnly(name)
                    }
                    throw PropertiesCall.unsupportedProperty(name)
                }
                try await manager.set(setting, on: id, caller: caller)
            })
        }
    }

    /// Known members of later versions: answered only after the access check.
    private func unsupported(_ call: IncomingCall, id: JobID, _ access: Authorization) -> CallPlan {
        let manager = self.manager, interface = call.interface, method = call.method
        return CallPlan(access) { caller in
            _ = try await manager.job(id, caller: caller)
            throw ServiceError(.notSupported, "\(interface).\(method) is not supported by this version of bitsd yet.")
        }
    }
}
