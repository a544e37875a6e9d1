import ArgumentParser
import Dispatch
import Foundation

/// Terminal input and output: password prompts without echo, tty checks, Ctrl-C.
enum Terminal {
    static func isTerminal(_ handle: FileHandle) -> Bool { isatty(handle.fileDescriptor) == 1 }

    /// Reads a password from /dev/tty with echo off.
    static func readPassword(prompt: String) throws -> String {
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY)
        guard fd >= 0 else {
            throw ValidationError("No terminal to ask for the password; use --password-stdin.")
        }
        defer { close(fd) }
        var saved = termios()
        tcgetattr(fd, &saved)
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(fd, TCSAFLUSH, &quiet)
        defer { tcsetattr(fd, TCSAFLUSH, &saved); _ = write(fd, "\n", 1) }
        _ = prompt.withCString { write(fd, $0, strlen($0)) }
        return try readLine(from: FileHandle(fileDescriptor: fd, closeOnDealloc: false))
    }

    /// One line (without its newline), read byte by byte so nothing after it is consumed.
    static func readLine(from handle: FileHandle) throws -> String {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while read(handle.fileDescriptor, &byte, 1) == 1 {
            if byte == UInt8(ascii: "\n") { break }
            bytes.append(byte)
        }
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Ctrl-C (SIGINT) and SIGTERM as an async sequence; the default action (dying) is
    /// replaced for as long as the program runs.
    static func interrupts() -> AsyncStream<Int32> {
        AsyncStream { continuation in
            let sources = SignalSources([SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler { continuation.yield(number) }
                source.resume()
                return source
            })
            continuation.onTermination = { _ in sources.cancel() }
        }
    }

    /// Writes text to stdout unbuffered (event lines that a pipe must see at once). On a
    /// closed pipe (`bitsctl list --json | head`) the program ends by SIGPIPE, quietly, as
    /// other command-line tools do.
    static func writeOut(_ text: String) { writeOut(bytes: Array(text.utf8)) }

    static func writeOut(bytes: [UInt8]) {
        if !writeAll(1, bytes) && errno == EPIPE {
            signal(SIGPIPE, SIG_DFL)
            raise(SIGPIPE)
        }
    }

    /// Writes text to stderr unbuffered (progress lines); errors are ignored.
    static func writeError(_ text: String) {
        _ = writeAll(2, Array(text.utf8))
    }

    private static func writeAll(_ fd: Int32, _ data: [UInt8]) -> Bool {
        var bytes = data[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            bytes = bytes.dropFirst(written)
        }
        return true
    }
}

/// The signal sources of `Terminal.interrupts`, cancelled together (DispatchSource is
/// thread-safe but not marked Sendable).
private final class SignalSources: @unchecked Sendable {
    let sources: [DispatchSourceSignal]
    init(_ sources: [DispatchSourceSignal]) { self.sources = sources }
    func cancel() { sources.forEach { $0.cancel() } }
}
