import BitsCore
import BitsSystem
import BitsTransfer

/// The opens a transfer needs (a download's temporary file and file:// source, an upload's
/// source) run on the file workers, as the owner, ahead of the transfer: the scheduler asks
/// for them, carries on, and starts the file when they are in (as with the proxy lookup). A
/// FIFO, a hung NFS server or a user's FUSE mount thus holds up that one file, never this
/// actor and the other jobs' calls.
extension QueueManager {
    /// Descriptors opened for one file's transfer, owned by `held` (closed on a file worker
    /// when the last holder lets go of them; `fd` and `source` are their numbers).
    struct OpenedFile: Sendable {
        let held: HeldDescriptors
        /// The temporary file (download) or the source (upload).
        var fd: Int32 { held.numbers[0] }
        /// Its length when it was opened.
        let length: UInt64
        /// A file:// download's source and its size.
        var source: Int32? { held.numbers.count > 1 ? held.numbers[1] : nil }
        let sourceSize: UInt64
        /// The job's client certificate, read for this attempt.
        var certificate: ClientCertificate?
        /// An upload source's size and modification time when it was opened (nil: not known).
        var stamp: SourceStamp?
        /// A download's hasher, with the `length` bytes on disk already hashed.
        var hasher: StreamHasher?

        init(_ fd: consuming FileDescriptor, length: UInt64, source: consuming FileDescriptor? = nil, sourceSize: UInt64 = 0,
             stamp: SourceStamp? = nil, hasher: StreamHasher? = nil, closer: @escaping HeldDescriptors.Closer) {
            held = HeldDescriptors(fd, source, closer: closer)
            self.length = length
            self.sourceSize = sourceSize
            self.stamp = stamp
            self.hasher = hasher
        }
    }

    /// What to open for file `index`.
    private struct OpenOrder: Sendable {
        let index: Int
        let path: String
        let upload: Bool
        let umask: UInt32
        let sourcePath: String?
        /// The download cannot resume from the bytes on disk (no validators, dynamic content,
        /// a custom method): its temporary file is emptied here.
        let restartsFromZero: Bool
        /// The download is hashed also with SHA-512 (its ExpectedHash is one).
        let sha512: Bool
    }

    /// The opened descriptors of file `index`, or why they could not be opened; nil when the
    /// open has not been asked for or is still running (it is then asked for).
    func takeOpened(_ id: JobID, index: Int) -> Result<OpenedFile, ServiceError>? {
        if let result = table[id]?.runtime.opened.removeValue(forKey: index) { return result }
        requestOpen(id, indices: [index])
        return nil
    }

    /// Whether file `index` is opened (or failed to open) and waiting for its transfer.
    func isOpened(_ id: JobID, index: Int) -> Bool { table[id]?.runtime.opened[index] != nil }

    /// Asks the file workers to open files `indices` of a job (those not asked for already).
    func requestOpen(_ id: JobID, indices: [Int]) {
        guard let job = table[id]?.job, var rt = table[id]?.runtime else { return }
        let wanted = indices.filter { job.files.indices.contains($0) && rt.opened[$0] == nil && !rt.opening.contains($0) }
        guard !wanted.isEmpty else { return }
        let orders = wanted.map { index in
            let file = job.files[index]
            let source = (try? InputValidation.downloadURL(file.remoteName)).flatMap { $0.scheme == "file" ? $0.path : nil }
            return OpenOrder(index: index, path: job.type == .download ? file.temporaryName : file.localName,
                             upload: job.type != .download, umask: file.creationMask,
                             sourcePath: job.type == .download ? source : nil,
                             restartsFromZero: !Self.canResume(file, in: job),
                             sha512: file.expectedHash?.algorithm == .sha512)
        }
        rt.opening.formUnion(wanted)
        table[id]?.runtime = rt
        let generation = rt.openGeneration
        let files = self.files
        let closer = closeOnWorkers
        let resolution = job.pathResolution
        let secrets = job.secrets
        let uid = job.owner
        Task { [weak self, fileWorkers] in
            // The owner's identity (the user database) is looked up off this actor too.
            let owner: OwnerIdentity
            switch await self?.identityResult(of: uid) {
            case .success(let found)?: owner = found
            case .failure(let failure)?:
                await self?.filesOpened(id, generation: generation, orders.map { ($0.index, .failure(failure)) })
                return
            case nil: return
            }
            let results = await fileWorkers.run { orders.map { order in
                (order.index, Self.open(order, files: files, owner: owner, resolution: resolution, closer: closer).flatMap { opened in
                    do {
                        var withCertificate = opened
                        withCertificate.certificate = try ClientCertificate.read(secrets, files: files, owner: owner,
                                                                                 resolution: resolution)
                        return .success(withCertificate)
                    } catch {
                        return .failure((error as? ServiceError) ?? ServiceError(.failed, "\(error)"))
                    }
                })
            } }
            await self?.filesOpened(id, generation: generation, results)
        }
    }

