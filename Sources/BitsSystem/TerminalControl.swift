import Glibc

extension FileDescriptor {
    /// Runs `body` with this terminal's echo off (tcsetattr, TCSAFLUSH), then restores the
    /// settings it had.
    public func withoutEcho<T>(_ body: () throws -> T) rethrows -> T {
        var saved = termios()
        tcgetattr(raw, &saved)
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(raw, TCSAFLUSH, &quiet)
        defer { tcsetattr(raw, TCSAFLUSH, &saved) }
        return try body()
    }
}

/// Process-wide signal dispositions and masks.
public enum ProcessSignals {
    /// SIGINT (Ctrl-C) and SIGTERM, the signals that ask a program to stop.
    public static let interrupt = SIGINT
    public static let terminate = SIGTERM

    /// The daemon's start-up, before any thread exists: SIGTERM and SIGINT are blocked in the
    /// calling thread, and so in every thread started later (they inherit the mask), so they
    /// reach only `waitForStopSignal`; SIGPIPE is ignored (a write to a closed socket fails
    /// with EPIPE instead).
    public static func blockStopSignals() {
        var stopSet = stopSignals
        pthread_sigmask(SIG_BLOCK, &stopSet, nil)
        _ = Glibc.signal(SIGPIPE, SIG_IGN)
    }

    /// Waits for SIGTERM or SIGINT (blocked by `blockStopSignals`) and returns it.
    public static func waitForStopSignal() -> Int32 {
        var stopSet = stopSignals
        var received: Int32 = 0
        sigwait(&stopSet, &received)
        return received
    }

    private static var stopSignals: sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        return set
    }

    /// Ignores `signal` (SIG_IGN), e.g. while a dispatch source handles it.
    public static func ignore(_ signal: Int32) {
        _ = Glibc.signal(signal, SIG_IGN)
    }

    /// Ends the process by SIGPIPE with its default action, quietly, as other command-line
    /// tools do when their reader went away.
    public static func dieOfBrokenPipe() {
        _ = Glibc.signal(SIGPIPE, SIG_DFL)
        _ = raise(SIGPIPE)
    }
}
