import ArgumentParser
import BitsClient

/// `bitsctl monitor` (bitsadmin /monitor): a live view of the jobs, redrawn from the
/// service's signals — no polling. On a terminal it redraws the list in place; otherwise
/// (or with --json) it prints one line per change.
struct Monitor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Watch your jobs change live (every user's with --all-users); Ctrl-C ends.")

    @Flag(name: .long, help: "Every user's jobs (administrators; polkit may ask for a password).")
    var allUsers = false
    @Option(name: .long, help: "Exit after this many changes (for scripts).")
    var maxEvents: Int?
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let interrupts = Terminal.interrupts()
        try await reportingErrors {
            let client = try connection.connect()
            let watch = InterruptibleEvents(client.events(allUsers: allUsers, interactive: true), interrupts: interrupts)
            defer { watch.stop() }

            let live = !output.json && Terminal.isTerminal(.standardOutput)
            var view = MonitorView()
            var count = 0
            for await event in watch.events {
                switch event {
                case .interrupt, .ended(nil): return
                case .ended(let error?): throw error
                case .element(let change):
                    view.apply(change)
                    if live { view.redraw() } else { Self.printLine(change, json: output.json) }
                    if case .snapshot = change { continue }
                    count += 1
                    if let maxEvents, count >= maxEvents { return }
                }
            }
        }
    }

    /// One line per change: `changed {GUID} "name" STATE …`, or its JSON form.
    static func printLine(_ event: ServiceEvent, json: Bool) {
        switch event {
        case .snapshot(let jobs):
            if json { JSONOutput.print(["Event": "snapshot", "Jobs": jobs.map { JSONOutput.job($0.job) }], compact: true) }
            else { jobs.forEach { Terminal.writeOut("listed " + ListJobs.line($0.job) + "\n") } }
        case .jobChanged(let job):
            if json { JSONOutput.print(["Event": "changed", "Job": JSONOutput.job(job)], compact: true) }
            else { Terminal.writeOut("changed " + ListJobs.line(job) + "\n") }
        case .jobRemoved(let path):
            if json { JSONOutput.print(["Event": "removed", "Path": path], compact: true) }
            else { Terminal.writeOut("removed \(path)\n") }
        }
    }
}

/// The jobs shown by a live monitor, redrawn in place on the terminal.
struct MonitorView {
    private var jobs: [String: JobProperties] = [:]

    mutating func apply(_ event: ServiceEvent) {
        switch event {
        case .snapshot(let list): jobs = Dictionary(list.map { ($0.job.path, $0.job) }, uniquingKeysWith: { $1 })
        case .jobChanged(let job): jobs[job.path] = job
        case .jobRemoved(let path): jobs[path] = nil
        }
    }

    func redraw() {
        let ordered = jobs.values.sorted { ($0.creationTime, $0.path) < ($1.creationTime, $1.path) }
        let time = HumanFormat.clock()
        var text = "\u{1B}[H\u{1B}[2J" + "bitsctl monitor: \(ordered.count) job(s), updated \(time) (Ctrl-C to quit)\n\n"
        for job in ordered { text += ListJobs.line(job) + "\n" }
        Terminal.writeOut(text)
    }
}
