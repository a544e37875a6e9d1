import BitsCore
import BitsDBus

/// A handle for one job object (`/org/example/Bits/jobs/<hex>`): its methods, properties and
/// updates. Handles are cheap values; nothing is cached.
public struct BitsJob: Sendable, Hashable {
    public let client: BitsClient
    /// The job's object path.
    public let path: String

    public static func == (lhs: BitsJob, rhs: BitsJob) -> Bool { lhs.path == rhs.path && lhs.client === rhs.client }
    public func hash(into hasher: inout Hasher) { hasher.combine(path) }

    /// The job's GUID from its path (`xxxxxxxx-xxxx-…`), without a call.
    public var id: String {
        let hex = Array(path.split(separator: "/").last ?? "")
        guard hex.count == 32 else { return String(hex) }
        let groups = [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(hex[$0]) }
        return groups.joined(separator: "-")
    }

    // MARK: - Methods

    /// `AddFile`: download remote → local (absolute) path; upload local file → URL.
    @discardableResult
    public func addFile(remote: String, local: String) async throws -> BitsFile {
        let reply = try await call(.addFile, [.string(remote), .string(local)])
        return client.file(path: reply.first?.stringValue ?? "/")
    }

    /// `AddFiles`: all or none.
    @discardableResult
    public func addFiles(_ pairs: [(remote: String, local: String)]) async throws -> [BitsFile] {
        let list = Variant.array(elementType: "(ss)", pairs.map { .tuple([.string($0.remote), .string($0.local)]) })
        let reply = try await call(.addFiles, [list])
        return (reply.first?.items ?? []).compactMap(\.stringValue).map(client.file(path:))
    }

    /// `AddFilesWithHashes`: all or none; each file's `ExpectedHash` (`""` for none,
    /// `sha256:<64 hex>` or `sha512:<128 hex>`).
    @discardableResult
    public func addFiles(_ triples: [(remote: String, local: String, expectedHash: String)]) async throws -> [BitsFile] {
        let list = Variant.array(elementType: "(sss)", triples.map {
            .tuple([.string($0.remote), .string($0.local), .string($0.expectedHash)])
        })
        let reply = try await call(.addFilesWithHashes, [list])
        return (reply.first?.items ?? []).compactMap(\.stringValue).map(client.file(path:))
    }

    /// `AddFileWithRanges`: (offset, length) pairs, length `UInt64.max` = to the end.
    @discardableResult
    public func addFile(remote: String, local: String, ranges: [(offset: UInt64, length: UInt64)]) async throws -> BitsFile {
        let list = Variant.array(elementType: "(tt)", ranges.map { .tuple([.uint64($0.offset), .uint64($0.length)]) })
        let reply = try await call(.addFileWithRanges, [.string(remote), .string(local), list])
        return client.file(path: reply.first?.stringValue ?? "/")
    }

    public func resume() async throws { _ = try await call(.resume) }
    public func suspend() async throws { _ = try await call(.suspend) }
    public func cancel() async throws { _ = try await call(.cancel) }
    public func complete() async throws { _ = try await call(.complete) }
    public func takeOwnership() async throws { _ = try await call(.takeOwnership) }

    /// `ReplaceRemotePrefix`: how many files changed.
    public func replaceRemotePrefix(_ old: String, with new: String) async throws -> UInt32 {
        try await call(.replaceRemotePrefix, [.string(old), .string(new)]).first?.uint32Value ?? 0
    }

    /// Who the credentials are for.
    public enum CredentialTarget: String, Sendable, CaseIterable { case server, proxy }
    /// How the credentials are sent.
    public enum AuthScheme: String, Sendable, CaseIterable { case basic, digest, ntlm, negotiate }

    public func setCredentials(target: CredentialTarget, scheme: AuthScheme, userName: String, password: String) async throws {
        _ = try await call(.setCredentials, [.string(target.rawValue), .string(scheme.rawValue),
                                              .string(userName), .string(password)])
    }

