import ArgumentParser
import BitsSystem
import Dispatch

/// The standard descriptors.
enum StandardStream: Int32 {
    case standardInput = 0, standardOutput = 1, standardError = 2
}

/// Terminal input and output: password prompts without echo, tty checks, Ctrl-C.
enum Terminal {
    static func isTerminal(_ stream: StandardStream) -> Bool { FileDescriptor.isTerminal(stream.rawValue) }

    /// Reads a password from /dev/tty with echo off.
    static func readPassword(prompt: String) throws -> String {
        guard let tty = try? FileDescriptor.open("/dev/tty", [.readWrite, .noControllingTerminal]) else {
            throw ValidationError("No terminal to ask for the password; use --password-stdin.")
        }
        // After the echo is back on (defers run last to first).
        defer { try? tty.writeAll(Array("\n".utf8)) }
        return try tty.withoutEcho {
            try? tty.writeAll(Array(prompt.utf8))
            return readLine(from: tty.borrowed)
        }
    }

    /// One line of standard input (without its newline).
    static func readLine(from stream: StandardStream) -> String { readLine(from: BorrowedDescriptor(stream.rawValue)) }

    /// One line (without its newline), read byte by byte so nothing after it is consumed.
    static func readLine(from input: BorrowedDescriptor) -> String {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while (try? input.read(into: &byte, count: 1)) == 1 {
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
            let sources = SignalSources([ProcessSignals.interrupt, ProcessSignals.terminate].map { number -> DispatchSourceSignal in
                ProcessSignals.ignore(number)
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
        do throws(SystemError) {
            try BorrowedDescriptor(1).writeAll(bytes)
        } catch {
            if error.code == Errno.brokenPipe { ProcessSignals.dieOfBrokenPipe() }
        }
    }

    /// Writes text to stderr unbuffered (progress lines); errors are ignored.
    static func writeError(_ text: String) {
        try? BorrowedDescriptor(2).writeAll(Array(text.utf8))
    }
}

/// The signal sources of `Terminal.interrupts`, cancelled together (DispatchSource is
/// thread-safe but not marked Sendable).
private final class SignalSources: @unchecked Sendable {
    let sources: [DispatchSourceSignal]
    init(_ sources: [DispatchSourceSignal]) { self.sources = sources }
    func cancel() { sources.forEach { $0.cancel() } }
}
