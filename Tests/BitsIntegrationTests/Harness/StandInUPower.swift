import Foundation

/// `Tests/Support/upower_standin.py` on the test bus: owns `org.freedesktop.UPower` (as root,
/// which the test bus's policy allows, as upower's own policy does on a real system) and flips
/// `OnBattery` on command, emitting `PropertiesChanged` as UPower does.
final class StandInUPower {
    private let process: ManagedProcess
    private let input: Pipe
    private let output: LineReader

    init(env: TestEnvironment) throws {
        let stdout = Pipe()
        input = Pipe()
        process = try ManagedProcess(name: "upower-standin",
                                     command: ["/usr/bin/python3", "\(env.supportDirectory)/upower_standin.py", env.address, "serve"],
                                     logPath: "\(env.supportDirectory)/upower-standin.log", stdout: stdout, stdin: input)
        output = LineReader(pipe: stdout)
        guard let line = output.nextLine(timeout: 10), line.hasPrefix("ready") else {
            process.stop()
            throw HarnessError("the stand-in UPower did not start:\n\(process.logTail())")
        }
    }

    /// Sets `OnBattery` (and emits its change).
    func set(onBattery: Bool) throws { try send(onBattery ? "true" : "false") }

    /// Releases the name and exits: the machine has no UPower any more.
    func quit() {
        try? input.fileHandleForWriting.write(contentsOf: Data("quit\n".utf8))
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        process.stop()
    }

    private func send(_ command: String) throws {
        try input.fileHandleForWriting.write(contentsOf: Data((command + "\n").utf8))
        guard output.nextLine(timeout: 5) == "ok" else {
            throw HarnessError("the stand-in UPower did not take '\(command)':\n\(process.logTail())")
        }
    }

    /// Emits a forged `PropertiesChanged` for UPower's path as `user`, who does not own the name.
    static func spoof(onBattery: Bool, as user: TestUser, env: TestEnvironment) throws {
        _ = try ProcessRunner.mustRun(["/usr/bin/python3", "\(env.supportDirectory)/upower_standin.py", env.address,
                                       "spoof", onBattery ? "true" : "false"], as: user, timeout: 10)
    }
}
