import BitsCore
import BitsSystem

/// Runs a job's NotifyCommandLine as the job's owner. The daemon never forks Swift code:
/// `ChildProcess.spawnIsolated` (C, posix_spawn) starts `setpriv`, which switches to the owner's
/// uid, gid and groups before it execs the program. The program inherits nothing of the
/// daemon: fds 0–2 are /dev/null and no other descriptor is open, the environment is clean,
/// the working directory is `/`, the signal mask is empty with default dispositions, and it
/// leads its own process group, which is killed when the program outlives the time limit.
struct NotifyCommand {
    static let setpriv = "/usr/bin/setpriv"
    /// Seconds between SIGTERM and SIGKILL to the process group of a program over its time limit.
    static let killGrace = 2

    enum Outcome: Equatable {
        case exited(Int32)
        /// A signal ended the program (not the daemon's, at the time limit).
        case signalled(Int32)
        /// Still running after the time limit (seconds): its process group was killed.
        case timedOut(UInt32)
        /// The owner may not execute the program (or it does not exist), or the owner's
        /// identity is not known for sure.
        case notExecutable(String)
    }

    /// Starts the command and returns how it ended. `timeLimit`: seconds it may run. The
    /// blocking steps (the `access` check as the owner, which reads the program's file system,
    /// `posix_spawn`, which waits for the exec, and `waitpid`) run on a thread of their own,
    /// never on Swift concurrency's cooperative pool, which a slow exec would starve.
    static func run(_ argv: [String], job: Job, owner: OwnerIdentity, timeLimit: UInt32) async -> Outcome {
        guard !argv.isEmpty else { return .exited(0) }
        // Fail closed: never run a user's program as anyone else, above all not as root.
        guard owner.uid == job.owner else {
            return .notExecutable("The identity found for user \(job.owner) is uid \(owner.uid); NotifyCommandLine was not run.")
        }
        let environment = ["BITS_JOB_ID=\(job.id.guid)", "BITS_JOB_STATE=\(job.state.rawValue)"]
        let outcome = await onOwnThread(named: "bitsd-notify") {
            runBlocking(argv, environment: environment, owner: owner, timeLimit: timeLimit)
        }
        return outcome ?? .notExecutable("NotifyCommandLine was not run: no thread could be started for it.")
    }

    /// Runs `body` on a new thread and returns its result (nil when no thread could be
    /// started): for blocking calls that must not hold a thread of the cooperative pool.
    static func onOwnThread<T: Sendable>(named name: String, _ body: @escaping @Sendable () -> T) async -> T? {
        await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
            guard let thread = JoinableThread(name: name, { continuation.resume(returning: body()) }) else {
                continuation.resume(returning: nil)
                return
            }
            thread.detach()
        }
    }

    /// The command's blocking steps, on the calling thread (`onOwnThread`).
    private static func runBlocking(_ argv: [String], environment: [String], owner: OwnerIdentity,
                                    timeLimit: UInt32) -> Outcome {
        let program = argv[0]
        let executable = (try? owner.perform { (try? FileDescriptor.access(program, .execute)) != nil }) ?? false
        guard executable else {
            return .notExecutable("User \(owner.uid) cannot execute NotifyCommandLine program '\(program)'.")
        }
        let groups = owner.groups.map(String.init).joined(separator: ",")
        // A per-user instance (not root) already is the owner: no identity to switch to.
        let identity = SystemPaths.effectiveUID == 0
            ? ["--reuid=\(owner.uid)", "--regid=\(owner.gid)", groups.isEmpty ? "--clear-groups" : "--groups=\(groups)"]
            : []
        let arguments = [setpriv] + identity + [
                         // setpriv's clean environment (PATH, HOME, USER, LOGNAME, SHELL of
                         // the owner) plus the job's identity, set by env(1).
                         "--reset-env", "--", "/usr/bin/env"] + environment + argv
        let pid: Int32
        do throws(SystemError) {
            pid = try ChildProcess.spawnIsolated(arguments, environment: ["PATH=/usr/bin:/bin"])
        } catch {
            return .notExecutable("NotifyCommandLine could not be started: \(error.text).")
        }
        let limitMs = Int32(clamping: UInt64(timeLimit) * 1000)
        do throws(SystemError) {
            switch try ChildProcess.wait(pid, timeLimitMs: limitMs, graceMs: Int32(killGrace * 1000)) {
            case .timedOut: return .timedOut(timeLimit)
            case .signalled(let signal): return .signalled(signal)
            case .exited(let status): return .exited(status)
            }
        } catch {
            return .notExecutable("NotifyCommandLine (pid \(pid)) could not be waited for: \(error.text).")
        }
    }
}

extension QueueManager {
    /// The job entered transferred or error: run its NotifyCommandLine if its flags say so.
    func notifyCommand(_ id: JobID, attempt: Int = 0) {
        guard let job = table[id]?.job, !job.state.isFinal, !job.options.notifyCommandLine.isEmpty else { return }
        let flags = job.options.notifyFlags
        let wanted = flags & 0x4 == 0
            && ((job.state == .transferred && flags & 0x1 != 0) || (job.state == .error && flags & 0x2 != 0))
        guard wanted else { return }
        let argv = job.options.notifyCommandLine
        let state = job.state
        let timeLimit = config.notifyTimeLimit
        Task { [weak self] in
            guard let self else { return }
            // Fail closed: without the owner's identity the command does not run at all. The
            // lookup (the user database) runs off this actor.
            let outcome: NotifyCommand.Outcome
            do {
                let owner = try await self.identity(of: job.owner)
                outcome = await NotifyCommand.run(argv, job: job, owner: owner, timeLimit: timeLimit)
            } catch {
                let reason = (error as? ServiceError)?.message ?? "\(error)"
                outcome = .notExecutable("NotifyCommandLine was not run: \(reason)")
            }
            await self.notifyCommandEnded(id, state: state, attempt: attempt, outcome: outcome)
        }
    }

    private func notifyCommandEnded(_ id: JobID, state: JobState, attempt: Int, outcome: NotifyCommand.Outcome) {
        guard var job = table[id]?.job else { return }
        switch outcome {
        case .exited(0):
            logger.info("job \(id): notify command succeeded")
            return
        case .exited(let status):
            logger.notice("job \(id): notify command exited with \(status); runs again in \(job.minimumRetryDelay) s")
        case .signalled(let signal):
            logger.notice("job \(id): notify command ended by signal \(signal); runs again in \(job.minimumRetryDelay) s")
        case .timedOut(let seconds):
            logger.notice("job \(id): notify command still running after its time limit of \(seconds) s: its process group was killed; runs again in \(job.minimumRetryDelay) s")
        case .notExecutable(let message):
            logger.notice("job \(id): \(message)")
            job.lastError = JobError(context: .queueManagerNotification, code: .notifyFailed, description: message)
            job.errorCount = job.errorCount.addingSaturating(1)
            table[id]?.job = job
            observer?.jobChanged(job, properties: JobProperty.errorProperties)
        }
        // BITS re-runs a failing command line after MinimumRetryDelay while the job is
        // still neither acknowledged nor cancelled (and still in the state it was run for).
        let delay = job.minimumRetryDelay
        after(.seconds(Int64(delay))) { manager in
            guard manager.jobIfPresent(id)?.state == state else { return }
            manager.notifyCommand(id, attempt: attempt + 1)
        }
    }
}
