import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

// How to run (as root; non-root runs skip with a message):
//     swift build --scratch-path .build-itest --build-tests
//     swift test  --scratch-path .build-itest --filter BitsIntegrationTests
// bitsd is taken from $BITSD_BINARY (only that, when set), else the bitsd beside the test bundle,
// else <repo>/.build/debug/bitsd. BITSD_ITEST_KEEP_TEMP=1 keeps /tmp/bitsd-itest-* (logs of
// dbus-daemon, polkitd, faultserver, clients and each class's bitsd) for inspection.
// Do not use `swift test --parallel`: every process would create the same two test users.

/// Base class of the integration tests: per test class one `bitsd` (own state directory) on the
/// shared environment; per user one persistent client connection. Jobs created through the
/// helpers are cancelled (as root) after each test. Failures carry the tail of the daemon log.
class BitsTestCase: XCTestCase {
    /// Subclasses that do not need the daemon override this.
    class var needsDaemon: Bool { true }
    /// INI contents for `--config`, or nil.
    class var daemonConfig: String? { nil }
    /// Extra environment variables for this class's bitsd.
    class var daemonEnvironment: [String: String] { [:] }

    final class ClassContext {
        var env: TestEnvironment?
        var daemon: BitsDaemon?
        var error: Error?
        var clients: [String: BusClient] = [:]
    }

    private static var contexts: [String: ClassContext] = [:]
    private static var contextKey: String { String(reflecting: self) }

    override class func setUp() {
        super.setUp()
        let ctx = ClassContext()
        contexts[contextKey] = ctx
        guard TestEnvironment.isRoot else { return }
        do {
            let env = try TestEnvironment.shared()
            ctx.env = env
            if needsDaemon {
                let name = String(describing: self)
                let daemon = try BitsDaemon(env: env, name: name, config: daemonConfig, environment: daemonEnvironment)
                try daemon.start()
                ctx.daemon = daemon
            }
        } catch {
            ctx.error = error
        }
    }

    override class func tearDown() {
        if let ctx = contexts[contextKey] {
            for c in ctx.clients.values { c.close() }
            ctx.clients.removeAll()
            ctx.daemon?.stop()
            ctx.daemon = nil
        }
        contexts[contextKey] = nil
        super.tearDown()
    }

    private var context: ClassContext { Self.contexts[Self.contextKey] ?? ClassContext() }

    var env: TestEnvironment { context.env! }
    var daemon: BitsDaemon { context.daemon! }
    /// The daemon when it was started and is still running.
    var runningDaemon: BitsDaemon? { context.daemon.flatMap { $0.isRunning ? $0 : nil } }
    var alice: TestUser { env.alice }
    var bob: TestUser { env.bob }
    var http: TestHTTPServer { env.http }

    /// Jobs to cancel after the test.
    private var createdJobs: [String] = []
    private var cleanups: [() -> Void] = []
    private var logAttached = false

    override func setUpWithError() throws {
        try super.setUpWithError()
        try TestEnvironment.requireRoot()
        if let error = context.error { throw error }
        guard context.env != nil else { throw HarnessError("test environment did not start") }
        if Self.needsDaemon {
            guard let d = context.daemon else { throw HarnessError("bitsd was not started for \(Self.self)") }
            guard d.isRunning else {
                throw HarnessError("bitsd is no longer running (\(d.exitDescription)) — an earlier test crashed it?\n--- bitsd log tail ---\n\(d.logTail())")
            }
        }
        logAttached = false
    }

    override func tearDown() {
        for c in cleanups.reversed() { c() }
        cleanups.removeAll()
        if context.daemon?.isRunning == true, let root = context.clients["root"] ?? (try? client(nil)) {
            for job in createdJobs.reversed() {
                root.call(path: job, interface: BitsNames.job, method: "Cancel", timeout: 10)
            }
        }
        createdJobs.removeAll()
        super.tearDown()
    }

    /// Runs `block` at tearDown (before jobs are cancelled).
    func addCleanup(_ block: @escaping () -> Void) { cleanups.append(block) }

