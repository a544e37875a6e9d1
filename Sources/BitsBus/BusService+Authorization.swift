import BitsCore
import BitsService
import Foundation

/// Who is an administrator, decided per call: uid 0 always; anyone else only when polkit
/// authorizes the action the call needs, asked only when the call needs it.
extension BusService {
    /// The caller of `call`, an administrator when the call needs it and polkit agrees.
    ///
    /// - `ListJobs(true)` asks for `manage-all-jobs` with interaction when the call allows it;
    ///   a challenge without it is `InteractiveAuthorizationRequired`; a refusal (or a
    ///   challenge nobody could answer, e.g. no authentication agent) leaves the caller an
    ///   ordinary user (the queue manager answers AccessDenied).
    /// - Any call on another user's job or file asks without interaction, and a refusal leaves
    ///   the caller an ordinary user (the job then answers NotFound, so its existence is not
    ///   revealed, not even through an authentication prompt). Authorization polkit keeps
    ///   after an interactive check (`auth_admin_keep`) applies here too.
    func authorizedCaller(_ call: IncomingCall, uid: UInt32) async throws -> Caller {
        let ordinary = Caller(uid: uid, isAdministrator: uid == 0)
        guard uid != 0 else { return ordinary }
        let interactive: Bool
        if call.path == ObjectPaths.manager {
            guard call.interface == InterfaceDefinitions.managerName else { return ordinary }
            switch call.method {
            case "ListJobs" where call.arguments.first?.boolValue == true:
                interactive = call.invocation.allowsInteraction
            case "GetJob":
                // Another user's job by GUID: as for its object path, never interactive.
                guard let id = call.arguments.first?.stringValue.flatMap(JobID.init(guid:)),
                      let owner = directory.entry(id)?.owner, owner != uid else { return ordinary }
                interactive = false
            default:
                return ordinary
            }
        } else {
            guard call.interface != "org.freedesktop.DBus.Introspectable",
                  let target = ObjectPaths.parse(call.path) else { return ordinary }
            let id: JobID
            switch target {
            case .job(let job): id = job
            case .file(let job, _): id = job
            }
            guard let owner = directory.entry(id)?.owner, owner != uid else { return ordinary }
            interactive = false
        }
        switch await polkit.check(.manageAllJobs, sender: call.invocation.sender, interactive: interactive) {
        case .authorized:
            try await requireConnected(call.invocation.sender)
            return Caller(uid: uid, isAdministrator: true)
        case .challenge where call.path == ObjectPaths.manager && call.method == "ListJobs" && !interactive:
            throw ServiceError(.interactiveAuthorizationRequired,
                               "Listing every user's jobs needs authentication as an administrator (org.example.bits.manage-all-jobs); call again allowing interactive authorization.")
        case .challenge, .denied:
            return ordinary
        }
    }

    /// Runs `body`; when it fails on a job, file or range limit, asks polkit (without
    /// interaction) for `exceed-limits` and, if granted, runs it again exempt from the limits.
    func exemptingLimits<T>(_ call: IncomingCall, _ caller: Caller,
                            _ body: (Caller) async throws -> T) async throws -> T {
        do {
            return try await body(caller)
        } catch let error as ServiceError where Self.limitErrors.contains(error.name) && !caller.exemptFromLimits {
            guard await polkit.check(.exceedLimits, sender: call.invocation.sender, interactive: false) == .authorized else {
                throw error
            }
            try await requireConnected(call.invocation.sender)
            return try await body(Caller(uid: caller.uid, isAdministrator: caller.isAdministrator, exemptFromLimits: true,
                                         umask: caller.umask))
        }
    }

    static let limitErrors: Set<ServiceError.Name> = [.tooManyJobsPerUser, .tooManyJobsPerMachine,
                                                      .tooManyFilesInJob, .tooManyRangesInFile]

    /// A caller that disconnected while polkit was asked gets nothing done: the bus is asked
    /// whether the name still has an owner before the authorized call goes ahead.
    func requireConnected(_ sender: String) async throws {
        let connected: Bool = await withCheckedContinuation { continuation in
            bus.call(destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus",
                     interface: "org.freedesktop.DBus", method: "NameHasOwner",
                     arguments: .tuple([.string(sender)]), replyType: "(b)", timeoutMs: 5000) { result in
                if case .success(let reply) = result, reply.items.first?.boolValue == true {
                    continuation.resume(returning: true)
                } else {
                    continuation.resume(returning: false)
                }
            }
        }
        guard connected else {
            logger.notice("\(sender) disconnected while its authorization was checked; nothing done")
            throw ServiceError.accessDenied("The caller disconnected during authorization.")
        }
    }
}
