import BitsDBus
import BitsCore

/// Asks polkit (`org.freedesktop.PolicyKit1.Authority.CheckAuthorization`) whether the
/// sender of a call may perform one of our actions. The subject is the caller's unique bus
/// name (`system-bus-name`), so polkit itself resolves it to a process and a user; any error,
/// timeout or a polkitd that is not running denies.
struct PolkitAuthority: Sendable {
    /// The actions of `polkit/org.example.bits.policy`.
    enum Action: String, Sendable {
        case manageAllJobs = "org.example.bits.manage-all-jobs"
        case exceedLimits = "org.example.bits.exceed-limits"
    }

    enum Answer: Equatable, Sendable {
        case authorized
        /// polkit would grant it after authentication, but the call did not allow interaction.
        case challenge
        case denied(String)
    }

    let bus: BusConnection
    /// How long an interactive check may wait for the user to authenticate.
    static let interactiveTimeoutMs: Int32 = 120_000
    static let timeoutMs: Int32 = 10_000

    func check(_ action: Action, sender: String, interactive: Bool) async -> Answer {
        guard !sender.isEmpty else { return .denied("the caller has no bus name") }
        let subject = Variant.tuple([
            .string("system-bus-name"),
            .dictionary(keyType: "s", valueType: "v", [(.string("name"), .variant(.string(sender)))]),
        ])
        let arguments = Variant.tuple([
            subject,
            .string(action.rawValue),
            .dictionary(keyType: "s", valueType: "s", []),
            .uint32(interactive ? 1 : 0),  // AllowUserInteraction
            .string(""),                    // no cancellation id
        ])
        return await withCheckedContinuation { continuation in
            bus.call(destination: "org.freedesktop.PolicyKit1", path: "/org/freedesktop/PolicyKit1/Authority",
                     interface: "org.freedesktop.PolicyKit1.Authority", method: "CheckAuthorization",
                     arguments: arguments, replyType: "((bba{ss}))",
                     timeoutMs: interactive ? Self.interactiveTimeoutMs : Self.timeoutMs) { result in
                switch result {
                case .success(let reply):
                    let fields = reply.items.first?.items ?? []
                    if fields.first?.boolValue == true {
                        continuation.resume(returning: .authorized)
                    } else if fields.count > 1, fields[1].boolValue == true {
                        continuation.resume(returning: .challenge)
                    } else {
                        continuation.resume(returning: .denied("polkit did not authorize \(action.rawValue)"))
                    }
                case .failure(let error):
                    continuation.resume(returning: .denied("polkit could not be asked (\(error.name): \(error.message)); denied"))
                }
            }
        }
    }
}
