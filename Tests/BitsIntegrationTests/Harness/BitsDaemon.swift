import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The real `bitsd`, started as root on the private bus with its own state directory.
final class BitsDaemon {
    /// `BITSD_BINARY` (`BITSCTL_BINARY`, …), else the program built beside this test bundle
    /// (same build as the tests), else `<repo>/.build/debug/<name>`.
    static func locateBinary(_ name: String = "bitsd") -> (path: String?, searched: [String]) {
        // An explicit BITSD_BINARY is the only candidate: never silently test another build.
        let variable = name.uppercased().replacingOccurrences(of: "-", with: "_") + "_BINARY"
        if let env = ProcessInfo.processInfo.environment[variable], !env.isEmpty {
            return (FileManager.default.isExecutableFile(atPath: env) ? env : nil, ["\(variable)=\(env)"])
        }
        var candidates: [String] = []
        let testExecutable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        candidates.append(testExecutable.deletingLastPathComponent().appendingPathComponent(name).path)
        candidates.append("\(TestEnvironment.repoRoot)/.build/debug/\(name)")
        return (candidates.first { FileManager.default.isExecutableFile(atPath: $0) }, candidates)
    }

    let binary: String
    let directory: String
    let stateDirectory: String
    let logPath: String
    let configPath: String?
    private let env: TestEnvironment
    private var process: ManagedProcess?

    /// - Parameter config: contents of the INI file passed with `--config`; nil = an empty file, so
    ///   the defaults apply whatever /etc/bits/bitsd.conf says on this machine.
    /// Extra environment of the daemon process (used by the next `start`).
    var environment: [String: String]
    /// Extra arguments of the daemon process, such as the hidden test hooks `--crash-at` and
    /// `--fail-fsync-of` (used by the next `start`).
    var extraArguments: [String] = []

    /// - Parameter binary: the bitsd to run; nil = `locateBinary()`.
    init(env: TestEnvironment, name: String, config: String? = nil, environment: [String: String] = [:],
         binary: String? = nil) throws {
        self.environment = environment
        let (found, searched): (String?, [String]) = if let binary { (binary, [binary]) } else { Self.locateBinary() }
        guard let found else {
            throw HarnessError("bitsd binary not found — build it first (`swift build`, or `swift build --scratch-path .build-itest`) "
                               + "or set BITSD_BINARY; looked at: \(searched.joined(separator: ", "))")
        }
        let policy = "\(TestEnvironment.repoRoot)/dbus/org.example.Bits.conf"
        guard env.bus.projectPolicyPresent else {
            throw HarnessError("\(policy) was missing when the test bus started: without the project's bus policy "
                               + "nobody may own org.example.Bits on a bus with system semantics")
        }
        self.env = env
        self.binary = found
        directory = "\(env.directory)/daemon-\(name)"
        stateDirectory = "\(directory)/state"
        logPath = "\(directory)/bitsd.log"
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        chmod(directory, 0o755)
        let path = "\(directory)/bitsd.conf"
        try (config ?? "# bitsd integration tests: built-in defaults\n").write(toFile: path, atomically: true, encoding: .utf8)
        configPath = path
        networkStateFile = "\(directory)/network-state"
        bootIDFile = "\(directory)/boot_id"
        try setNetwork(available: true, metered: false)
        try String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)
            .write(toFile: bootIDFile, atomically: true, encoding: .utf8)
    }

    /// The file bitsd reads the kernel's boot id from (`--boot-id-file`); starts as the real one.
    let bootIDFile: String

    /// Makes the next start look like the first after a reboot (a new boot id).
    func simulateReboot() throws {
        try (UUID().uuidString.lowercased() + "\n").write(toFile: bootIDFile, atomically: true, encoding: .utf8)
    }

    /// The file bitsd takes the network state from (`--network-state-file`).
    let networkStateFile: String

    /// Rewrites the network state; bitsd sees the change through its file monitor.
    func setNetwork(available: Bool, metered: Bool) throws {
        try "available=\(available)\nmetered=\(metered)\n".write(toFile: networkStateFile, atomically: true, encoding: .utf8)
    }

    /// Starts bitsd and waits (up to `timeout`) until it owns org.example.Bits.
    func start(timeout: TimeInterval = 10) throws {
        if env.root.nameHasOwner(BitsNames.service) {
            throw HarnessError("org.example.Bits already has an owner on the test bus before bitsd started "
                               + "(a previous daemon did not stop?)")
        }
        var args = [binary, "--address", env.address, "--state-directory", stateDirectory]
        if let configPath { args += ["--config", configPath] }
        args += ["--network-state-file", networkStateFile, "--boot-id-file", bootIDFile] + extraArguments
        let p = try ManagedProcess(name: "bitsd", command: args, environment: environment, logPath: logPath, cwd: directory)
        process = p
        let ok = waitUntil(timeout: timeout) { env.root.nameHasOwner(BitsNames.service) || !p.isRunning }
        guard ok, p.isRunning else {
            let tail = p.logTail(lines: 60)
            let why = p.isRunning ? "did not take org.example.Bits within \(Int(timeout)) s" : "exited early (\(p.exitDescription))"
            p.stop()
            throw HarnessError("bitsd \(why)\ncommand: \(args.joined(separator: " "))\n--- bitsd log tail ---\n\(tail)")
        }
        // The owner must be our process, not something else.
        let r = env.root.call(dest: "org.freedesktop.DBus", path: "/org/freedesktop/DBus",
                              interface: "org.freedesktop.DBus", method: "GetConnectionUnixProcessID",
                              signature: "s", args: [BitsNames.service])
        if let pid = r.first?.int, pid != Int(p.pid) {
            p.stop()
            throw HarnessError("org.example.Bits is owned by pid \(pid), not by the bitsd we started (pid \(p.pid))")
        }
    }

    var pid: Int32 { process?.pid ?? 0 }
    var isRunning: Bool { process?.isRunning ?? false }
    var exitDescription: String { process?.exitDescription ?? "not started" }

    func logTail(lines: Int = 40) -> String {
        guard let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return "(no bitsd log)" }
        return text.suffixLines(lines)
    }

    /// SIGTERM (bitsd ends cleanly), SIGKILL after 3 s.
    func stop() {
        process?.stop(grace: 3)
        process = nil
    }

    /// `kill -9`: no chance to clean up. Waits until the process is gone and its bus name
    /// released.
    func crash() {
        guard let p = process else { return }
        kill(p.pid, SIGKILL)
        waitForExit()
    }

    /// Waits for the process to end (by itself, e.g. at a crash point) and its name to go.
    func waitForExit(timeout: TimeInterval = 10) {
        guard let p = process else { return }
        _ = waitUntil(timeout: timeout) { !p.isRunning }
        _ = waitUntil(timeout: timeout) { !env.root.nameHasOwner(BitsNames.service) }
        p.stop(grace: 0)
        process = nil
    }

    /// Stops cleanly (or not) and starts again on the same state directory.
    func restart(crash: Bool = false) throws {
        if crash { self.crash() } else { stop() }
        try start()
    }

    /// The queue database of this daemon.
    var databasePath: String { "\(stateDirectory)/queue.sqlite" }
}
