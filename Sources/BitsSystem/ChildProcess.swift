import CSystem
import Glibc

/// Programs the daemon starts (the notify command), without forking Swift code.
/// The calling process itself.
public enum CurrentProcess {
    /// exit(3): ends the process with `status` (atexit handlers run, stdio is flushed).
    public static func exit(_ status: Int32) -> Never { Glibc.exit(status) }
}

public enum ChildProcess {
    /// How a child ended.
    public enum End: Sendable, Equatable {
        case exited(Int32)
        /// A signal ended it (not the one sent at the time limit).
        case signalled(Int32)
        /// Still running after the time limit: its process group got SIGTERM, then SIGKILL.
        case timedOut
    }

    /// Starts `arguments[0]` with `arguments` and exactly `environment` in a child that
    /// inherits nothing (`bits_spawn_isolated`: fds 0–2 on /dev/null, no other descriptor,
    /// working directory `/`, empty signal mask, default dispositions, its own process
    /// group). Returns its pid.
    public static func spawnIsolated(_ arguments: [String], environment: [String]) throws(SystemError) -> Int32 {
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        let pid = bits_spawn_isolated(arguments[0], argv, envp)
        guard pid > 0 else { throw .last("posix_spawn", path: arguments[0]) }
        return pid
    }

    /// Waits for child `pid` and reaps it (`bits_child_wait`); past `timeLimitMs` its process
    /// group gets SIGTERM, and SIGKILL `graceMs` later. Blocks the calling thread.
    public static func wait(_ pid: Int32, timeLimitMs: Int32, graceMs: Int32) throws(SystemError) -> End {
        var end = bits_child_end()
        guard bits_child_wait(pid, timeLimitMs, graceMs, &end) == 0 else { throw .last("waitpid") }
        if end.timed_out != 0 { return .timedOut }
        if end.signal != 0 { return .signalled(end.signal) }
        return .exited(end.exit_status)
    }

    /// Ends the calling process at once with SIGKILL (the crash tests' hook).
    public static func killSelf() -> Never {
        kill(getpid(), SIGKILL)
        fatalError("SIGKILL did not end the process")
    }
}
