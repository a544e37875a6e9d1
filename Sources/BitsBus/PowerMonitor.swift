import BitsDBus
import BitsService
import Logging

/// Watches UPower's `OnBattery` (`org.freedesktop.UPower` on the service's own bus) and reports
/// each change to a callback. Event-driven: the owner of UPower's name is followed through the
/// bus's `NameOwnerChanged`, `OnBattery` through UPower's `PropertiesChanged`; a property
/// signal counts only when it comes from the current owner (anyone may emit a signal with
/// UPower's path, only the bus can vouch for who owns the name). No UPower, an error or an
/// answer of the wrong type reads as "not on battery", as a machine without battery data is.
///
/// Confined to the bus's loop thread: `start` runs there, and so do every signal handler and
/// call completion, so its state needs no lock.
final class PowerMonitor: PowerMonitoring, @unchecked Sendable {
    static let name = "org.freedesktop.UPower"
    static let path = "/org/freedesktop/UPower"
    static let interface = "org.freedesktop.UPower"
    static let property = "OnBattery"
    static let timeoutMs: Int32 = 10_000

    private let bus: BusConnection
    private let loop: MainLoopThread
    private let logger: Logger
    private var onChange: @Sendable (Bool) -> Void = { _ in }
    /// The unique name that owns UPower's name now, if any.
    private var owner: String?
    /// Bumped on every owner change, so a late answer for an earlier owner is dropped.
    private var generation = 0
    private var reported: Bool?

    init(bus: BusConnection, loop: MainLoopThread, logger: Logger) {
        self.bus = bus
        self.loop = loop
        self.logger = logger
    }

    /// Subscribes and asks for the current state, on the bus's loop thread.
    func start(reporting report: @escaping @Sendable (Bool) -> Void) {
        loop.perform { [self] in
            onChange = report
            subscribe()
        }
    }

    private func subscribe() {
        bus.subscribe(sender: "org.freedesktop.DBus", interface: "org.freedesktop.DBus", member: "NameOwnerChanged",
                      path: "/org/freedesktop/DBus", arg0: Self.name) { [self] signal in
            let args = signal.arguments
            guard args.count == 3, args[0].stringValue == Self.name, let newOwner = args[2].stringValue else { return }
            ownerChanged(newOwner.isEmpty ? nil : newOwner)
        }
        bus.subscribe(sender: nil, interface: "org.freedesktop.DBus.Properties", member: "PropertiesChanged",
                      path: Self.path, arg0: Self.interface) { [self] signal in
            guard signal.sender == owner, signal.arguments.count == 3 else { return }
            if let changed = Self.onBattery(in: signal.arguments[1]) {
                report(changed)
            } else if signal.arguments[2].items.contains(where: { $0.stringValue == Self.property }) {
                query()
            }
        }
        let generation = self.generation
        bus.call(destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus",
                 method: "GetNameOwner", arguments: .tuple([.string(Self.name)]), replyType: "(s)",
                 timeoutMs: Self.timeoutMs) { [self] result in
            guard generation == self.generation else { return }  // NameOwnerChanged came first
            ownerChanged(try? result.get().items.first?.stringValue)
        }
    }

    private func ownerChanged(_ newOwner: String?) {
        generation += 1
        owner = newOwner
        if newOwner == nil { report(false) } else { query() }
    }

    /// Reads `OnBattery` from the current owner.
    private func query() {
        guard let owner else { return }
        let generation = self.generation
        bus.call(destination: owner, path: Self.path, interface: "org.freedesktop.DBus.Properties", method: "Get",
                 arguments: .tuple([.string(Self.interface), .string(Self.property)]), replyType: "(v)",
                 timeoutMs: Self.timeoutMs) { [self] result in
            guard generation == self.generation else { return }
            switch result {
            case .success(let reply):
                report(reply.items.first?.unboxed.boolValue ?? false)
            case .failure(let error):
                logger.warning("UPower's OnBattery could not be read (\(error.name): \(error.message)); taken as not on battery")
                report(false)
            }
        }
    }

    private func report(_ onBattery: Bool) {
        guard onBattery != reported else { return }
        reported = onBattery
        onChange(onBattery)
    }

    /// `OnBattery` among a `PropertiesChanged` signal's changed properties, if it is there.
    static func onBattery(in changed: Variant) -> Bool? {
        guard case .dictionary(_, _, let entries) = changed else { return nil }
        for (key, value) in entries where key.stringValue == property {
            return value.unboxed.boolValue ?? false
        }
        return nil
    }
}
