import Foundation
import XCTest

/// Running the built `bitsctl` in tests: as a user, with the test bus as the system bus,
/// captured or in a pseudo-terminal.
extension BitsTestCase {
    func bitsctlBinary() throws -> String {
        let (found, searched) = BitsDaemon.locateBinary("bitsctl")
        guard let found else { throw HarnessError("bitsctl not built; looked at \(searched)") }
        return found
    }

    /// Runs bitsctl as `user` (alice by default), output captured (no terminal).
    func bitsctl(_ args: [String], as user: TestUser? = nil, stdin: String? = nil,
                 timeout: TimeInterval = 60) throws -> CommandResult {
        try ProcessRunner.run([try bitsctlBinary()] + args, as: user ?? alice,
                              environment: ["DBUS_SYSTEM_BUS_ADDRESS": env.address], stdin: stdin, timeout: timeout,
                              cwd: (user ?? alice).home)
    }

    /// Runs a read command with --json and parses its output.
    func json(_ args: [String], as user: TestUser? = nil) throws -> JSONValue {
        let r = try bitsctl(args, as: user)
        guard r.status == 0 else { throw HarnessError("bitsctl \(args) failed: \(r.summary)") }
        return try JSONValue.parse(r.stdout)
    }

    /// Runs bitsctl as alice in a pseudo-terminal (`Tests/Support/pty_run.py`); stdout is
    /// what the terminal showed. `interruptAfter` types Ctrl-C once that regex appears.
    func inTerminal(_ args: [String], interruptAfter: String? = nil) throws -> CommandResult {
        var command = ["/usr/bin/python3", "\(TestEnvironment.repoRoot)/Tests/Support/pty_run.py", "--timeout", "50"]
        if let interruptAfter { command += ["--interrupt-after", interruptAfter] }
        return try ProcessRunner.run(command + ["--", try bitsctlBinary()] + args, as: alice,
                                     environment: ["DBUS_SYSTEM_BUS_ADDRESS": env.address], timeout: 60, cwd: alice.home)
    }
}
