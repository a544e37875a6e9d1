import BitsCore

/// Methods that change a job's secrets, owner, URLs and file settings.
extension QueueManager {
    /// `SetCredentials`.
    public func setCredentials(_ id: JobID, caller: Caller, target: String, scheme: String,
                               userName: String, password: String) async throws {
        let credential = JobCredential(
            target: try InputValidation.enumValue(JobCredential.Target.self, target, what: "Credential target"),
            scheme: try InputValidation.enumValue(JobCredential.Scheme.self, scheme, what: "Authentication scheme"),
            userName: userName, password: password)
        try await mutate(id, caller: caller) { job in
            try JobSettingRules.setCredential(credential, on: &job)
            return []
        }
        logger.info("job \(id): credentials set for \(credential.target.rawValue)/\(credential.scheme.rawValue)")
    }

    /// `RemoveCredentials`.
    public func removeCredentials(_ id: JobID, caller: Caller, target: String, scheme: String) async throws {
        let t = try InputValidation.enumValue(JobCredential.Target.self, target, what: "Credential target")
        let s = try InputValidation.enumValue(JobCredential.Scheme.self, scheme, what: "Authentication scheme")
        try await mutate(id, caller: caller) { job in
            try JobStateMachine.checkSetProperty(job, name: "change credentials")
            job.secrets.credentials.removeAll { $0.target == t && $0.scheme == s }
            return []
        }
    }

    /// `SetClientCertificate`: both PEM files must be readable by the owner now; they are
    /// read again (as the owner) at each transfer.
    public func setClientCertificate(_ id: JobID, caller: Caller, certificate: String, key: String) async throws {
        let job = try job(id, caller: caller)
        try JobStateMachine.checkSetProperty(job, name: "take a client certificate")
        let cert = try InputValidation.localPath(certificate, what: "Certificate file")
        let keyPath = try InputValidation.localPath(key, what: "Private key file")
        let owner = try await identity(of: job.owner)
        let files = self.files
        let resolution = job.pathResolution
        try await fileWorkers.run {
            for path in [cert, keyPath] {
                let bytes = try files.readSmallFile(path, owner: owner, limit: ClientCertificate.maximumSize,
                                                    resolution: resolution)
                guard String(decoding: bytes, as: UTF8.self).contains("-----BEGIN ") else {
                    throw ServiceError.invalidArgs("'\(path)' is not a PEM file.")
                }
            }
        }
        guard table[id]?.job.owner == job.owner else { throw busy(id) }
        try await mutate(id, caller: caller) { job in
            job.secrets.clientCertificateFile = cert
            job.secrets.clientKeyFile = keyPath
            return []
        }
    }

    /// `RemoveClientCertificate`.
    public func removeClientCertificate(_ id: JobID, caller: Caller) async throws {
        try await mutate(id, caller: caller) { job in
            try JobStateMachine.checkSetProperty(job, name: "change its client certificate")
            job.secrets.clientCertificateFile = nil
            job.secrets.clientKeyFile = nil
            return []
        }
    }

    /// `TakeOwnership` (administrators): the caller becomes the owner; credentials, custom
    /// headers, the client certificate and the notify command line are dropped. From now on
    /// the job works with the new owner's rights only: every file not yet delivered gets a
    /// new temporary file, created as the new owner when its transfer starts (the new owner
    /// must be able to write the destination directory now), and is fetched again; the
    /// previous owner's temporary files are deleted as that owner. Nothing written with one
    /// user's rights is handed to another.
    ///
    /// From then on no path of the job is resolved through a symbolic link
    /// (`Job.previousOwner`): the previous owner may have swapped a directory for a link to
    /// one only the new owner can write. The file work runs on the file workers.
    public func takeOwnership(_ id: JobID, caller: Caller) async throws {
        guard caller.isAdministrator else {
            throw ServiceError.accessDenied("Taking ownership of a job needs the org.example.bits.manage-all-jobs authorization.")
        }
        try await withClientWrite(id) { try await takeOwnershipInTurn(id, caller: caller) }
    }

