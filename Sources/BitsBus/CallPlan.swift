import BitsCore
import BitsDBus
import BitsService

/// What polkit must be asked before a member runs, declared by its harness next to the
/// member. `BusService.authorizedCaller` carries it out; uid 0 is always an administrator and
/// is never asked about.
struct Authorization: Sendable, Equatable {
    enum ManageAllJobs: Sendable, Equatable {
        /// Not needed: the caller acts as itself.
        case never
        /// `org.example.bits.manage-all-jobs`, with interaction when the call allows it. A
        /// challenge the call did not allow fails it with `InteractiveAuthorizationRequired`
        /// and `challengeMessage`; a refusal (or a challenge nobody could answer) leaves the
        /// caller an ordinary user (the queue manager then answers AccessDenied).
        case interactive(challengeMessage: String)
        /// `org.example.bits.manage-all-jobs` without interaction, only when job `id` exists
        /// and belongs to another user; a refusal leaves the caller an ordinary user (the job
        /// then answers NotFound, so its existence is not revealed, not even by a prompt).
        case ifAnotherUsersJob(JobID)
    }

    var manageAllJobs: ManageAllJobs
    /// When the member fails on a job, file or range limit, ask (without interaction) for
    /// `org.example.bits.exceed-limits` and, if granted, run it again exempt from the limits.
    var exceedLimitsOnRetry = false

    /// Nothing to ask.
    static let none = Authorization(manageAllJobs: .never)

    /// `manage-all-jobs`, interactive when allowed (e.g. `ListJobs(all_users=true)`).
    static func manageAllJobs(challengeMessage: String) -> Authorization {
        Authorization(manageAllJobs: .interactive(challengeMessage: challengeMessage))
    }

    /// `manage-all-jobs`, non-interactive, when job `id` is another user's (every member of a
    /// job or file, `GetJob` of its GUID).
    static func anotherUsersJob(_ id: JobID) -> Authorization {
        Authorization(manageAllJobs: .ifAnotherUsersJob(id))
    }

    /// The same, plus `exceed-limits` on a retry after a limit error.
    var exceedingLimits: Authorization {
        var copy = self
        copy.exceedLimitsOnRetry = true
        return copy
    }
}

/// A decoded call, as a harness hands it back: what it needs from polkit, and the work
/// (calling the queue manager, encoding the reply) for the caller polkit leaves it with.
struct CallPlan: Sendable {
    let authorization: Authorization
    let body: @Sendable (Caller) async throws -> [Variant]

    init(_ authorization: Authorization, _ body: @escaping @Sendable (Caller) async throws -> [Variant]) {
        self.authorization = authorization
        self.body = body
    }

    /// A call that fails with `error` once `authorization` is carried out.
    static func failing(_ authorization: Authorization, _ error: ServiceError) -> CallPlan {
        CallPlan(authorization) { _ in throw error }
    }
}
