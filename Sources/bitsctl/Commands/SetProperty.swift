import ArgumentParser
import BitsClient

/// `bitsctl set`: one writable property of a job or file (bitsadmin /setpriority, …).
struct SetProperty: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Change a writable property of a job (or of its file with --file).",
        discussion: """
        Values are typed as the property: text, numbers (decimal or 0x hex), true/false, or \
        several arguments for lists (NotifyCommandLine, CustomHeaders; none clears the list). \
        Examples: `bitsctl set JOB Priority high`, `bitsctl set JOB NotifyCommandLine /usr/bin/notify-send done`, \
        `bitsctl set JOB --file 0 RemoteName https://mirror/a.iso`.
        """)

    @OptionGroup var job: JobArgument
    @Argument(help: "The property's D-Bus name.")
    var property: String
    @Argument(help: "The value (several for list properties; put `--` before values that start with -).")
    var values: [String] = []
    @Option(name: .long, help: "The file's 0-based index, for file properties (RemoteName, ValidationState).")
    var file: Int?
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let types = file == nil ? BitsJob.Setting.writableJobProperties : BitsJob.Setting.writableFileProperties
        let setting: BitsJob.Setting
        do {
            setting = try BitsJob.Setting.parse(name: property, arguments: values, types: types)
        } catch let error as BitsClientError {
            throw ValidationError(error.message)
        }
        try await reportingErrors {
            let handle = try await JobReference.resolve(job.job, client: connection.connect())
            if let file {
                let target = try await FileSelection.file(file, of: handle)
                if setting.name == FileProperty.remoteName.name {
                    try await target.setRemoteName(setting.value.stringValue ?? "")
                } else {
                    try await target.setValidationState(setting.value.stringValue ?? "")
                }
            } else {
                try await handle.set(setting)
            }
        }
    }
}
