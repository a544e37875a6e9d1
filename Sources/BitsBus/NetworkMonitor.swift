import BitsDBus
import BitsService
import Foundation

/// Watches the network and reports (available, metered) to a callback: GIO's
/// GNetworkMonitor (NetworkManager-aware; `SystemNetworkMonitor`), or — for tests and special
/// setups — a state file (`available=true|false`, `metered=true|false` lines) watched with
/// GFileMonitor (`FileChangeMonitor`). Both are event-driven: nothing polls.
///
/// The daemon injects it into the queue manager (`NetworkMonitoring`), which starts it. GIO
/// delivers its notifications on a GLib main loop of its own (`bitsd-network`), so it needs
/// nothing of the bus connection.
public final class NetworkMonitor: NetworkMonitoring, @unchecked Sendable {
    private let stateFile: String?
    private let loop = MainLoopThread(name: "bitsd-network")
    /// Set once by `start` (on the loop thread), before the first report.
    private var onChange: (@Sendable (NetworkStatus) -> Void)?

    /// Watches the system's network, or the state file `stateFile` when given (tests).
    public init(stateFile: String?) {
        self.stateFile = stateFile
    }

    /// Starts watching, for good: `report` gets the current status at once and every change
    /// (on the monitor's loop thread). Call once.
    public func start(reporting report: @escaping @Sendable (NetworkStatus) -> Void) throws {
        loop.start()
        try loop.perform { [self] in
            Result {
                onChange = report
                if let stateFile {
                    try FileChangeMonitor.watch(path: stateFile) { [self] in self.report() }
                } else {
                    SystemNetworkMonitor.watch { [self] in self.report() }
                }
                self.report()
            }
        }.get()
    }

    /// Reads the current state and passes it on (loop thread).
    func report() {
        onChange?(current())
    }

    func current() -> NetworkStatus {
        if let stateFile {
            guard let text = try? String(contentsOfFile: stateFile, encoding: .utf8) else {
                return NetworkStatus(available: true, metered: false)
            }
            var status = NetworkStatus(available: true, metered: false)
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: "=").map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2 else { continue }
                let value = parts[1] == "true" || parts[1] == "1" || parts[1] == "yes"
                if parts[0] == "available" { status.available = value }
                if parts[0] == "metered" { status.metered = value }
            }
            return status
        }
        return NetworkStatus(available: SystemNetworkMonitor.isAvailable, metered: SystemNetworkMonitor.isMetered)
    }
}
