import ArgumentParser
import BitsClient

/// Which bus to use; the system bus by default (`DBUS_SYSTEM_BUS_ADDRESS` honoured).
struct ConnectionOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Connect to this D-Bus address instead of the system bus.", valueName: "address"))
    var address: String?

    @Flag(name: .long, help: "Connect to the session bus (a bitsd started with --session).")
    var session = false

    /// Connects, mapping failure to the "service unavailable" exit status.
    func connect() throws -> BitsClient {
        let bus: BusAddress = address.map { .address($0) } ?? (session ? .session : .system)
        return try BitsClient(bus: bus)
    }
}

/// `--json` for read commands.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false
}
