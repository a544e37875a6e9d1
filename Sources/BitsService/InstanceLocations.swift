import BitsSystem
import FoundationEssentials

/// Where an instance of the daemon keeps its queue and reads its configuration: the system
/// service in /var/lib/bits and /etc/bits; a per-user instance (`--session`) by the XDG base
/// directory specification, in `$XDG_STATE_HOME/bits` (default `~/.local/state/bits`) with
/// `$XDG_CONFIG_HOME/bits/bitsd.conf` (default `~/.config/…`) when the user has one, else
/// the system's configuration.
public struct InstanceLocations: Sendable, Equatable {
    public let stateDirectory: String
    public let config: String

    public static let systemConfig = "/etc/bits/bitsd.conf"
    public static let system = InstanceLocations(stateDirectory: "/var/lib/bits", config: systemConfig)

    /// The per-user locations from `environment` (XDG variables that are not absolute paths
    /// are ignored, as the specification says); `HOME` falls back to the user database.
    public static func perUser(environment: [String: String],
                        home: () -> String? = { UserDatabase.home(uid: SystemPaths.effectiveUID) },
                        exists: (String) -> Bool = { FileManager.default.fileExists(atPath: $0) }) -> InstanceLocations {
        func absolute(_ name: String) -> String? {
            guard let value = environment[name], value.hasPrefix("/") else { return nil }
            return value
        }
        let homeDirectory = absolute("HOME") ?? home() ?? "/"
        let state = absolute("XDG_STATE_HOME") ?? homeDirectory + "/.local/state"
        let userConfig = (absolute("XDG_CONFIG_HOME") ?? homeDirectory + "/.config") + "/bits/bitsd.conf"
        return InstanceLocations(stateDirectory: state + "/bits", config: exists(userConfig) ? userConfig : systemConfig)
    }

    public init(stateDirectory: String, config: String) {
        self.stateDirectory = stateDirectory
        self.config = config
    }
}
