import BitsCore
import BitsDBus
import BitsSystem

/// A change in the set of visible jobs, from the service's signals.
public enum ServiceEvent: Sendable, Equatable {
    /// Every visible job at subscription, and again after the service restarted.
    case snapshot([JobSnapshot])
    /// A job appeared (`InterfacesAdded`) or changed (`PropertiesChanged`): its properties now.
    case jobChanged(JobProperties)
    /// A job left the service (`InterfacesRemoved`).
    case jobRemoved(path: String)
}

extension BitsClient {
    /// Every visible job's changes as they happen (no polling): the caller's own jobs, or
    /// every user's for an administrator with `allUsers` (the service sends an administrator
    /// other users' signals once it has listed all users' jobs).
    public func events(allUsers: Bool = false, interactive: Bool = false) -> AsyncThrowingStream<ServiceEvent, Error> {
        AsyncThrowingStream(bufferingPolicy: .unbounded) { continuation in
            let watcher = ServiceWatcher(client: self, allUsers: allUsers, interactive: interactive,
                                         continuation: continuation)
            continuation.onTermination = { _ in watcher.stop() }
            watcher.start()
        }
    }
}

/// Keeps the properties of every visible job from `GetManagedObjects` plus signals, on the
/// client's loop thread (see `JobWatcher` for the ordering rule).
final class ServiceWatcher: @unchecked Sendable {
    private let client: BitsClient
    private let allUsers: Bool
    private let interactive: Bool
    private let continuation: AsyncThrowingStream<ServiceEvent, Error>.Continuation
    private let subscriptions = SubscriptionGroup()
    /// Known jobs; nil until the first snapshot arrives.
    private var jobs: [String: JobProperties]?
    private var generation = 0

    init(client: BitsClient, allUsers: Bool, interactive: Bool,
         continuation: AsyncThrowingStream<ServiceEvent, Error>.Continuation) {
        self.client = client
        self.allUsers = allUsers
        self.interactive = interactive
        self.continuation = continuation
    }

    func start() {
        let connection = client.connection
        let list = [
            connection.subscribe(sender: BitsClient.serviceName, interface: BitsClient.propertiesInterface,
                                 member: StandardInterface.propertiesChanged, path: nil) { [weak self] signal in
                guard signal.arguments.first?.stringValue == BitsClient.jobInterface else { return }
                self?.changed(path: signal.path, propertyDictionary(signal.arguments.dropFirst().first))
            },
            connection.subscribe(sender: BitsClient.serviceName, interface: BitsClient.objectManagerInterface,
                                 member: nil, path: BitsClient.managerPath) { [weak self] signal in
                self?.objectManagerSignal(signal)
            },
            // The service restarted: list again (registers this connection for the signals).
            connection.subscribeToNewOwner(of: BitsClient.serviceName) { [weak self] in self?.refresh() },
        ]
        subscriptions.hold(list)
        connection.onLoop { [self] in refresh() }
    }

    func stop() { subscriptions.cancelAll() }

    /// ListJobs(allUsers) (which registers an administrator for every user's signals), then
    /// GetManagedObjects; signals are dropped until its reply.
    private func refresh() {
        jobs = nil
        generation += 1
        let generation = self.generation
        let connection = client.connection
        connection.call(destination: BitsClient.serviceName, path: BitsClient.managerPath,
                        interface: BitsClient.managerInterface, method: ManagerMethod.listJobs.name, arguments: [.bool(allUsers)],
                        interactive: interactive) { [weak self] result in
            guard let self, generation == self.generation else { return }
            if case .failure(let error) = result { return fail(error) }
            connection.call(destination: BitsClient.serviceName, path: BitsClient.managerPath,
                            interface: BitsClient.objectManagerInterface, method: StandardInterface.getManagedObjects) { [weak self] result in
                guard let self, generation == self.generation else { return }
                switch result {
                case .failure(let error): fail(error)
                case .success(let reply):
                    let snapshot = BitsClient.snapshot(fromManagedObjects: reply.first, allUsers: allUsers)
                    jobs = Dictionary(snapshot.map { ($0.job.path, $0.job) }, uniquingKeysWith: { $1 })
                    continuation.yield(.snapshot(snapshot))
                }
            }
        }
    }

    private func fail(_ error: Error) {
        if (error as? BitsClientError)?.code == .serviceUnavailable { return } // wait for a new owner
        continuation.finish(throwing: error)
        stop()
    }

    private func changed(path: String, _ changes: [String: Variant]) {
        guard var known = jobs, var job = known[path] else { return }
        job.apply(changes)
        known[path] = job
        jobs = known
        continuation.yield(.jobChanged(job))
    }

    private func objectManagerSignal(_ signal: ReceivedSignal) {
        guard jobs != nil, let path = signal.arguments.first?.stringValue else { return }
        switch signal.member {
        case StandardInterface.interfacesAdded:
            guard case .dictionary(_, _, let byInterface)? = signal.arguments.dropFirst().first,
                  let entry = byInterface.first(where: { $0.0.stringValue == BitsClient.jobInterface }) else { return }
            let job = JobProperties(path: path, properties: propertyDictionary(entry.1))
            guard allUsers || job.owner == SystemPaths.realUID else { return }
            jobs?[path] = job
            continuation.yield(.jobChanged(job))
        case StandardInterface.interfacesRemoved:
            let interfaces = signal.arguments.dropFirst().first?.items.compactMap(\.stringValue) ?? []
            guard interfaces.contains(BitsClient.jobInterface), jobs?.removeValue(forKey: path) != nil else { return }
            continuation.yield(.jobRemoved(path: path))
        default: break
        }
    }
}
