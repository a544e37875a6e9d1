import BitsCore
import BitsDBus
import BitsSystem

/// The limits in force (`MaxJobsPerUser`, …).
public struct ServiceLimits: Sendable, Equatable {
    public var maxJobsPerUser: UInt32
    public var maxJobsPerMachine: UInt32
    public var maxFilesPerJob: UInt32
    public var maxRangesPerFile: UInt32
}

/// A connection to the bitsd service (`org.example.Bits`): the Manager's methods and the
/// entry point to job and file handles. Each client has its own bus connection; the
/// service starts on the first call if it is D-Bus activatable.
///
/// ```swift
/// let bits = try BitsClient()
/// let job = try await bits.createJob(displayName: "iso")
/// try await job.addFile(remote: "https://example.org/a.iso", local: "/home/me/a.iso")
/// try await job.resume()
/// for try await update in job.updates() { … }
/// ```
public final class BitsClient: Sendable {
    public static let serviceName = BitsContract.serviceName
    public static let managerPath = BitsContract.managerPath
    static let managerInterface = BitsInterface.manager.rawValue
    static let jobInterface = BitsInterface.job.rawValue
    static let fileInterface = BitsInterface.file.rawValue
    static let propertiesInterface = StandardInterface.properties
    static let objectManagerInterface = StandardInterface.objectManager

    let connection: ClientConnection

    /// Connects to `bus` (the system bus by default).
    public init(bus: BusAddress = .system) throws {
        connection = try ClientConnection(bus: bus)
    }

    // MARK: - Manager

    /// `CreateJob`: a new suspended job owned by the caller.
    public func createJob(displayName: String, type: JobType = .download) async throws -> BitsJob {
        let reply = try await call(Self.managerPath, ManagerMethod.createJob,
                                   [.string(displayName), .string(type.rawValue)])
        return job(path: reply.first?.stringValue ?? "/")
    }

    /// `GetJob`: the job with this GUID (braces and upper case accepted).
    public func job(id: String) async throws -> BitsJob {
        let reply = try await call(Self.managerPath, ManagerMethod.getJob, [.string(id)])
        return job(path: reply.first?.stringValue ?? "/")
    }

    /// A handle for a job object path (no call is made).
    public func job(path: String) -> BitsJob { BitsJob(client: self, path: path) }

    /// A handle for a file object path (no call is made).
    public func file(path: String) -> BitsFile { BitsFile(client: self, path: path) }

    /// `ListJobs`: the caller's non-final jobs, or every user's (`allUsers`, administrators;
    /// `interactive` lets polkit ask for a password).
    public func listJobs(allUsers: Bool = false, interactive: Bool = false) async throws -> [BitsJob] {
        let reply = try await call(Self.managerPath, ManagerMethod.listJobs, [.bool(allUsers)],
                                   interactive: interactive)
        return (reply.first?.items ?? []).compactMap(\.stringValue).map(job(path:))
    }

    /// The caller's jobs with all their properties and files in one call
    /// (`ObjectManager.GetManagedObjects`), in creation order; every user's with `allUsers`
    /// (the service shows an administrator every job; without `allUsers` they are filtered
    /// to the caller's uid, like `ListJobs(false)`).
    public func snapshot(allUsers: Bool = false) async throws -> [JobSnapshot] {
        let reply = try await call(Self.managerPath, Self.objectManagerInterface, StandardInterface.getManagedObjects, [])
        return Self.snapshot(fromManagedObjects: reply.first, allUsers: allUsers)
    }

    /// Jobs and their files from a `GetManagedObjects` reply (`a{oa{sa{sv}}}`), in creation order.
    static func snapshot(fromManagedObjects value: Variant?, allUsers: Bool) -> [JobSnapshot] {
        guard case .dictionary(_, _, let objects)? = value else { return [] }
        var jobs: [String: JobProperties] = [:]
        var files: [String: FileProperties] = [:]
        for (pathValue, interfaces) in objects {
            guard let path = pathValue.stringValue, case .dictionary(_, _, let byInterface) = interfaces else { continue }
            for (name, properties) in byInterface {
                switch name.stringValue {
                case Self.jobInterface: jobs[path] = JobProperties(path: path, properties: propertyDictionary(properties))
                case Self.fileInterface: files[path] = FileProperties(path: path, properties: propertyDictionary(properties))
                default: break
                }
            }
        }
        let uid = SystemPaths.realUID
        return jobs.values
            .filter { allUsers || $0.owner == uid }
            .sorted { ($0.creationTime, $0.path) < ($1.creationTime, $1.path) }
            .map { job in JobSnapshot(job: job, files: job.files.compactMap { files[$0] }) }
    }

    /// The service's `Version`.
    public func version() async throws -> String {
        try await managerProperty(ManagerProperty.version.name).stringValue ?? ""
    }

    /// The limits in force.
    public func limits() async throws -> ServiceLimits {
        let all = try await getAll(Self.managerPath, Self.managerInterface)
        return ServiceLimits(maxJobsPerUser: all[ManagerProperty.maxJobsPerUser.name]?.uint32Value ?? 0,
                             maxJobsPerMachine: all[ManagerProperty.maxJobsPerMachine.name]?.uint32Value ?? 0,
                             maxFilesPerJob: all[ManagerProperty.maxFilesPerJob.name]?.uint32Value ?? 0,
                             maxRangesPerFile: all[ManagerProperty.maxRangesPerFile.name]?.uint32Value ?? 0)
    }

    /// A Manager property by name.
    public func managerProperty(_ name: String) async throws -> Variant {
        try await getProperty(Self.managerPath, Self.managerInterface, name)
    }

    // MARK: - Plumbing shared by the handles

    func call(_ path: String, _ interface: String, _ method: String, _ arguments: [Variant],
              interactive: Bool = false) async throws -> [Variant] {
        try await connection.call(destination: Self.serviceName, path: path, interface: interface, method: method,
                                  arguments: arguments, interactive: interactive)
    }

    /// A method of the contract, on the object at `path`.
    func call<M: ContractMethod>(_ path: String, _ method: M, _ arguments: [Variant] = [],
                                 interactive: Bool = false) async throws -> [Variant] {
        try await call(path, M.interface.rawValue, method.name, arguments, interactive: interactive)
    }

    func getAll(_ path: String, _ interface: String) async throws -> [String: Variant] {
        propertyDictionary(try await call(path, Self.propertiesInterface, "GetAll", [.string(interface)]).first)
    }

    func getProperty(_ path: String, _ interface: String, _ name: String) async throws -> Variant {
        let reply = try await call(path, Self.propertiesInterface, "Get", [.string(interface), .string(name)])
        return reply.first?.unboxed ?? .tuple([])
    }

    func setProperty(_ path: String, _ interface: String, _ name: String, _ value: Variant) async throws {
        _ = try await call(path, Self.propertiesInterface, "Set", [.string(interface), .string(name), .variant(value)])
    }
}

/// A job with its files, as returned by `BitsClient.snapshot()`.
public struct JobSnapshot: Sendable, Equatable {
    public var job: JobProperties
    public var files: [FileProperties]
}