    /// Restarts this class's daemon so that its fsync of any finished file whose path contains
    /// `text` fails with EIO (the hidden `--fail-fsync-of` option). Restarting without it is up
    /// to the test; a test that fails half-way has it restarted without it at tearDown.
    func restartDaemonWithFailingFsync(forPathsContaining text: String) throws {
        daemon.extraArguments = ["--fail-fsync-of", text]
        try daemon.restart()
        addCleanup { [daemon] in
            guard !daemon.extraArguments.isEmpty else { return }
            daemon.extraArguments = []
            try? daemon.restart()
        }
    }

    /// Appends the daemon's log tail to the first failure of each test.
    override func recordFailure(withDescription description: String, inFile filePath: String, atLine lineNumber: Int, expected: Bool) {
        var text = description
        if !logAttached, let d = context.daemon {
            logAttached = true
            text += "\n--- bitsd (\(d.exitDescription)) log tail ---\n\(d.logTail(lines: 30))\n--- end of log ---"
        }
        super.recordFailure(withDescription: text, inFile: filePath, atLine: lineNumber, expected: expected)
    }

    // MARK: clients

    /// The persistent connection of `user` (nil = root), created on first use for this class.
    func client(_ user: TestUser?) throws -> BusClient {
        let key = user?.name ?? "root"
        if let c = context.clients[key], c.isRunning { return c }
        let c = try env.makeClient(user, tag: "-\(Self.self)")
        context.clients[key] = c
        return c
    }

    /// A signal listener stopped at tearDown.
    func listener(_ user: TestUser?, eavesdrop: Bool = false, objectManager: Bool = false) throws -> SignalListener {
        let l = try env.makeListener(user, eavesdrop: eavesdrop, objectManager: objectManager)
        addCleanup { l.stop() }
        return l
    }

    // MARK: generic calls

    @discardableResult
    func call(as user: TestUser?, _ path: String, _ interface: String, _ method: String,
              _ signature: String = "", _ args: [Any] = []) throws -> DBusResult {
        try client(user).call(path: path, interface: interface, method: method, signature: signature, args: args)
    }

    /// A call that must succeed; returns its reply values.
    @discardableResult
    func mustCall(as user: TestUser?, _ path: String, _ interface: String, _ method: String,
                  _ signature: String = "", _ args: [Any] = [],
                  file: StaticString = #filePath, line: UInt = #line) throws -> [JSONValue] {
        let r = try call(as: user, path, interface, method, signature, args)
        guard let v = r.values else {
            XCTFail("\(interface).\(method) on \(path) as \(user?.name ?? "root") failed: \(r)", file: file, line: line)
            throw HarnessError("\(interface).\(method) failed: \(r)")
        }
        return v
    }

    // MARK: manager

    /// CreateJob; the job is cancelled after the test.
    func createJob(as user: TestUser?, name: String = "itest job", type: String = "download",
                   file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let v = try mustCall(as: user, BitsNames.managerPath, BitsNames.manager, "CreateJob", "ss", [name, type],
                             file: file, line: line)
        guard let path = v.first?.string, path.hasPrefix("/org/example/Bits/jobs/") else {
            XCTFail("CreateJob returned \(v)", file: file, line: line)
            throw HarnessError("CreateJob returned \(v)")
        }
        createdJobs.append(path)
        return path
    }

    func trackJob(_ path: String) { createdJobs.append(path) }

    func listJobs(as user: TestUser?, allUsers: Bool = false) throws -> DBusResult {
        try call(as: user, BitsNames.managerPath, BitsNames.manager, "ListJobs", "b", [allUsers])
    }

    // MARK: jobs

    func addFile(as user: TestUser?, job: String, url: String, local: String,
                 file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let v = try mustCall(as: user, job, BitsNames.job, "AddFile", "ss", [url, local], file: file, line: line)
        guard let p = v.first?.string else { throw HarnessError("AddFile returned \(v)") }
        return p
    }

    func resume(as user: TestUser?, job: String, file: StaticString = #filePath, line: UInt = #line) throws {
        try mustCall(as: user, job, BitsNames.job, "Resume", file: file, line: line)
    }

    func suspend(as user: TestUser?, job: String, file: StaticString = #filePath, line: UInt = #line) throws {
        try mustCall(as: user, job, BitsNames.job, "Suspend", file: file, line: line)
    }

