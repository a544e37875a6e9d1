import ArgumentParser
import BitsClient
import BitsSystem

/// Follows a resumed transfer job to its end for `bitsctl transfer`: draws the progress
/// bar, reports transient errors while the service retries, completes the job when it is
/// transferred, and handles fatal errors and Ctrl-C. `run` returns the exit status.
struct TransferWatch {
    let job: BitsJob
    let showBar: Bool
    let keepOnError: Bool
    let onInterrupt: Transfer.InterruptAction
    private var reportedErrorCount: UInt32 = 0
    private var lastState: JobState?
    private let started = Self.uptime()
    private var barVisible = false
    /// The outcome, for --json.
    private(set) var summary: [String: Any] = [:]

    init(job: BitsJob, showBar: Bool, keepOnError: Bool, onInterrupt: Transfer.InterruptAction) {
        self.job = job
        self.showBar = showBar
        self.keepOnError = keepOnError
        self.onInterrupt = onInterrupt
    }

    mutating func run(interrupts: AsyncStream<Int32>) async throws -> Int32 {
        let watch = InterruptibleEvents(job.updates(), interrupts: interrupts)
        defer { watch.stop() }
        try await job.resume()

        for await event in watch.events {
            switch event {
            case .interrupt:
                return try await interrupted()
            case .ended(let error):
                endBar()
                if let error { throw error }
                return finish(status: ExitStatus.failed, message: "The job left the service before it was transferred.")
            case .element(.properties(let properties)):
                if let status = try await handle(properties) { return status }
            case .element(.removed):
                endBar()
                return finish(status: ExitStatus.failed, message: "The job was cancelled or completed by someone else.")
            case .element:
                break // Transferred/Error/FileTransferred are reflected in the properties too.
            }
        }
        return ExitStatus.failed
    }

    /// Reacts to the job's properties; a status ends the watch.
    private mutating func handle(_ job: JobProperties) async throws -> Int32? {
        let now = Self.uptime()
        defer { lastState = job.state }
        switch job.state {
        case .transferred:
            draw(job, final: true)
            try await self.job.complete()
            let seconds = now - started
            let message = "Transferred \(job.filesTotal) file(s), \(HumanFormat.bytes(job.bytesTransferred)) in "
                + HumanFormat.fixed(seconds, fractionDigits: 1) + " s"
                + (seconds > 0 ? " (\(HumanFormat.rate(Double(job.bytesTransferred) / seconds)))" : "") + "."
            summary = [JobProperty.id.name: job.id, JobProperty.state.name: "acknowledged",
                       JobProperty.bytesTransferred.name: job.bytesTransferred,
                       JobProperty.filesTransferred.name: job.filesTransferred, "Seconds": seconds]
            if job.type == .uploadReply, !job.replyFileName.isEmpty { summary[JobProperty.replyFileName.name] = job.replyFileName }
            Terminal.writeError(message + "\n")
            return 0
        case .error:
            endBar()
            let text = HumanFormat.error(job) ?? "unknown error"
            if keepOnError {
                printError("Transfer failed: \(HumanFormat.sentence(text)) The job \(job.id) is kept (bitsctl info \(job.id)).")
            } else {
                try? await self.job.cancel()
                printError("Transfer failed: \(HumanFormat.sentence(text)) The job was cancelled.")
            }
            summary = [JobProperty.id.name: job.id, JobProperty.state.name: "error", JobProperty.errorCode.name: job.errorCode,
                       JobProperty.errorDescription.name: job.errorDescription]
            return ExitStatus.failed
        case .transientError:
            if job.errorCount != reportedErrorCount {
                reportedErrorCount = job.errorCount
                endBar()
                printError("Waiting: \(HumanFormat.sentence(HumanFormat.error(job) ?? "transient error")) The service retries by itself "
                           + "(after \(job.minimumRetryDelay) s at most); Ctrl-C to stop.")
            }
        case .acknowledged, .cancelled:
            endBar()
            return finish(status: ExitStatus.failed, message: "The job was \(job.state.rawValue) by someone else.")
        case .suspended where lastState != nil && lastState != .suspended:
            endBar()
            printError("The job was suspended; waiting until it is resumed (bitsctl resume \(job.id)).")
        default:
            draw(job, final: false)
        }
        return nil
    }

    private mutating func interrupted() async throws -> Int32 {
        endBar()
        switch onInterrupt {
        case .cancel:
            try? await job.cancel()
            printError("Interrupted: the job was cancelled.")
        case .keep:
            printError("Interrupted: the job \(job.id) goes on in the background (bitsctl info \(job.id)).")
        }
        return ExitStatus.interrupted
    }

    private func finish(status: Int32, message: String) -> Int32 {
        printError(message)
        return status
    }

    /// Seconds on the monotonic clock (the interval between two readings counts).
    private static func uptime() -> Double { Double(SystemClock.monotonicNanoseconds()) / 1e9 }

    private mutating func draw(_ job: JobProperties, final: Bool) {
        guard showBar else { return }
        let elapsed = Self.uptime() - started
        // The service's live rate and time left while transferring; the average at the end.
        let mean = elapsed > 0 ? Double(job.bytesTransferred) / elapsed : nil
        let average = mean.map { $0 < Double(UInt64.max) ? UInt64($0) : UInt64.max }
        let transferring = job.state == .transferring
        let line = ProgressBar.line(transferred: job.bytesTransferred, total: job.bytesTotal,
                                    bytesPerSecond: final ? average : (transferring ? job.bytesPerSecond : nil),
                                    secondsRemaining: transferring ? job.estimatedTimeRemaining : nil, finished: final)
        Terminal.writeError("\r" + line + "\u{1B}[K" + (final ? "\n" : ""))
        barVisible = !final
    }

    private mutating func endBar() {
        if barVisible { Terminal.writeError("\n"); barVisible = false }
    }
}
