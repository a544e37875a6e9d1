import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Errors raised by the harness itself (never by the code under test).
struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Result of a finished one-shot command.
struct CommandResult {
    let status: Int32
    let stdout: String
    let stderr: String
    let timedOut: Bool
    var succeeded: Bool { status == 0 && !timedOut }
    var summary: String {
        "exit \(status)\(timedOut ? " (timed out)" : "")\nstdout: \(stdout.suffixLines(20))\nstderr: \(stderr.suffixLines(20))"
    }
}

/// Starting, supervising and stopping subprocesses.
///
/// Every long-running process is registered in `ProcessRegistry` so that it is stopped by pid
/// (SIGTERM, then SIGKILL of its process group after 3 s) even when a test fails or the test
/// process exits early. Foundation's `Process` already makes every child a process-group leader.
enum ProcessRunner {
    static let setpriv = "/usr/bin/setpriv"

    /// The argv to run `command` as `user` (nil = as the current user, i.e. root).
    static func argv(_ command: [String], as user: TestUser?) -> [String] {
        guard let user else { return command }
        return [setpriv, "--reuid=\(user.uid)", "--regid=\(user.gid)", "--init-groups", "--"] + command
    }

    /// A minimal, predictable environment for children.
    static func environment(for user: TestUser?, extra: [String: String] = [:]) -> [String: String] {
        var env: [String: String] = [
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        ]
        if let user {
            env["HOME"] = user.home
            env["USER"] = user.name
            env["LOGNAME"] = user.name
        } else {
            env["HOME"] = "/root"
            env["USER"] = "root"
            env["LOGNAME"] = "root"
        }
        for (k, v) in extra { env[k] = v }
        return env
    }

    /// Runs a command to completion with stdout/stderr captured through temp files (no pipe
    /// deadlocks). `stdin` is written to a file and fed to the child.
    @discardableResult
    static func run(_ command: [String], as user: TestUser? = nil, environment extra: [String: String] = [:],
                    stdin: String? = nil, timeout: TimeInterval = 60, cwd: String? = nil) throws -> CommandResult {
        let full = argv(command, as: user)
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("bitsd-itest-cmd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outURL = scratch.appendingPathComponent("out")
        let errURL = scratch.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL)
        let err = try FileHandle(forWritingTo: errURL)
        defer { try? out.close(); try? err.close() }

        let p = Process()
        p.executableURL = URL(fileURLWithPath: full[0])
        p.arguments = Array(full.dropFirst())
        p.environment = environment(for: user, extra: extra)
        p.currentDirectoryURL = URL(fileURLWithPath: cwd ?? "/")
        p.standardOutput = out
        p.standardError = err
        var inHandle: FileHandle?
        if let stdin {
            let inURL = scratch.appendingPathComponent("in")
            try Data(stdin.utf8).write(to: inURL)
            inHandle = try FileHandle(forReadingFrom: inURL)
            p.standardInput = inHandle
        } else {
            p.standardInput = FileHandle.nullDevice
        }
        defer { try? inHandle?.close() }
        do {
            try p.run()
        } catch {
            throw HarnessError("cannot start \(full.joined(separator: " ")): \(error)")
        }
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while p.isRunning {
            if Date() > deadline {
                timedOut = true
                kill(-p.processIdentifier, SIGKILL)
                kill(p.processIdentifier, SIGKILL)
                break
            }
            usleep(5_000)
        }
        p.waitUntilExit()
        let so = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        let se = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        return CommandResult(status: p.terminationStatus, stdout: so, stderr: se, timedOut: timedOut)
    }

    /// Runs a command that must succeed; throws with its output otherwise.
    @discardableResult
    static func mustRun(_ command: [String], as user: TestUser? = nil, timeout: TimeInterval = 60) throws -> CommandResult {
        let r = try run(command, as: user, timeout: timeout)
        guard r.succeeded else {
            throw HarnessError("command failed: \(command.joined(separator: " "))\n\(r.summary)")
        }
        return r
    }
}

