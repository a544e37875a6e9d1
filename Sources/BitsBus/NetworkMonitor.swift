import BitsDBus
import BitsService
import Foundation

/// Watches the network and reports (available, metered) to a callback: GIO's
/// GNetworkMonitor (NetworkManager-aware; `SystemNetworkMonitor`), or — for tests and special
/// setups — a state file (`available=true|false`, `metered=true|false` lines) watched with
/// GFileMonitor (`FileChangeMonitor`). Both are event-driven: nothing polls.
final class NetworkMonitor: @unchecked Sendable {
    private let onChange: @Sendable (NetworkStatus) -> Void
    private let stateFile: String?

    init(stateFile: String?, onChange: @escaping @Sendable (NetworkStatus) -> Void) {
        self.stateFile = stateFile
        self.onChange = onChange
    }

    /// Starts watching, for good; call on the main-loop thread (changes are delivered there).
    func start() throws {
        if let stateFile {
            try FileChangeMonitor.watch(path: stateFile) { [self] in report() }
        } else {
            SystemNetworkMonitor.watch { [self] in report() }
        }
        report()
    }

    /// Reads the current state and passes it on.
    func report() {
        onChange(current())
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
