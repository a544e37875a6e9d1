import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The real polkitd on the private bus, with the project's actions installed.
///
/// `polkit/org.example.bits.policy` is copied to /usr/share/polkit-1/actions/ before polkitd
/// starts; whatever was there before is restored afterwards (or the copy removed).
final class TestPolkit {
    static let actionsDirectory = "/usr/share/polkit-1/actions"
    static let actionFileName = "org.example.bits.policy"
    static let polkitd = "/usr/lib/polkit-1/polkitd"

    let sourcePolicy: String
    let installedPolicy = "\(TestPolkit.actionsDirectory)/\(TestPolkit.actionFileName)"
    let logPath: String
    private(set) var actionsInstalled = false
    private var previousContent: Data?
    private var installedByUs = false
    private var process: ManagedProcess?

    init(repoRoot: String, directory: String) {
        sourcePolicy = "\(repoRoot)/polkit/\(TestPolkit.actionFileName)"
        logPath = "\(directory)/polkitd.log"
    }

    func installActions() throws {
        guard FileManager.default.fileExists(atPath: sourcePolicy) else { return }
        previousContent = FileManager.default.contents(atPath: installedPolicy)
        try? FileManager.default.createDirectory(atPath: Self.actionsDirectory, withIntermediateDirectories: true)
        guard let data = FileManager.default.contents(atPath: sourcePolicy) else {
            throw HarnessError("cannot read \(sourcePolicy)")
        }
        try data.write(to: URL(fileURLWithPath: installedPolicy))
        chmod(installedPolicy, 0o644)
        installedByUs = true
        actionsInstalled = true
    }

    /// A rules file that makes `bitstest-carol` an administrator for our actions (polkit
    /// reads /etc/polkit-1/rules.d, mode 0700 owned by polkitd; rules files must be 0644).
    static let rulesPath = "/etc/polkit-1/rules.d/49-bitsd-itest.rules"
    static let rules = """
        // Installed by the bitsd integration tests; removed when they end.
        polkit.addRule(function(action, subject) {
            if (action.id.indexOf("org.example.bits.") == 0 && subject.user == "bitstest-carol") {
                return polkit.Result.YES;
            }
        });

        """

    func installRules() throws {
        try? FileManager.default.createDirectory(atPath: "/etc/polkit-1/rules.d", withIntermediateDirectories: true)
        try Self.rules.write(toFile: Self.rulesPath, atomically: true, encoding: .utf8)
        chmod(Self.rulesPath, 0o644)
    }

    func removeRules() { try? FileManager.default.removeItem(atPath: Self.rulesPath) }

    /// Installs an extra rules file (`/etc/polkit-1/rules.d/<name>.rules`, read before the
    /// harness's own when its name sorts first) and waits until polkitd has read it; returns a
    /// function that removes it again.
    static func installExtraRules(name: String, _ rules: String) throws -> () -> Void {
        let path = "/etc/polkit-1/rules.d/\(name).rules"
        try rules.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o644)
        usleep(1_500_000)  // polkitd rereads its rules when the directory changes
        return {
            try? FileManager.default.removeItem(atPath: path)
            usleep(1_500_000)
        }
    }

    func start(bus: TestBus, root: BusClient) throws {
        try installRules()
        guard FileManager.default.isExecutableFile(atPath: Self.polkitd) else {
            throw HarnessError("\(Self.polkitd) not found (apt-get install polkitd)")
        }
        try installActions()
        process = try ManagedProcess(name: "polkitd", command: [Self.polkitd, "--no-debug"],
                                     environment: ["DBUS_SYSTEM_BUS_ADDRESS": bus.address],
                                     logPath: logPath)
        let ok = waitUntil(timeout: 15) {
            root.nameHasOwner("org.freedesktop.PolicyKit1") || !(self.process?.isRunning ?? false)
        }
        guard ok, process?.isRunning == true, root.nameHasOwner("org.freedesktop.PolicyKit1") else {
            let tail = process?.logTail() ?? ""
            stop()
            throw HarnessError("polkitd did not take org.freedesktop.PolicyKit1 within 15 s; log:\n\(tail)")
        }
    }

    var isRunning: Bool { process?.isRunning ?? false }
    func logTail(lines: Int = 30) -> String { process?.logTail(lines: lines) ?? "(not started)" }

    func stop() {
        process?.stop()
        process = nil
        restoreActions()
    }

    func restoreActions() {
        removeRules()
        guard installedByUs else { return }
        installedByUs = false
        if let previousContent {
            try? previousContent.write(to: URL(fileURLWithPath: installedPolicy))
        } else {
            try? FileManager.default.removeItem(atPath: installedPolicy)
        }
    }
}

/// Polls `condition` every `interval` seconds until it holds or `timeout` passes.
@discardableResult
func waitUntil(timeout: TimeInterval, interval: TimeInterval = 0.05, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if try condition() { return true }
        if Date() >= deadline { return false }
        usleep(useconds_t(interval * 1_000_000))
    }
}