    /// Whether a download file may resume from the bytes on disk: only when the server's
    /// validators are known, and never for dynamic content or a custom method (BITS restarts
    /// those).
    static func canResume(_ file: JobFile, in job: Job) -> Bool {
        (file.entityTag != nil || file.lastModifiedText != nil) && !job.options.dynamicContent && !job.options.usesCustomMethod
    }

    /// Runs on a file worker.
    private static func open(_ order: OpenOrder, files: any OwnerFileAccess, owner: OwnerIdentity,
                             resolution: PathResolution, closer: @escaping HeldDescriptors.Closer) -> Result<OpenedFile, ServiceError> {
        do {
            if order.upload {
                let source = try files.openSource(order.path, owner: owner, resolution: resolution)
                let stamp = SourceStamp.of(source.descriptor.raw, files: files)
                return .success(OpenedFile(source.descriptor, length: source.length, stamp: stamp, closer: closer))
            }
            let file = try files.openTemporary(order.path, owner: owner, umask: order.umask, resolution: resolution)
            var length = file.length
            if order.restartsFromZero && length > 0 {
                do throws(SystemError) {
                    try file.descriptor.truncate(to: 0)
                } catch {
                    throw ServiceError(.failed, "'\(order.path)' could not be emptied: \(error.text).")
                }
                length = 0
            }
            // The bytes already on disk are hashed once, here (off the queue manager), before
            // the transfer goes on from them; if they cannot be read, the file starts over.
            let hasher = StreamHasher(sha512: order.sha512)
            if length > 0 {
                do throws(SystemError) {
                    try hasher.hashPrefix(of: file.descriptor.raw, length: length)
                } catch {
                    do throws(SystemError) {
                        try file.descriptor.truncate(to: 0)
                    } catch {
                        throw ServiceError(.failed, "'\(order.path)' could not be read to hash it, nor emptied: \(error.text).")
                    }
                    length = 0
                }
            }
            guard let sourcePath = order.sourcePath else {
                return .success(OpenedFile(file.descriptor, length: length, hasher: hasher, closer: closer))
            }
            let source = try files.openSource(sourcePath, owner: owner, resolution: resolution)
            return .success(OpenedFile(file.descriptor, length: length, source: source.descriptor,
                                       sourceSize: source.length, hasher: hasher, closer: closer))
        } catch let error as ServiceError {
            return .failure(error)
        } catch {
            return .failure(ServiceError(.failed, "\(error)"))
        }
    }

    /// The file workers are done: keep what is still wanted and go on with the job.
    private func filesOpened(_ id: JobID, generation: Int, _ results: [(Int, Result<OpenedFile, ServiceError>)]) {
        // What is no longer wanted is closed as it is dropped.
        guard table[id]?.runtime.openGeneration == generation, let job = table[id]?.job, job.state.isActive else { return }
        for (index, result) in results {
            table[id]?.runtime.opening.remove(index)
            table[id]?.runtime.opened[index] = result
        }
        if table[id]?.runtime.requests.isRunning != true {
            schedule()
        } else {
            queueFollowingFiles(of: id)
        }
    }

    /// How `HeldDescriptors` of users' files close: on a file worker, never on this actor
    /// (closing a file on NFS or FUSE can block: it flushes).
    nonisolated var closeOnWorkers: HeldDescriptors.Closer {
        { [fileWorkers, files] descriptors in
            fileWorkers.submit { for fd in descriptors { files.close(FileDescriptor(adopting: fd)) } }
        }
    }

    /// Closes a HighPerformance destination that failed its hash: emptied first, by the file
    /// worker that then closes it (never on this actor).
    nonisolated func closeEmptied(_ descriptor: consuming FileDescriptor) {
        let files = self.files
        let raw = descriptor.take()
        fileWorkers.submit {
            try? BorrowedDescriptor(raw).truncate(to: 0)
            files.close(FileDescriptor(adopting: raw))
        }
    }

    /// Closes what was opened ahead for a job and forgets the opens still running (their
    /// descriptors are closed when they arrive): the job's settings, state or owner changed.
    func closeOpenedFiles(of id: JobID) {
        guard var rt = table[id]?.runtime else { return }
        rt.opened = [:]  // closed as they are dropped
        rt.opening = []
        rt.openGeneration += 1
        table[id]?.runtime = rt
    }
}
