import BitsCore

/// Facts about a caller's process from `/proc/<pid>/status` (procfs: reading it never blocks
/// on anything the caller controls).
enum ProcessStatus {
    /// The process's umask (`Umask:` line, octal), nil when the process is gone or the line
    /// is missing or malformed.
    static func umask(pid: UInt32) -> UInt32? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        return umask(statusText: text)
    }

    /// Parses the `Umask:` line of a status file.
    static func umask(statusText text: String) -> UInt32? {
        for line in text.split(separator: "\n") where line.hasPrefix("Umask:") {
            let digits = line.dropFirst("Umask:".count).trimmingBlanks()
            guard !digits.isEmpty, digits.count <= 4, let value = UInt32(digits, radix: 8) else { return nil }
            return value & 0o777
        }
        return nil
    }
}
