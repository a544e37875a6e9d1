import BitsSystem
import CGLib
import Dispatch

/// A GLib main loop on its own thread. GDBus delivers every registered object's calls in
/// the thread-default context of the thread that registered them, so registrations and
/// subscriptions go through `perform`.
package final class MainLoopThread: @unchecked Sendable {
    package let context: OpaquePointer
    private let loop: OpaquePointer
    private let name: String
    private let started = DispatchSemaphore(value: 0)

    package init(name: String = "bitsd-dbus") {
        self.name = name
        context = g_main_context_new()
        loop = g_main_loop_new(context, 0)
    }

    /// Starts the loop thread and waits until it runs. The thread is never joined: it runs
    /// until `stop()`, and the process may end with it running.
    package func start() {
        guard let thread = JoinableThread(name: name, { [self] in
            g_main_context_push_thread_default(context)
            started.signal()
            g_main_loop_run(loop)
            g_main_context_pop_thread_default(context)
        }) else {
            fatalError("cannot start the D-Bus loop thread \(name): out of threads")
        }
        thread.detach()
        started.wait()
    }

    package func stop() { g_main_loop_quit(loop) }

    /// Runs `work` on the loop thread without waiting (GDBus async calls must start there so
    /// their completions are dispatched by this loop).
    package func async(_ work: @escaping () -> Void) {
        let box = Unmanaged.passRetained(PerformBox(work: { work() as Any })).toOpaque()
        g_main_context_invoke(context, { data in
            let box = Unmanaged<PerformBox>.fromOpaque(data!).takeRetainedValue()
            _ = box.work()
            return 0
        }, box)
    }

    /// Runs `work` on the loop thread and waits for it.
    package func perform<T>(_ work: @escaping () -> T) -> T {
        // On the loop thread (it owns the context while it runs): at once, or it would wait for itself.
        if g_main_context_is_owner(context) != 0 { return work() }
        let box = PerformBox(work: { work() as Any })
        let unmanaged = Unmanaged.passRetained(box)
        g_main_context_invoke(context, { data in
            let box = Unmanaged<PerformBox>.fromOpaque(data!).takeRetainedValue()
            box.result = box.work()
            box.done.signal()
            return 0 // G_SOURCE_REMOVE
        }, unmanaged.toOpaque())
        box.done.wait()
        return box.result as! T
    }
}

/// The closure and result of one `perform`, passed through GLib as user data.
private final class PerformBox: @unchecked Sendable {
    let work: () -> Any
    var result: Any?
    let done = DispatchSemaphore(value: 0)
    init(work: @escaping () -> Any) { self.work = work }
}
