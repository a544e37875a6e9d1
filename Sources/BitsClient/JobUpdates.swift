import BitsCore
import BitsDBus

/// What happened to a job, from the service's signals.
public enum JobUpdate: Sendable, Equatable {
    /// The job's properties after a change. The first update is the state at subscription;
    /// progress arrives at most once per `MinimumNotificationInterval`.
    case properties(JobProperties)
    /// One file finished (`FileTransferred`).
    case fileTransferred(path: String)
    /// Every file finished (`Transferred`); `Complete` delivers them.
    case transferred
    /// The job stopped with an error (`Error`); `transient-error` jobs retry by themselves.
    case error(context: String, code: String, description: String)
    /// The job left the service (acknowledged or cancelled). The sequence ends after it.
    case removed
}

extension BitsJob {
    /// The job's updates as they happen, fed by its signals (no polling). Starts with the
    /// current properties, re-reads them when the service restarts, and ends after the job
    /// is acknowledged, cancelled or removed, or throws when it is not visible to the caller.
    public func updates() -> AsyncThrowingStream<JobUpdate, Error> {
        AsyncThrowingStream(bufferingPolicy: .unbounded) { continuation in
            let watcher = JobWatcher(job: self, continuation: continuation)
            continuation.onTermination = { _ in watcher.stop() }
            watcher.start()
        }
    }
}

/// Subscribes to one job's signals and turns them into `JobUpdate`s. Everything runs on the
/// client's loop thread, in bus order: signals that arrive before the `GetAll` reply are
/// older than it and dropped; later ones are merged into the snapshot.
final class JobWatcher: @unchecked Sendable {
    private let job: BitsJob
    private let continuation: AsyncThrowingStream<JobUpdate, Error>.Continuation
    private let subscriptions = SubscriptionGroup()
    /// The latest properties; nil until a `GetAll` reply (signals before it are dropped).
    private var current: JobProperties?
    private var finished = false

    init(job: BitsJob, continuation: AsyncThrowingStream<JobUpdate, Error>.Continuation) {
        self.job = job
        self.continuation = continuation
    }

    func start() {
        let connection = job.client.connection
        let path = job.path
        let list = [
            connection.subscribe(sender: BitsClient.serviceName, interface: BitsClient.propertiesInterface,
                                 member: StandardInterface.propertiesChanged, path: path) { [weak self] signal in
                guard signal.arguments.first?.stringValue == BitsClient.jobInterface else { return }
                self?.changed(propertyDictionary(signal.arguments.dropFirst().first))
            },
            connection.subscribe(sender: BitsClient.serviceName, interface: BitsClient.jobInterface,
                                 member: nil, path: path) { [weak self] signal in self?.jobSignal(signal) },
            connection.subscribe(sender: BitsClient.serviceName, interface: BitsClient.objectManagerInterface,
                                 member: StandardInterface.interfacesRemoved, path: BitsClient.managerPath) { [weak self] signal in
                if signal.arguments.first?.stringValue == path { self?.finish(with: .removed) }
            },
            // The service restarted (or was started by activation): read everything again,
            // which also makes this connection a caller that receives the signals.
            connection.subscribeToNewOwner(of: BitsClient.serviceName) { [weak self] in self?.refresh() },
        ]
        subscriptions.hold(list)
        connection.onLoop { [self] in refresh() }
    }

    func stop() { subscriptions.cancelAll() }

    private func refresh() {
        current = nil
        job.client.connection.call(destination: BitsClient.serviceName, path: job.path,
                                   interface: BitsClient.propertiesInterface, method: "GetAll",
                                   arguments: [.string(BitsClient.jobInterface)]) { [weak self] result in
            guard let self, !finished else { return }
            switch result {
            case .success(let reply):
                var properties = JobProperties(path: job.path)
                properties.apply(propertyDictionary(reply.first))
                current = properties
                deliver(properties)
            case .failure(let error):
                if (error as? BitsClientError)?.code == .serviceUnavailable { return } // wait for a new owner
                finished = true
                continuation.finish(throwing: error)
                stop()
            }
        }
    }

    private func changed(_ changes: [String: Variant]) {
        guard !finished, var properties = current else { return }
        properties.apply(changes)
        current = properties
        deliver(properties)
    }

    private func deliver(_ properties: JobProperties) {
        continuation.yield(.properties(properties))
        if properties.isFinal { finish(with: nil) }
    }

    private func jobSignal(_ signal: ReceivedSignal) {
        guard !finished, current != nil else { return }
        let strings = signal.arguments.map { $0.stringValue ?? "" }
        switch JobSignal(rawValue: signal.member) {
        case .transferred?: continuation.yield(.transferred)
        case .fileTransferred?: continuation.yield(.fileTransferred(path: strings.first ?? "/"))
        case .error? where strings.count >= 3:
            continuation.yield(.error(context: strings[0], code: strings[1], description: strings[2]))
        case .error?, nil: break
        }
    }

    private func finish(with update: JobUpdate?) {
        guard !finished else { return }
        finished = true
        if let update { continuation.yield(update) }
        continuation.finish()
        stop()
    }
}
