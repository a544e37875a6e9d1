import BitsDBus
import BitsCore
import BitsService
import Foundation

/// Routing of method calls to the queue manager, with the caller's identity from the bus.
extension BusService {
    static let propertiesInterface = "org.freedesktop.DBus.Properties"

    func handle(_ call: IncomingCall) async {
        await call.invocation.respond {
            let uid = try await callers.uid(of: call.invocation.sender)
            let caller = try await authorizedCaller(call, uid: uid)
            if call.path == ObjectPaths.manager {
                return try await handleManager(call, caller: caller)
            }
            if call.interface == "org.freedesktop.DBus.Introspectable" {
                return [.string(await introspect(path: call.path, caller: caller))]
            }
            guard let target = ObjectPaths.parse(call.path) else {
                throw ServiceError.notFound("No object at \(call.path).")
            }
            switch target {
            case .job(let id): return try await handleJob(call, id: id, caller: caller)
            case .file(let id, let index): return try await handleFile(call, id: id, index: index, caller: caller)
            }
        }
    }

    // MARK: Manager

    private func handleManager(_ call: IncomingCall, caller: Caller) async throws -> [Variant] {
        let args = call.arguments
        switch (call.interface, call.method) {
        case (InterfaceDefinitions.managerName, "CreateJob"):
            let job = try await exemptingLimits(call, caller) { caller in
                try await self.manager.createJob(caller: caller, displayName: args[0].stringValue ?? "",
                                                 type: args[1].stringValue ?? "")
            }
            return [.objectPath(ObjectPaths.job(job.id))]
        case (InterfaceDefinitions.managerName, "GetJob"):
            let text = args[0].stringValue ?? ""
            guard let id = JobID(guid: text) else {
                throw ServiceError.invalidArgs("Job id '\(InputValidation.quote(text))' is not a GUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).")
            }
            let job = try await manager.lookUp(id, caller: caller)
            return [.objectPath(ObjectPaths.job(job.id))]
        case (InterfaceDefinitions.managerName, "ListJobs"):
            let allUsers = args[0].boolValue ?? false
            let jobs = try await manager.listJobs(caller: caller, allUsers: allUsers)
            if allUsers { callers.addAllUsersListener(call.invocation.sender) }
            return [.objectPaths(jobs.map { ObjectPaths.job($0.id) })]
        case (InterfaceDefinitions.objectManagerName, "GetManagedObjects"):
            // A connection polkit authorized for every user's jobs (ListJobs(true)) sees them
            // here too, as it hears their signals.
            let viewer = callers.isAllUsersListener(call.invocation.sender)
                ? Caller(uid: caller.uid, isAdministrator: true) : caller
            let jobs = await manager.visibleJobs(caller: viewer)
            return [managedObjects(jobs)]
        case (Self.propertiesInterface, _):
            return try await managerProperties(call)
        default:
            throw ServiceError(.notSupported, "\(call.interface).\(call.method) is not supported on \(call.path).")
        }
    }

    private func managerProperties(_ call: IncomingCall) async throws -> [Variant] {
        let limits = manager.limits
        func value(_ name: String) -> Variant? {
            switch name {
            case "Version": .string(version)
            case "MaxJobsPerUser": .uint32(limits.maxJobsPerUser)
            case "MaxJobsPerMachine": .uint32(limits.maxJobsPerMachine)
            case "MaxFilesPerJob": .uint32(limits.maxFilesPerJob)
            case "MaxRangesPerFile": .uint32(limits.maxRangesPerFile)
            default: nil
            }
        }
        return try await properties(call, names: definitions.managerProperties, value: value,
                              set: { name, _ in throw ServiceError.invalidArgs("Property \(name) is read-only.") })
    }

