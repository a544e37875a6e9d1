import BitsDBus
import BitsService
import CGLib
import Foundation

/// Watches the network and reports (available, metered) to a callback: GIO's
/// GNetworkMonitor (NetworkManager-aware), or — for tests and special setups — a state file
/// (`available=true|false`, `metered=true|false` lines) watched with GFileMonitor.
/// Both are event-driven: nothing polls.
final class NetworkMonitor: @unchecked Sendable {
    private let onChange: @Sendable (NetworkStatus) -> Void
    private let stateFile: String?
    /// The GFileMonitor or GNetworkMonitor being watched (kept alive with the object).
    private var monitor: UnsafeMutableRawPointer?
    /// [callback, context] handed to the C trampolines; lives as long as the monitor.
    private let pair = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 2)

    private static let notify: @convention(c) (UnsafeMutableRawPointer?) -> Void = { context in
        Unmanaged<NetworkMonitor>.fromOpaque(context!).takeUnretainedValue().report()
    }

    init(stateFile: String?, onChange: @escaping @Sendable (NetworkStatus) -> Void) {
        self.stateFile = stateFile
        self.onChange = onChange
        pair[0] = unsafeBitCast(Self.notify, to: UnsafeMutableRawPointer.self)
        pair[1] = Unmanaged.passUnretained(self).toOpaque()
    }

    /// Starts watching; call on the main-loop thread (signals are delivered there).
    func start() throws {
        if let stateFile {
            let file = g_file_new_for_path(stateFile)
            var error: UnsafeMutablePointer<GError>?
            let fileMonitor = g_file_monitor_file(file, G_FILE_MONITOR_NONE, nil, &error)
            g_object_unref(UnsafeMutableRawPointer(file))
            guard let fileMonitor else {
                throw BusSetupError(description: "cannot watch \(stateFile): \(GDBus.takeMessage(error))")
            }
            bits_connect_file_changed(fileMonitor, pair)
            monitor = UnsafeMutableRawPointer(fileMonitor)
        } else {
            let networkMonitor = g_network_monitor_get_default()
            bits_connect_network_changed(networkMonitor, pair)
            bits_connect_notify_metered(networkMonitor, pair)
            monitor = UnsafeMutableRawPointer(networkMonitor)
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
        let networkMonitor = g_network_monitor_get_default()
        return NetworkStatus(available: g_network_monitor_get_network_available(networkMonitor) != 0,
                             metered: g_network_monitor_get_network_metered(networkMonitor) != 0)
    }
}