    private func takeOwnershipInTurn(_ id: JobID, caller: Caller) async throws {
        func check() throws -> Job? {
            let job = try self.job(id, caller: caller)
            try JobStateMachine.checkSetProperty(job, name: "change its owner")
            guard job.owner != caller.uid else { return nil }
            guard table[id]?.runtime.busyWithFiles != true else { throw busy(id) }
            return job
        }
        guard let before = try check() else { return }
        // The identities may wait for the user database (off this actor): the job is checked
        // again as it is after them.
        let previous = try await identity(of: before.owner)
        let next = try await identity(of: caller.uid)
        guard let job = try check() else { return }
        guard job.owner == previous.uid else { throw busy(id) }
        stopTransfer(of: id)
        table[id]?.runtime.busyWithFiles = true
        defer { table[id]?.runtime.busyWithFiles = false }
        let files = self.files
        // Files with a temporary file get a new one, created as the new owner when the
        // transfer starts; the new owner must be able to write their directories now.
        let renewed = job.files.indices.filter { job.files[$0].temporaryName != job.files[$0].localName }
        let direct = job.type == .download
            ? job.files.indices.filter { job.files[$0].temporaryName == job.files[$0].localName } : []
        let checked: (renewed: [DirectoryIdentity], direct: [DirectoryIdentity]) = try await fileWorkers.run {
            if job.type != .download {
                // The new owner must be able to read the source; nothing is created.
                for file in job.files { _ = try files.openSource(file.localName, owner: next, resolution: .noSymlinks) }
            }
            let directories = try files.checkDestinations(renewed.map { job.files[$0].localName }, owner: next,
                                                          resolution: .noSymlinks)
            // HighPerformance: the destination itself, reopened as the new owner.
            let directs = try direct.map {
                try files.prepareDirectDestination(localPath: job.files[$0].localName, owner: next,
                                                   umask: job.files[$0].creationMask, resolution: .noSymlinks).directory
            }
            return (directories, directs)
        }
        guard table[id]?.job.owner == job.owner else { throw busy(id) }
        var updated = table[id]?.job ?? job
        for (index, directory) in zip(renewed, checked.renewed) {
            let file = job.files[index]
            updated.files[index].temporaryName = OwnerFiles.temporaryPath(for: file.localName, name: OwnerFiles.newTemporaryName())
            updated.files[index].directory = directory
            updated.files[index].restart()
        }
        for (index, directory) in zip(direct, checked.direct) {
            updated.files[index].directory = directory
            updated.files[index].restart()
        }
        updated.previousOwner = job.owner
        var changed = JobSettingRules.takeOwnership(of: &updated, by: caller.uid)
        updated.modificationTime = wallNow()
        changed.formUnion([.modificationTime, .bytesTransferred, .bytesTotal, .filesTransferred])
        try await persistDurably(updated)  // its transfer is stopped and it is busy: nothing else changes it
        let previousTemporaries = renewed.map { job.files[$0].temporaryName }
        let previousResolution = job.pathResolution
        await fileWorkers.run {
            for temporary in previousTemporaries { files.remove(temporary, owner: previous, resolution: previousResolution) }
        }
        table[id]?.job = updated
        discardQueuedFiles(of: id)  // anything opened meanwhile was opened as the previous owner
        table[id]?.runtime.busyWithFiles = false
        table.changeOwner(id, from: job.owner, to: caller.uid)
        logger.notice("job \(id): uid \(caller.uid) took ownership from uid \(job.owner)")
        observer?.jobChanged(updated, properties: changed)
        for index in updated.files.indices {
            observer?.fileChanged(updated, index: index, properties: [.bytesTransferred, .bytesTotal, .completed])
        }
        if updated.state.isActive || updated.state == .transferred {
            if updated.state == .transferred {
                transition(id, persist: true) { $0.enter(.queued, at: $1, sequence: &$2) }
            }
            schedule()
        }
    }

