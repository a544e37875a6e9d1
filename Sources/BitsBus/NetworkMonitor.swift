import BitsCore
import BitsDBus
import BitsService

/// Watches the network and reports (available, metered) to a callback: GIO's
/// GNetworkMonitor (NetworkManager-aware; `SystemNetworkMonitor`), or — for tests and special
/// setups — a state file (`available=true|false`, `metered=true|false` lines) watched with
/// GFileMonitor (`FileChangeMonitor`). Both are event-driven: nothing polls.
/// Changes are delivered on the bus's loop thread, where `start` sets the watch up.
final class NetworkMonitor: NetworkMonitoring, @unchecked Sendable {
    private let loop: MainLoopThread
    private let stateFile: String?

    init(stateFile: String?, loop: MainLoopThread) {
        self.stateFile = stateFile
        self.loop = loop
    }

    /// Starts watching, for good, and reports the current state.
    func start(reporting report: @escaping @Sendable (NetworkStatus) -> Void) throws {
        try loop.perform { [self] in
            Result {
                if let stateFile {
                    try FileChangeMonitor.watch(path: stateFile) { [self] in report(current()) }
                } else {
                    SystemNetworkMonitor.watch { [self] in report(current()) }
                }
                report(current())
            }
        }.get()
    }

    func current() -> NetworkStatus {
        if let stateFile {
            guard let text = try? String(contentsOfFile: stateFile, encoding: .utf8) else {
                return NetworkStatus(available: true, metered: false)
            }
            var status = NetworkStatus(available: true, metered: false)
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: "=").map { $0.trimmingBlanks() }
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
