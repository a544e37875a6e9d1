import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A private dbus-daemon with system-bus semantics: `<type>system</type>`, EXTERNAL auth, the
/// default deny policy of /usr/share/dbus-1/system.conf, polkit's policy and the project's own
/// `dbus/org.example.Bits.conf` included — so the real policy file decides who may own and call
/// `org.example.Bits`. The socket lives in a 0755 directory so test users and polkitd reach it.
final class TestBus {
    let directory: String
    let configPath: String
    let socketPath: String
    let logPath: String
    let projectPolicyPath: String
    let projectPolicyPresent: Bool
    private(set) var address = ""
    private var process: ManagedProcess?

    static let polkitBusPolicy = "/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf"

    init(directory: String, repoRoot: String) throws {
        self.directory = directory
        configPath = "\(directory)/bus.conf"
        socketPath = "\(directory)/system_bus_socket"
        logPath = "\(directory)/dbus-daemon.log"
        projectPolicyPath = "\(repoRoot)/dbus/org.example.Bits.conf"
        projectPolicyPresent = FileManager.default.fileExists(atPath: projectPolicyPath)

        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        chmod(directory, 0o755)

        let templatePath = "\(repoRoot)/Tests/Support/busconfig.xml.in"
        guard let template = try? String(contentsOfFile: templatePath, encoding: .utf8) else {
            throw HarnessError("missing bus config template \(templatePath)")
        }
        // Run as messagebus like the real system bus when that account exists.
        let userElement = TestUsers.lookup("messagebus") != nil ? "<user>messagebus</user>" : ""
        let config = template
            .replacingOccurrences(of: "@SOCKET_PATH@", with: socketPath)
            .replacingOccurrences(of: "@USER_ELEMENT@", with: userElement)
            .replacingOccurrences(of: "@POLKIT_CONF@", with: Self.polkitBusPolicy)
            .replacingOccurrences(of: "@BITS_CONF@", with: projectPolicyPath)
            .replacingOccurrences(of: "@BITS_CONF_MISSING@", with: projectPolicyPresent ? "no" : "yes")
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        chmod(configPath, 0o644)
    }

    func start() throws {
        let out = Pipe()
        let p = try ManagedProcess(name: "dbus-daemon",
                                   command: ["/usr/bin/dbus-daemon", "--config-file=\(configPath)", "--nofork",
                                             "--nopidfile", "--print-address=1"],
                                   logPath: logPath, stdout: out)
        process = p
        let reader = LineReader(pipe: out)
        guard let line = reader.nextLine(timeout: 10), line.hasPrefix("unix:") else {
            p.stop()
            throw HarnessError("dbus-daemon did not print its address; log:\n\(p.logTail())\nconfig: \(configPath)")
        }
        address = line.trimmingCharacters(in: .whitespacesAndNewlines)
        // Other users must be able to connect.
        let deadline = Date().addingTimeInterval(5)
        while !FileManager.default.fileExists(atPath: socketPath) && Date() < deadline { usleep(10_000) }
        chmod(socketPath, 0o777)
    }

    var isRunning: Bool { process?.isRunning ?? false }
    func logTail(lines: Int = 30) -> String { process?.logTail(lines: lines) ?? "(not started)" }

    func stop() {
        process?.stop()
        process = nil
    }
}
