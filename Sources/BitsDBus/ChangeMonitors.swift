import CGLib

/// GIO's default network monitor (GNetworkMonitor: NetworkManager-aware, or netlink): the
/// network's state now, and change notifications. Nothing polls.
package enum SystemNetworkMonitor {
    /// Whether the system has a network (a default route, for the netlink monitor).
    package static var isAvailable: Bool { g_network_monitor_get_network_available(g_network_monitor_get_default()) != 0 }

    /// Whether the network is metered (NetworkManager's judgement; false when unknown).
    package static var isMetered: Bool { g_network_monitor_get_network_metered(g_network_monitor_get_default()) != 0 }

    /// Calls `onChange` whenever the network changes or becomes (un)metered, for good. Call on
    /// the loop thread: the notifications arrive in its main context.
    package static func watch(_ onChange: @escaping () -> Void) {
        let monitor = g_network_monitor_get_default()
        let callback = ChangeCallback(onChange)
        bits_connect_network_changed(monitor, callback.pair)
        bits_connect_notify_metered(monitor, callback.pair)
    }
}

/// One file watched through GIO's GFileMonitor (inotify): any change to it, its creation or
/// its removal.
package enum FileChangeMonitor {
    /// Calls `onChange` on each change of the file at `path`, for good (the monitor is never
    /// released). Call on the loop thread: the notifications arrive in its main context.
    package static func watch(path: String, _ onChange: @escaping () -> Void) throws {
        let file = g_file_new_for_path(path)
        var error: UnsafeMutablePointer<GError>?
        let monitor = g_file_monitor_file(file, G_FILE_MONITOR_NONE, nil, &error)
        g_object_unref(UnsafeMutableRawPointer(file))
        guard let monitor else {
            throw BusSetupError(description: "cannot watch \(path): \(GDBus.takeMessage(error))")
        }
        bits_connect_file_changed(monitor, ChangeCallback(onChange).pair)
    }
}

/// A Swift callback as the C trampolines of shim.h take it: `pair` is [C function, context].
/// Never freed: the signal handlers that use it stay connected for good.
private final class ChangeCallback {
    let onChange: () -> Void
    let pair = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 2)

    private static let notify: @convention(c) (UnsafeMutableRawPointer?) -> Void = { context in
        Unmanaged<ChangeCallback>.fromOpaque(context!).takeUnretainedValue().onChange()
    }

    init(_ onChange: @escaping () -> Void) {
        self.onChange = onChange
        pair[0] = unsafeBitCast(Self.notify, to: UnsafeMutableRawPointer.self)
        pair[1] = Unmanaged.passRetained(self).toOpaque()
    }
}
