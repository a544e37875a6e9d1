import BitsCore
import Foundation

/// Runs a job's NotifyCommandLine as the job's owner: `setpriv` switches to the owner's uid,
/// gid and groups before exec (the daemon never forks Swift code), with a clean
/// environment, stdin from /dev/null and output discarded, in `/`.
struct NotifyCommand {
    static let setpriv = "/usr/bin/setpriv"

    enum Outcome: Equatable {
        case exited(Int32)
        /// The owner may not execute the program (or it does not exist).
        case notExecutable(String)
    }

    /// Starts the command and returns its exit status when it ends.
    static func run(_ argv: [String], job: Job, owner: OwnerIdentity) async -> Outcome {
        guard let program = argv.first else { return .exited(0) }
        let executable = (try? owner.perform { faccessat(AT_FDCWD, program, X_OK, AT_EACCESS) == 0 }) ?? false
        guard executable else {
            return .notExecutable("User \(owner.uid) cannot execute NotifyCommandLine program '\(program)'.")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: setpriv)
        let groups = owner.groups.map(String.init).joined(separator: ",")
        process.arguments = ["--reuid=\(owner.uid)", "--regid=\(owner.gid)",
                             groups.isEmpty ? "--clear-groups" : "--groups=\(groups)",
                             // setpriv's clean environment (PATH, HOME, USER, LOGNAME, SHELL of
                             // the owner) plus the job's identity, set by env(1).
                             "--reset-env", "--", "/usr/bin/env",
                             "BITS_JOB_ID=\(job.id.guid)", "BITS_JOB_STATE=\(job.state.rawValue)"] + argv
        process.environment = ["PATH": "/usr/bin:/bin"]
        process.currentDirectoryURL = URL(fileURLWithPath: "/")
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        return await withCheckedContinuation { continuation in
            process.terminationHandler = { finished in
                continuation.resume(returning: .exited(finished.terminationStatus))
            }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(returning: .notExecutable("NotifyCommandLine could not be started: \(error)."))
            }
        }
    }
}

extension QueueManager {
    /// The job entered transferred or error: run its NotifyCommandLine if its flags say so.
    func notifyCommand(_ id: JobID, attempt: Int = 0) {
        guard let job = jobs[id], !job.state.isFinal, !job.options.notifyCommandLine.isEmpty else { return }
        let flags = job.options.notifyFlags
        let wanted = flags & 0x4 == 0
            && ((job.state == .transferred && flags & 0x1 != 0) || (job.state == .error && flags & 0x2 != 0))
        guard wanted, let owner = try? identity(of: job.owner) else { return }
        let argv = job.options.notifyCommandLine
        let state = job.state
        Task { [weak self] in
            let outcome = await NotifyCommand.run(argv, job: job, owner: owner)
            await self?.notifyCommandEnded(id, state: state, outcome: outcome, attempt: attempt)
        }
    }

    private func notifyCommandEnded(_ id: JobID, state: JobState, outcome: NotifyCommand.Outcome, attempt: Int) {
        guard var job = jobs[id] else { return }
        switch outcome {
        case .exited(0):
            logger.info("job \(id): notify command succeeded")
            return
        case .exited(let status):
            logger.notice("job \(id): notify command exited with \(status); runs again in \(job.minimumRetryDelay) s")
        case .notExecutable(let message):
            logger.notice("job \(id): \(message)")
            job.lastError = JobError(context: .queueManagerNotification, code: .notifyFailed, description: message)
            job.errorCount += 1
            jobs[id] = job
            observer?.jobChanged(job, properties: JobProperty.errorProperties)
        }
        // BITS re-runs a failing command line after MinimumRetryDelay while the job is
        // still neither acknowledged nor cancelled (and still in the state it was run for).
        let delay = job.minimumRetryDelay
        Task { [weak self] in
            try? await Task.sleep(for: .seconds(Int64(delay)))
            guard let self, await self.jobIfPresent(id)?.state == state else { return }
            await self.notifyCommand(id, attempt: attempt + 1)
        }
    }
}