    /// Answers Properties.Get/GetAll/Set for one interface using `value` and `set`.
    func properties(_ call: IncomingCall, names: [String], value: (String) -> Variant?,
                    set: (String, Variant) async throws -> Void) async throws -> [Variant] {
        let args = call.arguments
        switch call.method {
        case "Get":
            let name = args[1].stringValue ?? ""
            guard let v = value(name) else { throw unsupportedProperty(name) }
            return [.variant(v)]
        case "GetAll":
            return [.vardict(names.compactMap { name in value(name).map { (name, $0) } })]
        case "Set":
            try await set(args[1].stringValue ?? "", args[2].unboxed)
            return []
        default:
            throw ServiceError(.notSupported, "Properties.\(call.method) is not supported.")
        }
    }

    func unsupportedProperty(_ name: String) -> ServiceError {
        ServiceError(.notSupported, "Property \(name) is not supported by this version of bitsd yet.")
    }

    // MARK: Jobs and files

    private func handleJob(_ call: IncomingCall, id: JobID, caller: Caller) async throws -> [Variant] {
        let args = call.arguments
        var caller = caller
        if call.method.hasPrefix("AddFile") {
            // New files get the mode the caller's umask gives, as if it had created them.
            caller.umask = callers.umask(of: call.invocation.sender)
        }
        switch (call.interface, call.method) {
        case (InterfaceDefinitions.jobName, "AddFile"):
            let range = try await exemptingLimits(call, caller) { caller in
                try await self.manager.addFiles(id, caller: caller, files: [(args[0].stringValue ?? "", args[1].stringValue ?? "")])
            }
            return [.objectPath(ObjectPaths.file(id, range.lowerBound))]
        case (InterfaceDefinitions.jobName, "AddFiles"):
            let entries = args[0].items.map { entry in
                (remote: entry.items.first?.stringValue ?? "", local: entry.items.last?.stringValue ?? "")
            }
            let range = try await exemptingLimits(call, caller) { caller in
                try await self.manager.addFiles(id, caller: caller, files: entries)
            }
            return [.objectPaths(range.map { ObjectPaths.file(id, $0) })]
        case (InterfaceDefinitions.jobName, "Resume"):
            try await manager.resume(id, caller: caller)
            return []
        case (InterfaceDefinitions.jobName, "Suspend"):
            try await manager.suspend(id, caller: caller)
            return []
        case (InterfaceDefinitions.jobName, "Cancel"):
            try await manager.cancel(id, caller: caller)
            return []
        case (InterfaceDefinitions.jobName, "Complete"):
            try await manager.complete(id, caller: caller)
            return []
        case (InterfaceDefinitions.jobName, "AddFileWithRanges"):
            let ranges = args[2].items.map { item in
                FileRange(offset: item.items.first?.uint64Value ?? 0, length: item.items.last?.uint64Value ?? 0)
            }
            let range = try await exemptingLimits(call, caller) { caller in
                try await self.manager.addFiles(id, caller: caller, files: [(args[0].stringValue ?? "", args[1].stringValue ?? "")],
                                                ranges: ranges)
            }
            return [.objectPath(ObjectPaths.file(id, range.lowerBound))]
        case (InterfaceDefinitions.jobName, "SetCredentials"):
            try await manager.setCredentials(id, caller: caller, target: args[0].stringValue ?? "",
                                             scheme: args[1].stringValue ?? "", userName: args[2].stringValue ?? "",
                                             password: args[3].stringValue ?? "")
            return []
        case (InterfaceDefinitions.jobName, "RemoveCredentials"):
            try await manager.removeCredentials(id, caller: caller, target: args[0].stringValue ?? "",
                                                scheme: args[1].stringValue ?? "")
            return []
        case (InterfaceDefinitions.jobName, "SetClientCertificate"):
            try await manager.setClientCertificate(id, caller: caller, certificate: args[0].stringValue ?? "",
                                                   key: args[1].stringValue ?? "")
            return []
        case (InterfaceDefinitions.jobName, "RemoveClientCertificate"):
            try await manager.removeClientCertificate(id, caller: caller)
            return []
        case (InterfaceDefinitions.jobName, "TakeOwnership"):
            _ = try await manager.job(id, caller: caller)
            try await manager.takeOwnership(id, caller: caller)
            return []
        case (InterfaceDefinitions.jobName, "GetReplyData"):
            let data = try await manager.replyData(id, caller: caller)
            return [.array(elementType: "y", data.map { .byte($0) })]
        case (InterfaceDefinitions.jobName, "ReplaceRemotePrefix"):
            let count = try await manager.replaceRemotePrefix(id, caller: caller, old: args[0].stringValue ?? "",
                                                              new: args[1].stringValue ?? "")
            return [.uint32(count)]
        case (Self.propertiesInterface, _):
            let job = try await manager.job(id, caller: caller)
            return try await properties(call, names: definitions.jobProperties,
                                        value: { PropertyEncoding.jobValue($0, job) },
                                        set: { name, value in
                guard let setting = try PropertyEncoding.jobSetting(name, value) else {
                    if self.definitions.jobProperties.contains(name), PropertyEncoding.jobValue(name, job) != nil {
                        throw ServiceError.invalidArgs("Property \(name) is read-only.")
                    }
                    throw self.unsupportedProperty(name)
                }
                try await self.manager.set(setting, on: id, caller: caller)
            })
        default:
            // Known members of later versions: answer only after the access check.
            _ = try await manager.job(id, caller: caller)
            throw ServiceError(.notSupported, "\(call.interface).\(call.method) is not supported by this version of bitsd yet.")
        }
    }