    /// `ReplaceRemotePrefix`: rewrites the URL of every unfinished file starting with
    /// `old`. A file whose transfer was under way restarts at the same offset if the new
    /// server has the same size and validators (checked by If-Range), else from 0.
    public func replaceRemotePrefix(_ id: JobID, caller: Caller, old: String, new: String) async throws -> UInt32 {
        guard !old.isEmpty, !new.isEmpty else {
            throw ServiceError.invalidArgs("ReplaceRemotePrefix needs two non-empty prefixes.")
        }
        var count: UInt32 = 0
        var changedFiles: [Int] = []
        let job = try await mutate(id, caller: caller) { job in
            (count, changedFiles) = (0, [])  // made again if the job changed during the write
            try JobStateMachine.checkSetProperty(job, name: "change its URLs")
            guard job.type == .download else {
                throw ServiceError(.notSupported, "ReplaceRemotePrefix applies to download jobs only.")
            }
            var updated = job.files
            for (index, file) in job.files.enumerated() where !file.completed && file.remoteName.hasPrefix(old) {
                let url = new + file.remoteName.dropFirst(old.count)
                _ = try InputValidation.downloadURL(url)
                updated[index].remoteName = url
                changedFiles.append(index)
                count += 1
            }
            job.files = updated
            return []
        }
        for index in changedFiles { observer?.fileChanged(job, index: index, properties: [.remoteName]) }
        if let running = table[id]?.runtime.requests.current, let active = transfers[running], changedFiles.contains(active.fileIndex) {
            stopTransfer(of: id)
            schedule()
        }
        return count
    }

    /// `File.RemoteName` Set (SetRemoteName).
    public func setRemoteName(_ id: JobID, file index: Int, caller: Caller, url: String) async throws {
        _ = try InputValidation.downloadURL(url)
        try await changeUnfinishedFile(id, file: index, caller: caller, doing: "change its URLs", what: "URL",
                                       property: .remoteName) { $0.remoteName = url }
    }

    /// `File.ExpectedHash` Set: until the file is transferred, download files only. A file
    /// downloading now restarts its transfer (from the bytes on disk, hashed again).
    public func setExpectedHash(_ id: JobID, file index: Int, caller: Caller, value: String) async throws {
        let hash = try FileHash.parseExpected(value)
        try await changeUnfinishedFile(id, file: index, caller: caller, doing: "change expected hashes", what: "ExpectedHash",
                                       property: .expectedHash, downloadsOnly: true) { file in
            file.expectedHash = hash
            file.hashMismatches = nil
        }
    }

    /// Changes a setting of file `index` that may change until the file is transferred
    /// (`doing` and `what` name it in errors) and publishes `property`; a transfer of that
    /// file under way starts again with it.
    private func changeUnfinishedFile(_ id: JobID, file index: Int, caller: Caller, doing: String, what: String,
                                      property: FileProperty, downloadsOnly: Bool = false,
                                      _ change: (inout JobFile) -> Void) async throws {
        let job = try await mutate(id, caller: caller) { job in
            try JobStateMachine.checkSetProperty(job, name: doing)
            guard job.files.indices.contains(index) else { throw ServiceError.notFound("Job \(id) has no file \(index).") }
            guard !downloadsOnly || job.type == .download else {
                throw ServiceError(.notSupported, "Job \(id) is an upload job: only downloads take an \(what).")
            }
            guard !job.files[index].completed else {
                throw ServiceError.invalidState("File \(index) of job \(id) is already transferred; its \(what) cannot change.")
            }
            change(&job.files[index])
            return []
        }
        observer?.fileChanged(job, index: index, properties: [property])
        if let running = table[id]?.runtime.requests.current, transfers[running]?.fileIndex == index {
            stopTransfer(of: id)
            schedule()
        }
    }

    /// `File.ValidationState` Set: `invalid` puts the job in error (validation-failed).
    public func setValidationState(_ id: JobID, file index: Int, caller: Caller, value: String) async throws {
        let state = try InputValidation.enumValue(ValidationState.self, value, what: FileProperty.validationState.name)
        let job = try await mutate(id, caller: caller) { job in
            try JobStateMachine.checkSetProperty(job, name: "change validation state")
            guard job.files.indices.contains(index) else { throw ServiceError.notFound("Job \(id) has no file \(index).") }
            job.files[index].validationState = state
            return []
        }
        observer?.fileChanged(job, index: index, properties: [.validationState])
        if state == .invalid {
            stopTransfer(of: id)
            fail(id, fileIndex: index, failure: .validationFailed("File \(index) of job \(id) was marked invalid by its owner."))
        }
    }
}