    func cancel(as user: TestUser?, job: String, file: StaticString = #filePath, line: UInt = #line) throws {
        try mustCall(as: user, job, BitsNames.job, "Cancel", file: file, line: line)
    }

    func complete(as user: TestUser?, job: String, file: StaticString = #filePath, line: UInt = #line) throws {
        try mustCall(as: user, job, BitsNames.job, "Complete", file: file, line: line)
    }

    // MARK: properties

    func getProperty(as user: TestUser?, _ path: String, _ interface: String, _ name: String) throws -> DBusResult {
        try client(user).getProperty(path, interface, name)
    }

    /// A property that must be readable.
    func property(as user: TestUser?, _ job: String, _ name: String,
                  file: StaticString = #filePath, line: UInt = #line) throws -> JSONValue {
        try property(as: user, job, BitsNames.job, name, file: file, line: line)
    }

    func property(as user: TestUser?, _ path: String, _ interface: String, _ name: String,
                  file: StaticString = #filePath, line: UInt = #line) throws -> JSONValue {
        let r = try getProperty(as: user, path, interface, name)
        guard let v = r.first else {
            XCTFail("cannot read \(interface).\(name) of \(path) as \(user?.name ?? "root"): \(r)", file: file, line: line)
            throw HarnessError("cannot read \(name): \(r)")
        }
        return v
    }

    func setProperty(as user: TestUser?, _ job: String, _ name: String, type: String, value: Any) throws -> DBusResult {
        try setProperty(as: user, job, BitsNames.job, name, type: type, value: value)
    }

    func setProperty(as user: TestUser?, _ path: String, _ interface: String, _ name: String,
                     type: String, value: Any) throws -> DBusResult {
        try client(user).setProperty(path, interface, name, type: type, value: value)
    }

    func mustSetProperty(as user: TestUser?, _ path: String, _ name: String,
                         type: String, value: Any, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try setProperty(as: user, path, BitsNames.job, name, type: type, value: value)
        if r.isError {
            XCTFail("setting \(name)=\(value) on \(path) failed: \(r)", file: file, line: line)
            throw HarnessError("Set \(name) failed: \(r)")
        }
    }

    func jobState(as user: TestUser?, _ job: String) throws -> String {
        try property(as: user, job, BitsNames.job, "State").string ?? "?"
    }

