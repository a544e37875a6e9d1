import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Everything the integration tests share in one test process: a temp tree, the private system
/// bus, polkitd, the two test users, the fault HTTP server with known files, and a root client.
///
/// Started lazily by the first test class that needs it, stopped when the test bundle finishes
/// (XCTestObservation), at process exit (atexit) or on SIGINT/SIGTERM — whichever comes first.
final class TestEnvironment {
    /// `<repo>`: this file is `<repo>/Tests/BitsIntegrationTests/Harness/TestEnvironment.swift`.
    static let repoRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()

    static var isRoot: Bool { geteuid() == 0 }

    /// Throws XCTSkip naming what is needed when not root.
    static func requireRoot() throws {
        if !isRoot {
            throw XCTSkip("bitsd integration tests need root: they create the users bitstest-alice/bitstest-bob "
                          + "(useradd/userdel), install polkit/org.example.bits.policy into /usr/share/polkit-1/actions, "
                          + "and run dbus-daemon, polkitd and bitsd (as root) on a private system bus")
        }
    }

    // MARK: shared instance

    private static let lock = NSRecursiveLock()
    private static var instance: TestEnvironment?
    private static var startFailure: Error?
    private static var cleanupInstalled = false

    /// The shared environment, started on first use. A start failure is remembered and rethrown.
    static func shared() throws -> TestEnvironment {
        lock.lock()
        defer { lock.unlock() }
        if let instance { return instance }
        if let startFailure { throw startFailure }
        try requireRoot()
        installCleanupHooks()
        do {
            let env = try TestEnvironment()
            instance = env
            return env
        } catch {
            startFailure = error
            throw error
        }
    }

    /// Stops and removes everything. Safe to call more than once and from atexit.
    /// The lock is held for the whole teardown, so a second caller (atexit after a signal, say)
    /// waits until the first one has finished instead of letting the process exit half-way.
    static func tearDownShared() {
        lock.lock()
        defer { lock.unlock() }
        let env = instance
        instance = nil
        env?.tearDown()
        ProcessRegistry.shared.stopAll()
    }

