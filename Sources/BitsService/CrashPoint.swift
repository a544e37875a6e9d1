import BitsSystem
import Foundation

/// Crash-consistency test hook: with `BITSD_CRASH_POINT=<name>` in its environment the daemon
/// kills itself with SIGKILL when it reaches that point, so the integration tests can crash it
/// between any two steps of AddFile, Complete and Cancel and check what a restart makes of it.
/// Without the variable `reach` does nothing.
enum CrashPoint {
    static let armed = ProcessInfo.processInfo.environment["BITSD_CRASH_POINT"]

    static func reach(_ name: StaticString) {
        guard let armed, armed == "\(name)" else { return }
        ChildProcess.killSelf()
    }
}