    public func removeCredentials(target: CredentialTarget, scheme: AuthScheme) async throws {
        _ = try await call(.removeCredentials, [.string(target.rawValue), .string(scheme.rawValue)])
    }

    /// PEM files the owner can read.
    public func setClientCertificate(certificateFile: String, privateKeyFile: String) async throws {
        _ = try await call(.setClientCertificate, [.string(certificateFile), .string(privateKeyFile)])
    }

    public func removeClientCertificate() async throws { _ = try await call(.removeClientCertificate) }

    /// `GetReplyData` of an upload-reply job (≤ 1 MiB).
    public func replyData() async throws -> [UInt8] {
        let reply = try await call(.getReplyData)
        return (reply.first?.items ?? []).map { if case .byte(let b) = $0 { b } else { 0 } }
    }

    // MARK: - Properties

    /// All properties (`GetAll`).
    public func properties() async throws -> JobProperties {
        JobProperties(path: path, properties: try await client.getAll(path, BitsClient.jobInterface))
    }

    /// One property by its D-Bus name (`State`, `BytesTotal`, …).
    public func property(_ name: String) async throws -> Variant {
        try await client.getProperty(path, BitsClient.jobInterface, name)
    }

    public func state() async throws -> JobState {
        let value = try await property(JobProperty.state.name).stringValue ?? ""
        guard let state = JobState(rawValue: value) else {
            throw BitsClientError(code: .failed, name: "", message: "The service answered an unknown state \"\(value)\".")
        }
        return state
    }

    /// Changes a writable property.
    public func set(_ setting: Setting) async throws {
        try await client.setProperty(path, BitsClient.jobInterface, setting.name, setting.value)
    }

    /// The job's files, in the order they were added.
    public func files() async throws -> [BitsFile] {
        try await property(JobProperty.files.name).items.compactMap(\.stringValue).map(client.file(path:))
    }

    /// Every file's properties.
    public func fileProperties() async throws -> [FileProperties] {
        var result: [FileProperties] = []
        for file in try await files() { result.append(try await file.properties()) }
        return result
    }

    private func call(_ method: JobMethod, _ arguments: [Variant] = []) async throws -> [Variant] {
        try await client.call(path, method, arguments)
    }
}

/// A handle for one file of a job (`…/files/<n>`).
public struct BitsFile: Sendable, Hashable {
    public let client: BitsClient
    public let path: String

    public static func == (lhs: BitsFile, rhs: BitsFile) -> Bool { lhs.path == rhs.path && lhs.client === rhs.client }
    public func hash(into hasher: inout Hasher) { hasher.combine(path) }

    public func properties() async throws -> FileProperties {
        FileProperties(path: path, properties: try await client.getAll(path, BitsClient.fileInterface))
    }

    public func property(_ name: String) async throws -> Variant {
        try await client.getProperty(path, BitsClient.fileInterface, name)
    }

    /// `SetRemoteName`: fix a URL after an error.
    public func setRemoteName(_ url: String) async throws {
        try await client.setProperty(path, BitsClient.fileInterface, FileProperty.remoteName.name, .string(url))
    }

    /// `ExpectedHash`: `""` (none), `sha256:<64 hex>` or `sha512:<128 hex>`; settable until
    /// the file is transferred.
    public func setExpectedHash(_ hash: String) async throws {
        try await client.setProperty(path, BitsClient.fileInterface, FileProperty.expectedHash.name, .string(hash))
    }

    /// `Hash`: `sha256:<hex>` of the transferred file, `""` before.
    public func hash() async throws -> String {
        try await property(FileProperty.hash.name).stringValue ?? ""
    }

    /// `unknown`, `valid` or `invalid` (invalid puts the job in error).
    public func setValidationState(_ state: String) async throws {
        try await client.setProperty(path, BitsClient.fileInterface, FileProperty.validationState.name, .string(state))
    }
}
