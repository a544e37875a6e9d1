import BitsCore
import BitsDBus
import BitsService

/// Who is an administrator, decided per call: uid 0 always; anyone else only when polkit
/// authorizes the action the call needs, asked only when the call needs it. What each call
/// needs is declared by its harness, next to the member (`Authorization`). A per-user
/// instance serves its user alone and has no administrators.
extension BusService {
    /// The caller of a call whose harness declared `authorization` (see `Authorization`),
    /// an administrator when the call needs it and polkit agrees.
    func authorizedCaller(_ authorization: Authorization, invocation: MethodInvocation, uid: UInt32) async throws -> Caller {
        guard serves(uid) else {
            throw ServiceError.accessDenied("This bitsd is the per-user instance of user \(servedUser ?? 0); user \(uid) is not served by it.")
        }
        let ordinary = Caller(uid: uid, isAdministrator: isAdministratorByUID(uid))
        guard uid != 0, servedUser == nil else { return ordinary }
        let interactive: Bool
        let challengeMessage: String?
        switch authorization.manageAllJobs {
        case .never:
            return ordinary
        case .interactive(let message):
            interactive = invocation.allowsInteraction
            challengeMessage = message
        case .ifAnotherUsersJob(let id):
            // Authorization polkit keeps after an interactive check (`auth_admin_keep`)
            // applies here too.
            guard let owner = directory.entry(id)?.owner, owner != uid else { return ordinary }
            interactive = false
            challengeMessage = nil
        }
        switch await polkit.check(.manageAllJobs, sender: invocation.sender, interactive: interactive) {
        case .authorized:
            try await requireConnected(invocation.sender)
            return Caller(uid: uid, isAdministrator: true)
        case .challenge:
            // polkit would ask; the caller did not allow it, or nobody could answer.
            if let challengeMessage, !interactive {
                throw ServiceError(.interactiveAuthorizationRequired, challengeMessage)
            }
            return ordinary
        case .denied:
            return ordinary
        }
    }

    /// Runs `body`; when it fails on a job, file or range limit, asks polkit (without
    /// interaction) for `exceed-limits` and, if granted, runs it again exempt from the limits.
    func exemptingLimits<T>(sender: String, _ caller: Caller,
                            _ body: (Caller) async throws -> T) async throws -> T {
        do {
            return try await body(caller)
        } catch let error as ServiceError where Self.limitErrors.contains(error.name) && !caller.exemptFromLimits {
            guard servedUser == nil, await polkit.check(.exceedLimits, sender: sender, interactive: false) == .authorized else {
                throw error
            }
            try await requireConnected(sender)
            return try await body(Caller(uid: caller.uid, isAdministrator: caller.isAdministrator, exemptFromLimits: true,
                                         umask: caller.umask))
        }
    }

    /// Whether this instance serves `uid`: the system service serves everyone, a per-user
    /// instance its user alone.
    func serves(_ uid: UInt32) -> Bool { servedUser.map { $0 == uid } ?? true }

    /// uid 0 is an administrator of the system service without asking polkit; a per-user
    /// instance has no administrators.
    func isAdministratorByUID(_ uid: UInt32) -> Bool { servedUser == nil && uid == 0 }

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
