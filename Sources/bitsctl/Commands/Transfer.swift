import ArgumentParser
import BitsClient

/// `bitsctl transfer`: create, add, resume, wait with a progress bar, complete — in one go
/// (bitsadmin /transfer, Start-BitsTransfer without -Asynchronous).
struct Transfer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download (or upload) files now and wait, with a progress bar; completes the job when done.",
        discussion: """
        Arguments are SOURCE DEST pairs: `bitsctl transfer URL FILE [URL FILE ...]`, or several \
        URLs and one existing directory: `bitsctl transfer URL... DIR/`. With --upload: \
        `bitsctl transfer --upload FILE URL` (one file). Transient errors (network, 5xx) are \
        waited through: the service retries by itself. A fatal error cancels the job (unless \
        --keep-on-error) and exits 1. Ctrl-C cancels the job, or keeps it running in the \
        background with --on-interrupt keep, and exits 130.
        """)

    enum Direction: String, EnumerableFlag {
        case download, upload, uploadReply
        var jobType: JobType { self == .download ? .download : (self == .upload ? .upload : .uploadReply) }
    }

    enum InterruptAction: String, ExpressibleByArgument, CaseIterable { case cancel, keep }
    enum ProgressMode: String, ExpressibleByArgument, CaseIterable { case auto, always, never }

    @Flag(help: "Transfer direction (default: --download).")
    var direction: Direction = .download
    @Option(name: .long, help: "foreground (default: now, unthrottled), high, normal or low.")
    var priority: String = "foreground"
    @Option(name: .long, help: "The job's display name.")
    var name: String = "bitsctl transfer"
    @Option(name: .long, help: "What Ctrl-C does to the job: cancel (default) or keep (it goes on in the background).")
    var onInterrupt: InterruptAction = .cancel
    @Option(name: .long, help: "Seconds the service waits before retrying after a transient error (MinimumRetryDelay, ≥ 5; default 600).")
    var retryInterval: UInt32?
    @Option(name: .long, help: "Seconds without progress before a transient error becomes fatal (NoProgressTimeout; default 14 days).")
    var retryTimeout: UInt32?
    @Flag(name: .long, help: "Keep the job (in error) instead of cancelling it when it fails.")
    var keepOnError = false
    @Option(name: .long, help: ArgumentHelp("The SHA-256 (64 hex digits) the downloaded file must have; once per file, in order.",
                                            valueName: "hex"))
    var sha256: [String] = []
    @Option(name: .long, help: "Progress bar on standard error: auto (when it is a terminal), always or never.")
    var progress: ProgressMode = .auto
    @Argument(help: ArgumentHelp("SOURCE DEST pairs, or URLs and a directory.", valueName: "source-and-dest"))
    var paths: [String]
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard JobPriority(rawValue: priority) != nil else {
            throw ValidationError("\"\(priority)\" is not a priority; use foreground, high, normal or low.")
        }
        let pairs = try TransferPairs.make(paths, direction: direction)
        if !sha256.isEmpty {
            guard direction == .download else { throw ValidationError("--sha256 is for downloads.") }
            guard sha256.count == pairs.count else {
                throw ValidationError("\(sha256.count) --sha256 value(s) for \(pairs.count) file(s): give one per file.")
            }
            for hex in sha256 { _ = try ExpectedHashOption.value(hex) }
        }
    }

    func run() async throws {
        let interrupts = Terminal.interrupts()
        let pairs = try TransferPairs.make(paths, direction: direction)
        try await reportingErrors {
            let client = try connection.connect()
            let job = try await client.createJob(displayName: name, type: direction.jobType)
            do {
                if !sha256.isEmpty {
                    let hashes = try sha256.map(ExpectedHashOption.value)
                    try await job.addFiles(zip(pairs, hashes).map { (remote: $0.0.remote, local: $0.0.local, expectedHash: $0.1) })
                } else if pairs.count == 1 {
                    try await job.addFile(remote: pairs[0].remote, local: pairs[0].local)
                } else {
                    try await job.addFiles(pairs)
                }
                try await job.set(.priority(JobPriority(rawValue: priority) ?? .foreground))
                if let retryInterval { try await job.set(.minimumRetryDelay(retryInterval)) }
                if let retryTimeout { try await job.set(.noProgressTimeout(retryTimeout)) }
            } catch {
                try? await job.cancel()
                throw error
            }
            let showBar = progress == .always || (progress == .auto && Terminal.isTerminal(.standardError))
            var watch = TransferWatch(job: job, showBar: showBar, keepOnError: keepOnError, onInterrupt: onInterrupt)
            let status = try await watch.run(interrupts: interrupts)
            if output.json { JSONOutput.print(watch.summary) }
            if status != 0 { throw ExitCode(status) }
        }
    }
}

/// Turns the command line into (remote, local) pairs for AddFile(s).
enum TransferPairs {
    static func make(_ paths: [String], direction: Transfer.Direction) throws -> [(remote: String, local: String)] {
        guard paths.count >= 2 else { throw ValidationError("Give a SOURCE and a DEST.") }
        if direction != .download {
            guard paths.count == 2 else { throw ValidationError("An upload job takes one file: FILE URL.") }
            return [(remote: paths[1], local: absolutePath(paths[0]))]
        }
        if let last = paths.last, LocalPaths.isDirectory(last) {
            return try paths.dropLast().map { url in
                guard let name = LocalPaths.fileName(ofURL: url), !name.isEmpty else {
                    throw ValidationError("Cannot take a file name from \"\(url)\"; give SOURCE DEST pairs.")
                }
                return (remote: url, local: absolutePath(LocalPaths.join(last, name)))
            }
        }
        guard paths.count % 2 == 0 else {
            throw ValidationError("\(paths.count) arguments: give SOURCE DEST pairs, or URLs and an existing directory.")
        }
        return stride(from: 0, to: paths.count, by: 2).map { (remote: paths[$0], local: absolutePath(paths[$0 + 1])) }
    }
}
