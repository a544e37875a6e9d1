import BitsDBus
import BitsCore
import BitsService

/// Publishing the queue manager's changes: PropertiesChanged, the Job signals and the
/// ObjectManager signals, each sent only to the owner's connections (unicast). Signals of file
/// objects go only to those connections that called `GetManagedObjects` (ObjectManager
/// clients); the job's own signals — its PropertiesChanged (progress included), `Transferred`,
/// `Error`, `FileTransferred` and its InterfacesAdded/Removed — to all of them.
extension BusService: QueueObserver {
    private func emit(_ job: Job, path: String, interface: String, member: String, _ arguments: Variant) {
        send(to: callers.listeners(forOwner: job.owner), path: path, interface: interface, member: member, arguments)
    }

    private func send(to destinations: Set<String>, path: String, interface: String, member: String, _ arguments: Variant) {
        for destination in destinations {
            bus.emitSignal(destination: destination, path: path, interface: interface, member: member, arguments: arguments)
        }
    }

    public func jobRestored(_ job: Job) {
        directory.set(job.id, owner: job.owner, files: job.files.count)
        if !job.files.isEmpty, !directory.hasFilesRegistration(job.id) {
            directory.setFilesRegistration(job.id, exportFiles(of: job.id))
        }
    }

    public func jobAdded(_ job: Job) {
        directory.set(job.id, owner: job.owner, files: job.files.count)
        emit(job, path: ObjectPaths.manager, interface: StandardInterface.objectManager, member: StandardInterface.interfacesAdded,
             .tuple([.objectPath(ObjectPaths.job(job.id)), interfaceMap(BitsInterface.job.rawValue, jobProperties(job))]))
    }

    public func jobChanged(_ job: Job, properties: Set<JobProperty>) {
        if properties.contains(.owner) { directory.set(job.id, owner: job.owner, files: job.files.count) }
        let changed = PropertyEncoding.jobProperties(job, properties.sorted { $0.name < $1.name })
        guard !changed.isEmpty else { return }
        emit(job, path: ObjectPaths.job(job.id), interface: Self.propertiesInterface, member: StandardInterface.propertiesChanged,
             .tuple([.string(BitsInterface.job.rawValue), .vardict(changed), .strings([])]))
    }

    public func filesAdded(_ job: Job, indices: Range<Int>) {
        if !directory.hasFilesRegistration(job.id) {
            directory.setFilesRegistration(job.id, exportFiles(of: job.id))
        }
        directory.set(job.id, owner: job.owner, files: job.files.count)
        let destinations = callers.fileListeners(forOwner: job.owner)
        guard !destinations.isEmpty else { return }
        for index in indices {
            send(to: destinations, path: ObjectPaths.manager, interface: StandardInterface.objectManager, member: StandardInterface.interfacesAdded,
                 .tuple([.objectPath(ObjectPaths.file(job.id, index)),
                         interfaceMap(BitsInterface.file.rawValue, fileProperties(job.files[index]))]))
        }
    }

    public func fileChanged(_ job: Job, index: Int, properties: Set<FileProperty>) {
        guard job.files.indices.contains(index) else { return }
        let file = job.files[index]
        let destinations = callers.fileListeners(forOwner: job.owner)
        guard !destinations.isEmpty else { return }
        let changed = PropertyEncoding.fileProperties(file, properties.sorted { $0.name < $1.name })
        send(to: destinations, path: ObjectPaths.file(job.id, index), interface: Self.propertiesInterface, member: StandardInterface.propertiesChanged,
             .tuple([.string(BitsInterface.file.rawValue), .vardict(changed), .strings([])]))
    }

    public func fileTransferred(_ job: Job, index: Int) {
        emit(job, path: ObjectPaths.job(job.id), interface: BitsInterface.job.rawValue, member: JobSignal.fileTransferred.name,
             .tuple([.objectPath(ObjectPaths.file(job.id, index))]))
    }

    public func jobTransferred(_ job: Job) {
        emit(job, path: ObjectPaths.job(job.id), interface: BitsInterface.job.rawValue, member: JobSignal.transferred.name, .tuple([]))
    }

    public func jobFailed(_ job: Job, error: JobError) {
        emit(job, path: ObjectPaths.job(job.id), interface: BitsInterface.job.rawValue, member: JobSignal.error.name,
             .tuple([.string(error.context.rawValue), .string(error.code.rawValue), .string(error.description)]))
    }

    public func jobRemoved(_ job: Job) {
        let fileDestinations = callers.fileListeners(forOwner: job.owner)
        for index in job.files.indices.reversed() where !fileDestinations.isEmpty {
            send(to: fileDestinations, path: ObjectPaths.manager, interface: StandardInterface.objectManager, member: StandardInterface.interfacesRemoved,
                 .tuple([.objectPath(ObjectPaths.file(job.id, index)), .strings([BitsInterface.file.rawValue])]))
        }
        emit(job, path: ObjectPaths.manager, interface: StandardInterface.objectManager, member: StandardInterface.interfacesRemoved,
             .tuple([.objectPath(ObjectPaths.job(job.id)), .strings([BitsInterface.job.rawValue])]))
        if let registration = directory.remove(job.id) { unexportFiles(registration) }
    }
}
