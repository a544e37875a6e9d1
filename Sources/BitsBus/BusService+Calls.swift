import BitsDBus
import BitsCore
import BitsService

/// Routing of method calls: the caller's identity from the bus, the harness of the object
/// called (which decodes the call and declares what polkit must be asked), the polkit checks,
/// then the harness's work with the caller they leave.
extension BusService {
    static let propertiesInterface = PropertiesCall.interface

    func handle(_ call: MethodCall) async {
        await call.invocation.respond {
            let uid = try await callers.uid(of: call.invocation.sender)
            let plan = try plan(for: call)
            let caller = try await authorizedCaller(plan.authorization, invocation: call.invocation, uid: uid)
            guard plan.authorization.exceedLimitsOnRetry else { return try await plan.body(caller) }
            return try await exemptingLimits(sender: call.invocation.sender, caller, plan.body)
        }
    }

    /// The harness's plan for `call`, by the object its path names.
    private func plan(for call: MethodCall) throws -> CallPlan {
        if call.path == ObjectPaths.manager {
            return try ManagerHarness(manager: manager, callers: callers, version: version,
                                      managedObjects: { [unowned self] in managedObjects($0) }).plan(call)
        }
        if call.interface == StandardInterface.introspectable {
            let path = call.path
            return CallPlan(.none) { [unowned self] caller in [.string(await introspect(path: path, caller: caller))] }
        }
        switch ObjectPaths.parse(call.path) {
        case .job(let id)?:
            return try JobHarness(manager: manager, callers: callers).plan(call, id: id)
        case .file(let id, let index)?:
            return try FileHarness(manager: manager).plan(call, id: id, index: index)
        case nil:
            throw ServiceError.notFound("No object at \(call.path).")
        }
    }

    // MARK: ObjectManager

    func managedObjects(_ jobs: [Job]) -> Variant {
        var entries: [(Variant, Variant)] = []
        for job in jobs {
            entries.append((.objectPath(ObjectPaths.job(job.id)), interfaceMap(BitsInterface.job.rawValue, jobProperties(job))))
            for (index, file) in job.files.enumerated() {
                entries.append((.objectPath(ObjectPaths.file(job.id, index)),
                                interfaceMap(BitsInterface.file.rawValue, fileProperties(file))))
            }
        }
        return .dictionary(keyType: "o", valueType: "a{sa{sv}}", entries)
    }

    func interfaceMap(_ interface: String, _ properties: [(String, Variant)]) -> Variant {
        .dictionary(keyType: "s", valueType: "a{sv}", [(.string(interface), .vardict(properties))])
    }

    func jobProperties(_ job: Job) -> [(String, Variant)] {
        PropertyEncoding.jobProperties(job)
    }

    func fileProperties(_ file: JobFile) -> [(String, Variant)] {
        PropertyEncoding.fileProperties(file)
    }
}

extension MethodInvocation {
    /// Replies with the service error's D-Bus name and message.
    func fail(_ error: ServiceError) {
        fail(name: error.name.rawValue, message: error.message)
    }

    /// Replies from a throwing body: its values, or its ServiceError (anything else is a
    /// generic failure with no internal detail).
    func respond(_ body: () async throws -> [Variant]) async {
        do {
            reply(try await body())
        } catch let error as ServiceError {
            fail(error)
        } catch {
            fail(ServiceError(.failed, "Internal error: \(error)"))
        }
    }
}
