import BitsDBus
import BitsCore
import BitsService
import CGLib
import Foundation
import Logging

/// A method call as received from the bus, decoded into Swift values.
struct IncomingCall: Sendable {
    let invocation: Invocation
    let path: String
    let interface: String
    let method: String
    let arguments: [Variant]
}

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
    var bus: BusConnection!
    var callers: CallerRegistry!
    var polkit: PolkitAuthority!
    private let dispatcher = CallDispatcher()
    private var networkMonitor: NetworkMonitor?

    /// The vtable shared by every exported interface: all calls, property access included,
    /// go to `methodCallThunk` (NULL property handlers make GDBus forward Properties calls).
    static let interfaceVTable: UnsafeMutablePointer<GDBusInterfaceVTable> = {
        let vtable = UnsafeMutablePointer<GDBusInterfaceVTable>.allocate(capacity: 1)
        vtable.initialize(to: GDBusInterfaceVTable())
        vtable.pointee.method_call = methodCallThunk
        return vtable
    }()

    static let subtreeVTable: UnsafeMutablePointer<GDBusSubtreeVTable> = {
        let vtable = UnsafeMutablePointer<GDBusSubtreeVTable>.allocate(capacity: 1)
        vtable.initialize(to: GDBusSubtreeVTable())
        vtable.pointee.enumerate = subtreeEnumerateThunk
        vtable.pointee.introspect = subtreeIntrospectThunk
        vtable.pointee.dispatch = subtreeDispatchThunk
        return vtable
    }()

    public init(manager: QueueManager, interfaceDirectory: String?, version: String, logger: Logger) throws {
        self.manager = manager
        self.version = version
        self.logger = logger
        let directory = InterfaceDefinitions.overrideDirectory(explicit: interfaceDirectory)
        definitions = try InterfaceDefinitions(directory: directory)
        if let directory { logger.info("interface definitions loaded from \(directory)") }
    }

    /// Connects, exports the objects, starts serving calls, and takes the name last (so no
    /// call arrives before everything is in place).
    public func start(address: BusAddress, name: String = BitsContract.serviceName, networkStateFile: String? = nil) throws {
        try connect(address: address, networkStateFile: networkStateFile)
        try serve(name: name)
    }

    /// Connects to the bus and exports the objects, without owning the service name yet (the
    /// queue is restored in between, so no call sees a half-restored queue).
    public func connect(address: BusAddress, networkStateFile: String? = nil) throws {
        loop.start()
        let result: Result<Void, Error> = loop.perform { [self] in
            Result { try self.setUpOnLoopThread(address: address) }
        }
        try result.get()
        let manager = self.manager
        let monitor = NetworkMonitor(stateFile: networkStateFile) { status in
            Task { await manager.networkChanged(status) }
        }
        networkMonitor = monitor
        let resolver = ProxyResolver(loop: loop)
        Task { await manager.setProxyResolver { await resolver.proxy(for: $0) } }
        try loop.perform { Result { try monitor.start() } }.get()
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
        let me = Unmanaged.passUnretained(self).toOpaque()
        var error: UnsafeMutablePointer<GError>?
        for info in [definitions.manager, definitions.objectManager] {
            if g_dbus_connection_register_object(bus.connection, ObjectPaths.manager, info,
                                                 BusService.interfaceVTable, me, nil, &error) == 0 {
                throw BusSetupError(description: "cannot export the manager: \(GDBus.takeMessage(error))")
            }
        }
        let flags = G_DBUS_SUBTREE_FLAGS_DISPATCH_TO_UNENUMERATED_NODES
        if g_dbus_connection_register_subtree(bus.connection, ObjectPaths.jobsRoot, BusService.subtreeVTable,
                                              flags, me, nil, &error) == 0 {
            throw BusSetupError(description: "cannot export the jobs: \(GDBus.takeMessage(error))")
        }
        g_dbus_connection_add_filter(bus.connection, introspectionFilterThunk, me, nil)
        // Forget callers whose connection closed.
        g_dbus_connection_signal_subscribe(bus.connection, "org.freedesktop.DBus", "org.freedesktop.DBus",
                                           "NameOwnerChanged", "/org/freedesktop/DBus", nil,
                                           G_DBUS_SIGNAL_FLAGS_NONE, { _, _, _, _, _, parameters, userData in
            let service = Unmanaged<BusService>.fromOpaque(userData!).takeUnretainedValue()
            let args = parameters.map { Variant(gvariant: $0).items } ?? []
            if args.count == 3, let name = args[0].stringValue, args[2].stringValue == "", name.hasPrefix(":") {
                service.callers.forget(name)
            }
        }, me, nil)
    }

    public func stop() { loop.stop() }

    /// Exports the `files` subtree of a new job (GDBus subtrees are one level deep). Runs on
    /// the loop thread so that the subtree's callbacks are dispatched there.
    func exportFiles(of id: JobID) -> UInt32 {
        loop.perform { [self] in
            var error: UnsafeMutablePointer<GError>?
            let registration = g_dbus_connection_register_subtree(
                bus.connection, ObjectPaths.job(id) + "/files", BusService.subtreeVTable,
                G_DBUS_SUBTREE_FLAGS_DISPATCH_TO_UNENUMERATED_NODES,
                Unmanaged.passUnretained(self).toOpaque(), nil, &error)
            if registration == 0 { logger.error("cannot export files of \(id): \(GDBus.takeMessage(error))") }
            return registration
        }
    }

    func unexportFiles(_ registration: UInt32) {
        guard registration != 0 else { return }
        loop.async { [self] in _ = g_dbus_connection_unregister_subtree(bus.connection, registration) }
    }

    /// Called on the loop thread for every method call: served after the same caller's
    /// previous calls, concurrently with other callers' (see `CallDispatcher`).
    func received(_ call: IncomingCall) {
        dispatcher.submit(sender: call.invocation.sender) { [self] in await self.handle(call) }
    }

    // MARK: - Synchronous subtree queries (loop thread)

    /// Child nodes of a subtree root (the jobs root, or a job's `files`) the sender may see.
    func visibleNodes(sender: String, root: String) -> [String] {
        guard let uid = callers.uidBlocking(of: sender) else { return [] }
        if root == ObjectPaths.jobsRoot {
            return directory.jobs(visibleTo: uid, administrator: uid == 0).map(\.hex)
        }
        guard case .job(let id)? = ObjectPaths.parse(String(root.dropLast("/files".count))),
              let entry = directory.entry(id), entry.owner == uid || uid == 0 else { return [] }
        return (0..<entry.files).map(String.init)
    }

    /// GDBus passes either the subtree root or the full path as `base`, depending on version.
    func interfaces(sender: String, base: String, node: String?) -> [UnsafeMutablePointer<GDBusInterfaceInfo>] {
        guard let node else { return [] }
        let path = base.hasSuffix("/" + node) ? base : base + "/" + node
        // Every well-formed path offers its interface so that each call reaches the
        // handlers, which answer NotFound for what the caller may not see. (Introspect itself
        // is answered by `IntrospectionFilter`, identically for hidden and missing jobs.)
        switch ObjectPaths.parse(path) {
        case .job?: return [definitions.job]
        case .file?: return [definitions.file]
        case nil: return []
        }
    }
}
