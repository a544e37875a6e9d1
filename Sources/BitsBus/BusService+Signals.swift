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
        emit(job, path: ObjectPaths.manager, interface: InterfaceDefinitions.objectManagerName, member: "InterfacesAdded",
             .tuple([.objectPath(ObjectPaths.job(job.id)), interfaceMap(InterfaceDefinitions.jobName, jobProperties(job))]))
    }

    public func jobChanged(_ job: Job, properties: Set<JobProperty>) {
        if properties.contains(.owner) { directory.set(job.id, owner: job.owner, files: job.files.count) }
        let changed = properties.map(\.rawValue).sorted().compactMap { name in
            PropertyEncoding.jobValue(name, job).map { (name, $0) }
        }
        guard !changed.isEmpty else { return }
        emit(job, path: ObjectPaths.job(job.id), interface: Self.propertiesInterface, member: "PropertiesChanged",
             .tuple([.string(InterfaceDefinitions.jobName), .vardict(changed), .strings([])]))
    }

    public func filesAdded(_ job: Job, indices: Range<Int>) {
        if !directory.hasFilesRegistration(job.id) {
            directory.setFilesRegistration(job.id, exportFiles(of: job.id))
        }
        directory.set(job.id, owner: job.owner, files: job.files.count)
        let destinations = callers.fileListeners(forOwner: job.owner)
        guard !destinations.isEmpty else { return }
        for index in indices {
            send(to: destinations, path: ObjectPaths.manager, interface: InterfaceDefinitions.objectManagerName, member: "InterfacesAdded",
                 .tuple([.objectPath(ObjectPaths.file(job.id, index)),
                         interfaceMap(InterfaceDefinitions.fileName, fileProperties(job.files[index]))]))
        }
    }

    public func fileChanged(_ job: Job, index: Int, properties: Set<FileProperty>) {
        guard job.files.indices.contains(index) else { return }
        let file = job.files[index]
        let destinations = callers.fileListeners(forOwner: job.owner)
        guard !destinations.isEmpty else { return }
        let changed = properties.map(\.rawValue).sorted().compactMap { name in
            PropertyEncoding.fileValue(name, file).map { (name, $0) }
        }
        send(to: destinations, path: ObjectPaths.file(job.id, index), interface: Self.propertiesInterface, member: "PropertiesChanged",
             .tuple([.string(InterfaceDefinitions.fileName), .vardict(changed), .strings([])]))
    }

    public func fileTransferred(_ job: Job, index: Int) {
        emit(job, path: ObjectPaths.job(job.id), interface: InterfaceDefinitions.jobName, member: "FileTransferred",
             .tuple([.objectPath(ObjectPaths.file(job.id, index))]))
    }

    public func jobTransferred(_ job: Job) {
        emit(job, path: ObjectPaths.job(job.id), interface: InterfaceDefinitions.jobName, member: "Transferred", .tuple([]))
    }

    public func jobFailed(_ job: Job, error: JobError) {
        emit(job, path: ObjectPaths.job(job.id), interface: InterfaceDefinitions.jobName, member: "Error",
             .tuple([.string(error.context.rawValue), .string(error.code.rawValue), .string(error.description)]))
    }

    public func jobRemoved(_ job: Job) {
        let fileDestinations = callers.fileListeners(forOwner: job.owner)
        for index in job.files.indices.reversed() where !fileDestinations.isEmpty {
            send(to: fileDestinations, path: ObjectPaths.manager, interface: InterfaceDefinitions.objectManagerName, member: "InterfacesRemoved",
                 .tuple([.objectPath(ObjectPaths.file(job.id, index)), .strings([InterfaceDefinitions.fileName])]))
        }
        emit(job, path: ObjectPaths.manager, interface: InterfaceDefinitions.objectManagerName, member: "InterfacesRemoved",
             .tuple([.objectPath(ObjectPaths.job(job.id)), .strings([InterfaceDefinitions.jobName])]))
        if let registration = directory.remove(job.id) { unexportFiles(registration) }
    }
}
