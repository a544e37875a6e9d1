import BitsCore
import BitsDBus
import BitsService

/// Transport of the manager object `/org/example/Bits`: decodes each call, declares what
/// polkit must be asked, and calls the queue manager. Members:
///
/// - `org.example.Bits.Manager`: `CreateJob(s display_name, s type) → (o job)` (exceed-limits
///   on a limit error), `GetJob(s id) → (o job)` (manage-all-jobs, non-interactive, when the
///   GUID names another user's job), `ListJobs(b all_users) → (ao jobs)` (manage-all-jobs,
///   interactive, when `all_users` is true).
/// - Properties (read-only): `Version`, `MaxJobsPerUser`, `MaxJobsPerMachine`,
///   `MaxFilesPerJob`, `MaxRangesPerFile`.
/// - `org.freedesktop.DBus.ObjectManager`: `GetManagedObjects() → (a{oa{sa{sv}}})`.
struct ManagerHarness: Sendable {
    let manager: QueueManager
    let callers: CallerRegistry
    let version: String
    /// Encodes jobs and their files for `GetManagedObjects` (shared with the ObjectManager signals).
    let managedObjects: @Sendable ([Job]) -> Variant

    func plan(_ call: MethodCall) throws -> CallPlan {
        switch call.interface {
        case ManagerMethod.interface.rawValue: return try managerMember(call)
        case StandardInterface.objectManager: return objectManagerMember(call)
        case PropertiesCall.interface: return properties(try PropertiesCall(call))
        default: return unsupported(call)
        }
    }

    private func managerMember(_ call: MethodCall) throws -> CallPlan {
        guard let method = ManagerMethod(rawValue: call.method) else { return unsupported(call) }
        let args = CallArguments(method, call.arguments)
        let manager = self.manager
        switch method {
        case .createJob:
            let displayName: String = try args(0)
            let type: String = try args(1)
            return CallPlan(Authorization.none.exceedingLimits) { caller in
                let job = try await manager.createJob(caller: caller, displayName: displayName, type: type)
                return [.objectPath(ObjectPaths.job(job.id))]
            }
        case .getJob:
            let text: String = try args(0)
            // Another user's job by GUID: as for its object path, never interactive.
            let authorization = JobID(guid: text).map(Authorization.anotherUsersJob) ?? .none
            return CallPlan(authorization) { caller in
                guard let id = JobID(guid: text) else {
                    throw ServiceError.invalidArgs("Job id '\(InputValidation.quote(text))' is not a GUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).")
                }
                let job = try await manager.lookUp(id, caller: caller)
                return [.objectPath(ObjectPaths.job(job.id))]
            }
        case .listJobs:
            let allUsers: Bool = try args(0)
            let authorization: Authorization = allUsers
                ? .manageAllJobs(challengeMessage: "Listing every user's jobs needs authentication as an administrator (org.example.bits.manage-all-jobs); call again allowing interactive authorization.")
                : .none
            let callers = self.callers, sender = call.invocation.sender
            return CallPlan(authorization) { caller in
                let jobs = try await manager.listJobs(caller: caller, allUsers: allUsers)
                if allUsers { callers.addAllUsersListener(sender) }
                return [.objectPaths(jobs.map { ObjectPaths.job($0.id) })]
            }
        }
    }

    private func objectManagerMember(_ call: MethodCall) -> CallPlan {
        switch call.method {
        case StandardInterface.getManagedObjects:
            let manager = self.manager, callers = self.callers, encode = managedObjects, sender = call.invocation.sender
            return CallPlan(.none) { caller in
                // A connection polkit authorized for every user's jobs (ListJobs(true)) sees
                // them here too, as it hears their signals.
                let viewer = callers.isAllUsersListener(sender) ? Caller(uid: caller.uid, isAdministrator: true) : caller
                // Registered before the listing, so no file object that appears after it is missed.
                callers.addObjectManagerClient(sender)
                return [encode(await manager.visibleJobs(caller: viewer))]
            }
        default:
            return unsupported(call)
        }
    }

    private func properties(_ call: PropertiesCall) -> CallPlan {
        let limits = manager.limits, version = self.version
        return CallPlan(.none) { _ in
            try await call.answer(ManagerProperty.self, value: { property in
                Self.value(property, version: version, limits: limits)
            }, set: { name, _ in throw PropertiesCall.readOnly(name) })
        }
    }

    /// A manager property (all are read-only and constant while the service runs).
    static func value(_ property: ManagerProperty, version: String, limits: JobLimits) -> Variant {
        switch property {
        case .version: .string(version)
        case .maxJobsPerUser: .uint32(limits.maxJobsPerUser)
        case .maxJobsPerMachine: .uint32(limits.maxJobsPerMachine)
        case .maxFilesPerJob: .uint32(limits.maxFilesPerJob)
        case .maxRangesPerFile: .uint32(limits.maxRangesPerFile)
        }
    }

    private func unsupported(_ call: MethodCall) -> CallPlan {
        .failing(.none, ServiceError(.notSupported, "\(call.interface).\(call.method) is not supported on \(call.path)."))
    }
}