/// A supervised long-running child process.
final class ManagedProcess {
    let name: String
    let process: Process
    let logPath: String?
    private(set) var stopped = false
    private let lock = NSLock()

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// Starts `command` (as `user`), stdout and stderr appended to `logPath` unless `stdout` /
    /// `stdin` pipes are supplied.
    init(name: String, command: [String], as user: TestUser? = nil, environment extra: [String: String] = [:],
         logPath: String?, stdout: Pipe? = nil, stdin: Pipe? = nil, cwd: String? = nil) throws {
        self.name = name
        self.logPath = logPath
        let full = ProcessRunner.argv(command, as: user)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: full[0])
        p.arguments = Array(full.dropFirst())
        p.environment = ProcessRunner.environment(for: user, extra: extra)
        p.currentDirectoryURL = URL(fileURLWithPath: cwd ?? "/")
        var logHandle: FileHandle?
        if let logPath {
            if !FileManager.default.fileExists(atPath: logPath) {
                _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            }
            let h = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            h.seekToEndOfFile()
            logHandle = h
        }
        p.standardOutput = stdout ?? logHandle ?? FileHandle.nullDevice
        p.standardError = logHandle ?? FileHandle.nullDevice
        p.standardInput = stdin ?? FileHandle.nullDevice
        self.process = p
        do {
            try p.run()
        } catch {
            throw HarnessError("cannot start \(name) (\(full.joined(separator: " "))): \(error)")
        }
        try? logHandle?.close()
        ProcessRegistry.shared.add(self)
    }

    /// SIGTERM, wait up to `grace` seconds, then SIGKILL the whole process group. Idempotent.
    func stop(grace: TimeInterval = 3) {
        lock.lock()
        if stopped { lock.unlock(); return }
        stopped = true
        lock.unlock()
        defer { ProcessRegistry.shared.remove(self) }
        let pid = process.processIdentifier
        guard pid > 0 else { return }
        if process.isRunning {
            kill(pid, SIGTERM)
            let deadline = Date().addingTimeInterval(grace)
            while process.isRunning && Date() < deadline { usleep(10_000) }
        }
        // Anything left in the group (including the leader if it ignored SIGTERM) dies now.
        kill(-pid, SIGKILL)
        if process.isRunning {
            kill(pid, SIGKILL)
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning && Date() < deadline { usleep(10_000) }
        }
    }

    /// Exit status once the process has ended.
    var exitDescription: String {
        process.isRunning ? "running" : "exited with \(process.terminationStatus) (\(process.terminationReason == .uncaughtSignal ? "signal" : "exit"))"
    }

    func logTail(lines: Int = 40) -> String {
        guard let logPath, let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return "(no log)" }
        return text.suffixLines(lines)
    }
}

/// Every process the harness started and has not stopped yet, for emergency cleanup.
final class ProcessRegistry {
    static let shared = ProcessRegistry()
    private let lock = NSLock()
    private var processes: [ObjectIdentifier: ManagedProcess] = [:]

    func add(_ p: ManagedProcess) { lock.lock(); processes[ObjectIdentifier(p)] = p; lock.unlock() }
    func remove(_ p: ManagedProcess) { lock.lock(); processes[ObjectIdentifier(p)] = nil; lock.unlock() }

    /// Stops everything still running, most recently started first.
    func stopAll() {
        lock.lock()
        let all = Array(processes.values).sorted { $0.pid > $1.pid }
        lock.unlock()
        for p in all { p.stop(grace: 1) }
    }
}

/// Reads a pipe line by line on a background thread; lines are handed out with a timeout.
final class LineReader {
    private let condition = NSCondition()
    private var lines: [String] = []
    private var buffer = Data()
    private var eof = false
    private let fd: Int32
    private var thread: Thread?
    /// Every line ever read (for diagnostics), bounded.
    private var history: [String] = []

    init(pipe: Pipe) {
        fd = pipe.fileHandleForReading.fileDescriptor
        let t = Thread { [weak self] in self?.loop() }
        t.name = "LineReader"
        thread = t
        t.start()
    }

    private func loop() {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            condition.lock()
            if n <= 0 {
                if !buffer.isEmpty, let s = String(data: buffer, encoding: .utf8) { lines.append(s); history.append(s) }
                buffer.removeAll()
                eof = true
                condition.broadcast()
                condition.unlock()
                return
            }
            buffer.append(contentsOf: chunk[0..<n])
            while let nl = buffer.firstIndex(of: 0x0A) {
                let lineData = buffer[buffer.startIndex..<nl]
                buffer.removeSubrange(buffer.startIndex...nl)
                let s = String(decoding: lineData, as: UTF8.self)
                lines.append(s)
                history.append(s)
                if history.count > 5000 { history.removeFirst(history.count - 5000) }
            }
            condition.broadcast()
            condition.unlock()
        }
    }

    /// The next line, or nil at EOF / timeout.
    func nextLine(timeout: TimeInterval) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while lines.isEmpty && !eof {
            if !condition.wait(until: deadline) { break }
        }
        return lines.isEmpty ? nil : lines.removeFirst()
    }

    /// All lines read so far that nobody consumed, without waiting.
    func drain() -> [String] {
        condition.lock()
        defer { condition.unlock() }
        let out = lines
        lines.removeAll()
        return out
    }

    var atEOF: Bool { condition.lock(); defer { condition.unlock() }; return eof && lines.isEmpty }
    var allLines: [String] { condition.lock(); defer { condition.unlock() }; return history }
}

extension String {
    /// The last `n` lines.
    func suffixLines(_ n: Int) -> String {
        let parts = split(separator: "\n", omittingEmptySubsequences: false)
        return parts.suffix(n).joined(separator: "\n")
    }
}