    private func handleFile(_ call: IncomingCall, id: JobID, index: Int, caller: Caller) async throws -> [Variant] {
        let job = try await manager.job(id, caller: caller)
        guard job.files.indices.contains(index) else {
            throw ServiceError.notFound("Job \(id) has no file \(index).")
        }
        guard call.interface == Self.propertiesInterface else {
            throw ServiceError(.notSupported, "\(call.interface).\(call.method) is not supported on files.")
        }
        let file = job.files[index]
        return try await properties(call, names: definitions.fileProperties,
                                    value: { PropertyEncoding.fileValue($0, file) },
                                    set: { name, value in
            switch (name, value) {
            case ("RemoteName", .string(let url)):
                try await self.manager.setRemoteName(id, file: index, caller: caller, url: url)
            case ("ValidationState", .string(let state)):
                try await self.manager.setValidationState(id, file: index, caller: caller, value: state)
            case ("RemoteName", _), ("ValidationState", _):
                throw PropertyEncoding.typeError(name, "s", value)
            default:
                throw ServiceError.invalidArgs("Property \(name) is read-only.")
            }
        })
    }

    // MARK: ObjectManager

    func managedObjects(_ jobs: [Job]) -> Variant {
        var entries: [(Variant, Variant)] = []
        for job in jobs {
            entries.append((.objectPath(ObjectPaths.job(job.id)), interfaceMap(InterfaceDefinitions.jobName, jobProperties(job))))
            for (index, file) in job.files.enumerated() {
                entries.append((.objectPath(ObjectPaths.file(job.id, index)),
                                interfaceMap(InterfaceDefinitions.fileName, fileProperties(file))))
            }
        }
        return .dictionary(keyType: "o", valueType: "a{sa{sv}}", entries)
    }

    func interfaceMap(_ interface: String, _ properties: [(String, Variant)]) -> Variant {
        .dictionary(keyType: "s", valueType: "a{sv}", [(.string(interface), .vardict(properties))])
    }

    func jobProperties(_ job: Job) -> [(String, Variant)] {
        PropertyEncoding.jobProperties(job, names: definitions.jobProperties)
    }

    func fileProperties(_ file: JobFile) -> [(String, Variant)] {
        PropertyEncoding.fileProperties(file, names: definitions.fileProperties)
    }
}
