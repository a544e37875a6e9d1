import BitsDBus
import BitsCore
import BitsService
import Logging

/// The D-Bus face of the service: owns the connection and the loop thread, exports the
/// manager object and the job/file subtree, hands each call to the harness of its object
/// (`ManagerHarness`, `JobHarness`, `FileHarness`: decoding, polkit needs, the call into
/// `QueueManager`), and publishes the queue's changes as properties and unicast signals.
public final class BusService: @unchecked Sendable {
    let loop = MainLoopThread()
    let manager: QueueManager
    let definitions: InterfaceDefinitions
    let directory = ObjectDirectory()
    let logger: Logger
    let version: String
    /// The one user a per-user instance (`bitsd --session`) serves; nil for the system
    /// service, which serves every user. A per-user instance has no administrators: polkit is
    /// never asked, and callers of any other uid are refused.
    let servedUser: UInt32?
    var bus: BusConnection!
    var callers: CallerRegistry!
    var polkit: PolkitAuthority!
    private let dispatcher = CallDispatcher()
    /// What the exported manager and job/file subtrees answer GDBus (kept for good).
    private var exportHandlers: ExportHandlers!

    public init(manager: QueueManager, interfaceDirectory: String?, version: String, logger: Logger,
                servedUser: UInt32? = nil) throws {
        self.manager = manager
        self.version = version
        self.servedUser = servedUser
        self.logger = logger
        let directory = InterfaceDefinitions.overrideDirectory(explicit: interfaceDirectory)
        definitions = try InterfaceDefinitions(directory: directory)
        if let directory { logger.info("interface definitions loaded from \(directory)") }
    }

    /// Connects, exports the objects, starts serving calls, and takes the name last (so no
    /// call arrives before everything is in place).
    public func start(address: BusAddress, name: String = BitsContract.serviceName) throws {
        try connect(address: address)
        try serve(name: name)
    }

    /// Connects to the bus and exports the objects, without owning the service name yet (the
    /// queue is restored in between, so no call sees a half-restored queue).
    public func connect(address: BusAddress) throws {
        loop.start()
        let result: Result<Void, Error> = loop.perform { [self] in
            Result { try self.setUpOnLoopThread(address: address) }
        }
        try result.get()
        let manager = self.manager
        let resolver = ProxyResolver(loop: loop)
        Task { await manager.setProxyResolver { await resolver.proxy(for: $0) } }
    }

    /// The service's network monitor (GIO's, or the test hook's state file) and power monitor
    /// (UPower on the system bus; a per-user instance on the session bus connects to the
    /// system bus for it alone, and without one counts as on mains power), for
    /// `QueueManager.watch`. Call after `connect`.
    public func monitors(networkStateFile: String? = nil) -> (network: any NetworkMonitoring, power: (any PowerMonitoring)?) {
        let network = NetworkMonitor(stateFile: networkStateFile, loop: loop)
        let powerBus: BusConnection? = servedUser == nil ? bus : loop.perform { [self, loop] in
            do { return try BusConnection(.system, loop: loop) } catch {
                logger.warning("no system bus for UPower (\(error)); taken as on mains power")
                return nil
            }
        }
        let power: (any PowerMonitoring)? = powerBus.map { PowerMonitor(bus: $0, loop: loop, logger: logger) }
        return (network, power)
    }

    /// Takes the service name: from now on calls arrive.
    public func serve(name: String = BitsContract.serviceName) throws {
        try bus.requestName(name)
        logger.info("serving \(name) as \(bus.uniqueName)")
    }

    private func setUpOnLoopThread(address: BusAddress) throws {
        bus = try BusConnection(address, loop: loop)
        callers = CallerRegistry(bus: bus)
        polkit = PolkitAuthority(bus: bus)
        let handlers = ExportHandlers(call: { [self] in received($0) },
                                      nodes: { [self] in visibleNodes(sender: $0, root: $1) },
                                      interfaces: { [self] in interfaces(sender: $0, base: $1, node: $2) })
        exportHandlers = handlers
        do {
            try bus.exportObject(at: ObjectPaths.manager, interfaces: [definitions.manager, definitions.objectManager],
                                 handlers: handlers)
        } catch let error as BusSetupError {
            throw BusSetupError(description: "cannot export the manager: \(error.description)")
        }
        do {
            _ = try bus.exportSubtree(at: ObjectPaths.jobsRoot, handlers: handlers)
        } catch let error as BusSetupError {
            throw BusSetupError(description: "cannot export the jobs: \(error.description)")
        }
        // `Introspect` on job and file paths is answered by the daemon with the caller's
        // identity in mind (taken over on GDBus's worker thread); everything else passes.
        bus.interceptCalls(interface: StandardInterface.introspectable, member: "Introspect",
                           pathPrefix: ObjectPaths.jobsRoot + "/") { [self] in received($0) }
        // Forget callers whose connection closed.
        bus.subscribe(sender: "org.freedesktop.DBus", interface: "org.freedesktop.DBus", member: "NameOwnerChanged",
                      path: "/org/freedesktop/DBus", arg0: nil) { [self] signal in
            let args = signal.arguments
            if args.count == 3, let name = args[0].stringValue, args[2].stringValue == "", name.hasPrefix(":") {
                callers.forget(name)
            }
        }
    }

    public func stop() { loop.stop() }

    /// Exports the `files` subtree of a new job (GDBus subtrees are one level deep). Runs on
    /// the loop thread so that the subtree's callbacks are dispatched there.
    func exportFiles(of id: JobID) -> UInt32 {
        loop.perform { [self] in
            do {
                return try bus.exportSubtree(at: ObjectPaths.job(id) + "/files", handlers: exportHandlers)
            } catch {
                logger.error("cannot export files of \(id): \(error)")
                return 0
            }
        }
    }

    func unexportFiles(_ registration: UInt32) {
        guard registration != 0 else { return }
        loop.async { [self] in bus.unexportSubtree(registration) }
    }

    /// Called on the loop thread for every method call (on GDBus's worker thread for the
    /// `Introspect` calls taken over): served after the same caller's
    /// previous calls, concurrently with other callers' (see `CallDispatcher`).
    func received(_ call: MethodCall) {
        dispatcher.submit(sender: call.invocation.sender) { [self] in await self.handle(call) }
    }

    // MARK: - Synchronous subtree queries (loop thread)

    /// Child nodes of a subtree root (the jobs root, or a job's `files`) the sender may see.
    func visibleNodes(sender: String, root: String) -> [String] {
        guard let uid = callers.uidBlocking(of: sender), serves(uid) else { return [] }
        if root == ObjectPaths.jobsRoot {
            return directory.jobs(visibleTo: uid, administrator: isAdministratorByUID(uid)).map(\.hex)
        }
        guard case .job(let id)? = ObjectPaths.parse(String(root.dropLast("/files".count))),
              let entry = directory.entry(id), entry.owner == uid || isAdministratorByUID(uid) else { return [] }
        return (0..<entry.files).map(String.init)
    }

    /// GDBus passes either the subtree root or the full path as `base`, depending on version.
    func interfaces(sender: String, base: String, node: String?) -> [InterfaceInfo] {
        guard let node else { return [] }
        let path = base.hasSuffix("/" + node) ? base : base + "/" + node
        // Every well-formed path offers its interface so that each call reaches the
        // handlers, which answer NotFound for what the caller may not see. (Introspect itself
        // is taken over by the call filter of `setUpOnLoopThread`, identically for hidden and missing jobs.)
        switch ObjectPaths.parse(path) {
        case .job?: return [definitions.job]
        case .file?: return [definitions.file]
        case nil: return []
        }
    }
}