    /// Polls `State` every 50 ms until it is one of `states`. Fails early when the job enters a
    /// state in `failOn` (by default the final/error states other than the target). Returns the
    /// sequence of distinct states seen.
    @discardableResult
    func waitForState(as user: TestUser?, job: String, _ states: Set<String>, timeout: TimeInterval = 30,
                      failOn: Set<String>? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        let fatal = (failOn ?? ["error", "cancelled", "acknowledged"]).subtracting(states)
        var seen: [String] = []
        let c = try client(user)
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let r = c.getProperty(job, BitsNames.job, "State")
            guard let s = r.first?.string else {
                let msg = "reading State of \(job) failed while waiting for \(states.sorted()): \(r); states seen \(seen)"
                XCTFail(msg, file: file, line: line)
                throw HarnessError(msg)
            }
            if seen.last != s { seen.append(s) }
            if states.contains(s) { return seen }
            if fatal.contains(s) || Date() >= deadline {
                let why = fatal.contains(s) ? "entered \(s)" : "timed out after \(Int(timeout)) s"
                let msg = "job \(job) \(why) while waiting for \(states.sorted()); states seen \(seen); \(try jobDiagnostics(job))"
                XCTFail(msg, file: file, line: line)
                throw HarnessError(msg)
            }
            usleep(50_000)
        }
    }

    @discardableResult
    func waitForState(as user: TestUser?, job: String, state: String, timeout: TimeInterval = 30,
                      file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        try waitForState(as: user, job: job, [state], timeout: timeout, file: file, line: line)
    }

    /// Error and progress properties read as root, for failure messages.
    func jobDiagnostics(_ job: String) throws -> String {
        let r = try client(nil).getAll(job, BitsNames.job)
        guard let o = r.first?.object else { return "GetAll as root: \(r)" }
        let keys = ["State", "ErrorCode", "ErrorContext", "ErrorDescription", "ErrorCount", "BytesTransferred",
                    "BytesTotal", "FilesTransferred", "FilesTotal"]
        return keys.map { "\($0)=\(o[$0]?.description ?? "-")" }.joined(separator: " ")
    }

    /// Polls a numeric job property until `condition` holds.
    @discardableResult
    func waitForProperty(as user: TestUser?, _ path: String, _ name: String, interface: String = BitsNames.job,
                         timeout: TimeInterval = 15, file: StaticString = #filePath, line: UInt = #line,
                         _ condition: (JSONValue) -> Bool) throws -> JSONValue {
        var last: JSONValue = .null
        let ok = try waitUntil(timeout: timeout) {
            let r = try getProperty(as: user, path, interface, name)
            last = r.first ?? .null
            return r.first.map(condition) ?? false
        }
        if !ok {
            let msg = "\(name) of \(path) never met the condition in \(Int(timeout)) s; last \(last); \(try jobDiagnostics(path))"
            XCTFail(msg, file: file, line: line)
            throw HarnessError(msg)
        }
        return last
    }

    // MARK: assertions

    /// Asserts `result` is an error named one of `names` whose message mentions each of `mentioning`
    /// (case-insensitive; an empty list only requires a non-empty message).
    func assertError(_ result: DBusResult, _ names: [String], mentioning: [String] = [],
                     mentioningAny: [String] = [],
                     _ what: String = "", file: StaticString = #filePath, line: UInt = #line) {
        guard case .error(let name, let message) = result else {
            XCTFail("\(what): expected \(names.joined(separator: " or ")), got \(result)", file: file, line: line)
            return
        }
        XCTAssertTrue(names.contains(name), "\(what): expected \(names.joined(separator: " or ")), got \(name): \(message)",
                      file: file, line: line)
        XCTAssertFalse(message.trimmingCharacters(in: .whitespaces).isEmpty, "\(what): error \(name) has no message",
                       file: file, line: line)
        for token in mentioning {
            XCTAssertTrue(message.lowercased().contains(token.lowercased()),
                          "\(what): message of \(name) should name \"\(token)\": \"\(message)\"", file: file, line: line)
        }
        if !mentioningAny.isEmpty {
            XCTAssertTrue(mentioningAny.contains { message.lowercased().contains($0.lowercased()) },
                          "\(what): message of \(name) should name one of \(mentioningAny): \"\(message)\"",
                          file: file, line: line)
        }
    }

    /// Error names meaning "this object is not there (any more)".
    static let goneErrors = [BitsNames.notFound, BitsNames.unknownObject, BitsNames.unknownMethod,
                             "org.freedesktop.DBus.Error.UnknownInterface"]

    func assertDaemonAlive(file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertTrue(daemon.isRunning, "bitsd died: \(daemon.exitDescription)", file: file, line: line)
        XCTAssertTrue(try client(nil).nameHasOwner(BitsNames.service), "org.example.Bits lost its owner", file: file, line: line)
    }

    // MARK: misc

    /// `/org/example/Bits/jobs/<hex>` -> `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
    func guid(of jobPath: String) -> String {
        let hex = Array(jobPath.split(separator: "/").last.map(String.init) ?? "")
        guard hex.count == 32 else { return String(hex) }
        let parts = [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(hex[$0]) }
        return parts.joined(separator: "-")
    }

    func hex(of jobPath: String) -> String { String(jobPath.split(separator: "/").last ?? "") }

    /// A fresh download directory of `user`.
    func downloadDirectory(_ user: TestUser, _ name: String = "dl") throws -> String {
        try TestFiles.makeUserDirectory(user, "\(name)-\(UUID().uuidString.prefix(8))")
    }

    /// The `Range` start offsets (bytes=N-) of logged requests for `tag`.
    func rangeStarts(tag: String) throws -> [Int?] {
        try http.requests(tag: tag).filter { $0["method"]?.string == "GET" }.map { req in
            guard let r = req["range"]?.string, r.hasPrefix("bytes=") else { return nil }
            return Int(r.dropFirst(6).split(separator: "-").first ?? "")
        }
    }
}
