import ArgumentParser
import BitsBus
import BitsCore
import BitsDBus
import BitsService
import BitsStore
import BitsSystem
import Dispatch
import FoundationEssentials
import Logging

/// bitsd — the Background Intelligent Transfer Service daemon.
struct BitsDaemon: ParsableCommand {
    static let version = "0.1.0"
    static let configuration = CommandConfiguration(
        commandName: "bitsd",
        abstract: "Background transfer service for Linux (org.example.Bits on D-Bus).",
        version: version)

    @Flag(name: .long, help: "Serve on the system bus (the default).")
    var system = false
    @Flag(name: .long, help: "Run as the per-user instance of the user who starts it, on the session bus: that user alone, no administrators, state in $XDG_STATE_HOME/bits.")
    var session = false
    @Option(name: .long, help: "Serve on the bus at this D-Bus address.")
    var address: String?
    @Option(name: .long, help: "Directory for the job database (default /var/lib/bits; with --session $XDG_STATE_HOME/bits).")
    var stateDirectory: String?
    @Option(name: .long, help: "Configuration file (INI; default /etc/bits/bitsd.conf; with --session $XDG_CONFIG_HOME/bits/bitsd.conf if there is one).")
    var config: String?
    @Option(name: .long, help: "Serve the interface XML files of this directory instead of those compiled in (they must declare the same contract).")
    var interfaceDirectory: String?
    @Option(name: .long, help: "Take the network state from this file (lines available=…, metered=…) instead of the system's network monitor.")
    var networkStateFile: String?
    @Option(name: .long, help: ArgumentHelp("Read the kernel's boot id from this file (tests simulate a reboot with it).", visibility: .hidden))
    var bootIdFile = "/proc/sys/kernel/random/boot_id"
    @Option(name: .long, help: ArgumentHelp("Test hook: kill the daemon (SIGKILL) when it reaches this crash point.", visibility: .hidden))
    var crashAt: String?
    @Option(name: .long, help: ArgumentHelp("Test hook: fail (EIO) the fsync of every file whose path contains this text.", visibility: .hidden))
    var failFsyncOf: String?
    @Flag(name: .long, help: "Log debug messages.")
    var verbose = false

    func validate() throws {
        if [system, session, address != nil].filter({ $0 }).count > 1 {
            throw ValidationError("Give only one of --system, --session and --address.")
        }
    }

    func run() throws {
        // Block the stop signals before any thread exists (threads inherit the mask), so
        // they reach only the sigwait below.
        ProcessSignals.blockStopSignals()

        let level: Logger.Level = verbose ? .debug : .info
        LoggingSystem.bootstrap { JournalLogHandler(logLevel: level, label: $0) }
        let logger = Logger(label: "bitsd")

        let locations = session ? InstanceLocations.perUser(environment: ProcessInfo.processInfo.environment)
                                : InstanceLocations.system
        let config = self.config ?? locations.config
        let stateDirectory = self.stateDirectory ?? locations.stateDirectory
        let serviceConfig: ServiceConfig
        if let text = try? String(contentsOfFile: config, encoding: .utf8) {
            do {
                serviceConfig = try ServiceConfig.parse(text)
            } catch let error as ServiceConfig.ParseError {
                logger.critical("\(config): \(error)")
                throw ExitCode(78) // EX_CONFIG
            }
        } else {
            if FileManager.default.fileExists(atPath: config) {
                logger.critical("\(config): cannot be read")
                throw ExitCode(78)
            }
            serviceConfig = ServiceConfig()
        }

        // The queue database (created 0600 inside a 0700 directory: it holds credentials).
        let queue: JobStore.Opened
        do {
            let previousMask = ThreadIdentity.exchangeUmask(0o077)
            defer { _ = ThreadIdentity.exchangeUmask(previousMask) }
            queue = try JobStore.open(stateDirectory: stateDirectory) { critical, line in
                if critical { logger.critical("\(line)") } else { logger.warning("\(line)") }
            }
        } catch {
            logger.critical("cannot open the queue in \(stateDirectory): \(error)")
            throw ExitCode.failure
        }

        let bus: BusAddress = address.map { .address($0) } ?? (session ? .session : .system)
        // The test hooks reach the queue manager through its injected file access and crash points.
        let files: any OwnerFileAccess = failFsyncOf.map { FsyncFailingFiles(failingPathsContaining: $0) } ?? OwnerFiles()
        let crashPoints: any CrashPoints = crashAt.map { KillingCrashPoint(point: $0) } ?? NoCrashPoints()
        let manager = QueueManager(config: serviceConfig, userAgent: "bitsd/\(Self.version)", logger: logger,
                                   files: files, crashPoints: crashPoints)
        let service: BusService
        do {
            service = try BusService(manager: manager, interfaceDirectory: interfaceDirectory,
                                     version: Self.version, logger: logger,
                                     servedUser: session ? SystemPaths.effectiveUID : nil)
        } catch {
            logger.critical("\(error)")
            throw ExitCode.failure
        }


        let ready = DispatchSemaphore(value: 0)
        let startError = LockedBox<Error?>(nil)
        Task {
            await manager.start(observer: service)
            do {
                try service.connect(address: bus)
                let monitors = service.monitors(networkStateFile: networkStateFile)
                await manager.watch(network: monitors.network, power: monitors.power)
                let bootID = (try? String(contentsOfFile: bootIdFile, encoding: .utf8))?
                    .trimmingWhitespaceAndNewlines()
                await manager.restore(queue, bootID: bootID.flatMap { $0.isEmpty ? nil : $0 })
                try service.serve()
            } catch {
                startError.value = error
            }
            ready.signal()
        }
        ready.wait()
        if let error = startError.value {
            logger.critical("\(error)")
            throw ExitCode.failure
        }
        // The main thread only waits for a stop signal (nothing here uses the main queue).
        let received = ProcessSignals.waitForStopSignal()
        logger.info("stopping on signal \(received)")
        service.stop()
        manager.stop()
        CurrentProcess.exit(0)
    }
}

/// A value shared between the start-up task and the main thread.
final class LockedBox<T>: @unchecked Sendable {
    private let lock = ConditionLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

BitsDaemon.main()