    private static func installCleanupHooks() {
        guard !cleanupInstalled else { return }
        cleanupInstalled = true
        signal(SIGPIPE, SIG_IGN)
        XCTestObservationCenter.shared.addTestObserver(BundleObserver())
        atexit { TestEnvironment.tearDownShared() }
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                TestEnvironment.tearDownShared()
                _exit(128 + sig)
            }
            source.resume()
            signalSources.append(source)
        }
    }

    private static var signalSources: [DispatchSourceSignal] = []

    private final class BundleObserver: NSObject, XCTestObservation {
        func testBundleDidFinish(_ testBundle: Bundle) { TestEnvironment.tearDownShared() }
    }

    // MARK: instance

    let directory: String
    let supportDirectory: String
    let listenScript: String
    let faultScript: String
    let bus: TestBus
    let polkit: TestPolkit
    let users: TestUsers
    let http: TestHTTPServer
    /// A root connection (not via setpriv) used for bus queries and cleanup.
    private(set) var root: BusClient!

    /// Standard files served by the HTTP server: name -> (size, sha256).
    private(set) var files: [String: (size: Int, sha256: String)] = [:]

    var alice: TestUser { users.alice }
    var bob: TestUser { users.bob }
    var carol: TestUser { users.carol }
    var address: String { bus.address }

    private var tornDown = false

    private init() throws {
        try Self.checkTools()
        var template = Array("/tmp/bitsd-itest-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw HarnessError("mkdtemp failed: errno \(errno)")
        }
        directory = String(cString: made)
        chmod(directory, 0o755)
        supportDirectory = "\(directory)/support"
        listenScript = "\(supportDirectory)/bits_listen.py"
        faultScript = "\(supportDirectory)/faultserver.py"

        bus = try TestBus(directory: "\(directory)/bus", repoRoot: Self.repoRoot)
        polkit = TestPolkit(repoRoot: Self.repoRoot, directory: directory)
        users = try TestUsers(homeRoot: "\(directory)/home")
        http = try TestHTTPServer(root: "\(directory)/www", logPath: "\(directory)/faultserver.log")
        do {
            try start()
        } catch {
            tearDown()
            throw error
        }
    }

    private static func checkTools() throws {
        let needed = ["/usr/bin/dbus-daemon", "/usr/lib/polkit-1/polkitd", "/usr/bin/python3", "/usr/bin/setpriv",
                      "/usr/sbin/useradd", "/usr/sbin/userdel", "/usr/bin/sha256sum"]
        let missing = needed.filter { !FileManager.default.isExecutableFile(atPath: $0) }
        if !missing.isEmpty {
            throw HarnessError("integration tests need: \(missing.joined(separator: ", ")) "
                               + "(apt-get install dbus-daemon polkitd python3-dbus python3-gi util-linux passwd coreutils)")
        }
        let r = try ProcessRunner.run(["/usr/bin/python3", "-c", "import dbus, dbus.mainloop.glib; from gi.repository import GLib"])
        if !r.succeeded {
            throw HarnessError("/usr/bin/python3 needs python3-dbus and python3-gi: \(r.stderr)")
        }
    }

    private func start() throws {
        // Support scripts, readable by the test users wherever the repo lives.
        try FileManager.default.createDirectory(atPath: supportDirectory, withIntermediateDirectories: true)
        chmod(supportDirectory, 0o755)
        for name in ["bits_listen.py", "faultserver.py", "serverlife.py", "bitsuploadserver.py",
                     "upower_standin.py"] {
            let src = "\(Self.repoRoot)/Tests/Support/\(name)"
            guard let data = FileManager.default.contents(atPath: src) else {
                throw HarnessError("missing support script \(src)")
            }
            try data.write(to: URL(fileURLWithPath: "\(supportDirectory)/\(name)"))
            chmod("\(supportDirectory)/\(name)", 0o755)
        }

        // Known test files.
        for (name, size, seed) in [("big.bin", 1_572_864, UInt64(1)), ("medium.bin", 1_048_576, UInt64(2)),
                                   ("small.bin", 65_536, UInt64(3))] {
            let sha = try TestFiles.create(at: "\(http.root)/\(name)", size: size, seed: seed)
            files[name] = (size, sha)
        }

        try bus.start()
        root = try BusClient(user: nil, address: bus.address, script: listenScript,
                             logPath: "\(directory)/client-root.log")
        try polkit.start(bus: bus, root: root)
        try http.start(script: faultScript, directory: directory)
    }

    /// A client connection for `user` (nil = root). Caller closes it.
    func makeClient(_ user: TestUser?, tag: String = "") throws -> BusClient {
        try BusClient(user: user, address: address, script: listenScript,
                      logPath: "\(directory)/client-\(user?.name ?? "root")\(tag).log")
    }

    func makeListener(_ user: TestUser?, eavesdrop: Bool = false, callService: Bool = true,
                      objectManager: Bool = false) throws -> SignalListener {
        try SignalListener(user: user, address: address, script: listenScript,
                           logPath: "\(directory)/listener-\(user?.name ?? "root")\(eavesdrop ? "-eavesdrop" : "")\(objectManager ? "-om" : "").log",
                           eavesdrop: eavesdrop, callService: callService, objectManager: objectManager)
    }

    /// A one-line summary of the shared pieces, for failure messages.
    var statusSummary: String {
        "bus \(bus.isRunning ? "up" : "DOWN") at \(address); polkitd \(polkit.isRunning ? "up" : "DOWN"); "
            + "http \(http.isRunning ? "up" : "DOWN") at \(http.baseURL); temp \(directory)"
    }

    private func tearDown() {
        guard !tornDown else { return }
        tornDown = true
        root?.close()
        ProcessRegistry.shared.stopAll() // listeners, clients, daemons still running
        http.stop()
        polkit.stop()
        bus.stop()
        users.remove()
        polkit.restoreActions()
        if ProcessInfo.processInfo.environment["BITSD_ITEST_KEEP_TEMP"] == nil {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}
