import BitsCore
import BitsSystem
import BitsTransfer

/// The opens a transfer needs (a download's temporary file and file:// source, an upload's
/// source) run on the file workers, as the owner, ahead of the transfer: the scheduler asks
/// for them, carries on, and starts the file when they are in (as with the proxy lookup). A
/// FIFO, a hung NFS server or a user's FUSE mount thus holds up that one file, never this
/// actor and the other jobs' calls.
extension QueueManager {
    /// Descriptors opened for one file's transfer. Raw numbers taken from `FileDescriptor`s:
    /// the actor keeps them in dictionaries, which cannot hold non-copyable values; whoever
    /// ends up with them closes them: on a file worker `close()`; on the queue manager
    /// `release(_:)`, which hands them to a file worker (a close can block on NFS or FUSE).
    struct OpenedFile: Sendable {
        /// The temporary file (download) or the source (upload).
        let fd: Int32
        /// Its length when it was opened.
        let length: UInt64
        /// A file:// download's source and its size.
        let source: Int32?
        let sourceSize: UInt64
        /// The job's client certificate, read for this attempt.
        var certificate: ClientCertificate?
        /// An upload source's size and modification time when it was opened (nil: not known).
        var stamp: SourceStamp?
        /// A download's hasher, with the `length` bytes on disk already hashed.
        var hasher: StreamHasher?

        var descriptors: [Int32] { [fd] + (source.map { [$0] } ?? []) }
        func close() { for fd in descriptors { FileDescriptor.close(fd) } }
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
        if let result = runtime[id]?.opened.removeValue(forKey: index) { return result }
        requestOpen(id, indices: [index])
        return nil
    }

    /// Whether file `index` is opened (or failed to open) and waiting for its transfer.
    func isOpened(_ id: JobID, index: Int) -> Bool { runtime[id]?.opened[index] != nil }

    /// Asks the file workers to open files `indices` of a job (those not asked for already).
    func requestOpen(_ id: JobID, indices: [Int]) {
        guard let job = jobs[id], var rt = runtime[id] else { return }
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
        runtime[id] = rt
        let generation = rt.openGeneration
        let files = self.files
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
                (order.index, Self.open(order, files: files, owner: owner, resolution: resolution).flatMap { opened in
                    do {
                        var withCertificate = opened
                        withCertificate.certificate = try ClientCertificate.read(secrets, files: files, owner: owner,
                                                                                 resolution: resolution)
                        return .success(withCertificate)
                    } catch {
                        opened.close()
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
                             resolution: PathResolution) -> Result<OpenedFile, ServiceError> {
        do {
            if order.upload {
                let source = try files.openSource(order.path, owner: owner, resolution: resolution)
                let stamp = SourceStamp.of(source.descriptor.raw, files: files)
                return .success(OpenedFile(fd: source.descriptor.take(), length: source.length, source: nil, sourceSize: 0,
                                           stamp: stamp))
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
                return .success(OpenedFile(fd: file.descriptor.take(), length: length, source: nil, sourceSize: 0,
                                           hasher: hasher))
            }
            // The descriptors go to the actor's state as raw numbers (closed by `close()`).
            let source = try files.openSource(sourcePath, owner: owner, resolution: resolution)
            return .success(OpenedFile(fd: file.descriptor.take(), length: length, source: source.descriptor.take(),
                                       sourceSize: source.length, hasher: hasher))
        } catch let error as ServiceError {
            return .failure(error)
        } catch {
            return .failure(ServiceError(.failed, "\(error)"))
        }
    }

    /// The file workers are done: keep what is still wanted and go on with the job.
    private func filesOpened(_ id: JobID, generation: Int, _ results: [(Int, Result<OpenedFile, ServiceError>)]) {
        guard runtime[id]?.openGeneration == generation, let job = jobs[id], job.state.isActive else {
            for (_, result) in results { if case .success(let opened) = result { release(opened.descriptors) } }
            return
        }
        for (index, result) in results {
            runtime[id]?.opening.remove(index)
            runtime[id]?.opened[index] = result
        }
        if runtime[id]?.requests.isRunning != true {
            schedule()
        } else {
            queueFollowingFiles(of: id)
        }
    }

    /// Closes descriptors of users' files that the queue manager owned, on a file worker:
    /// closing a file on NFS or FUSE can block (it flushes), never on this actor.
    nonisolated func release(_ descriptors: [Int32]) {
        guard !descriptors.isEmpty else { return }
        let files = self.files
        fileWorkers.submit { for fd in descriptors { files.close(FileDescriptor(adopting: fd)) } }
    }

    /// `release` of a HighPerformance destination that failed its hash: emptied first, by
    /// the file worker that then closes it (never on this actor).
    nonisolated func releaseEmptied(_ descriptor: Int32) {
        let files = self.files
        fileWorkers.submit {
            try? BorrowedDescriptor(descriptor).truncate(to: 0)
            files.close(FileDescriptor(adopting: descriptor))
        }
    }

    /// Closes what was opened ahead for a job and forgets the opens still running (their
    /// descriptors are closed when they arrive): the job's settings, state or owner changed.
    func closeOpenedFiles(of id: JobID) {
        guard var rt = runtime[id] else { return }
        for result in rt.opened.values { if case .success(let opened) = result { release(opened.descriptors) } }
        rt.opened = [:]
        rt.opening = []
        rt.openGeneration += 1
        runtime[id] = rt
    }
}
