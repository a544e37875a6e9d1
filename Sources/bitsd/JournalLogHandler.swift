import BitsSystem
import Logging

/// A swift-log handler writing one line per message to stderr with the `<N>` syslog
/// priority prefix that journald understands.
struct JournalLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level
    let label: String

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let priority: Int
        switch event.level {
        case .trace, .debug: priority = 7
        case .info: priority = 6
        case .notice: priority = 5
        case .warning: priority = 4
        case .error: priority = 3
        case .critical: priority = 2
        }
        let line = "<\(priority)>\(label): \(event.message)\n"
        try? BorrowedDescriptor(2).writeAll(Array(line.utf8))
    }
}
