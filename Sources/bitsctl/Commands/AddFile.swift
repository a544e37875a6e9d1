import ArgumentParser
import BitsClient

/// `bitsctl add-file`: one file (bitsadmin /addfile).
struct AddFile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add a file: download REMOTE to LOCAL, or upload LOCAL to REMOTE (upload jobs).")

    @OptionGroup var job: JobArgument
    @Argument(help: "The URL (http, https, or file for downloads).")
    var remote: String
    @Argument(help: "The local file (relative names are taken from the current directory).")
    var local: String
    @Option(name: .long, help: ArgumentHelp("The SHA-256 the downloaded file must have (64 hex digits): its ExpectedHash.",
                                            valueName: "hex"))
    var sha256: String?
    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        if let sha256 { _ = try ExpectedHashOption.value(sha256) }
    }

    func run() async throws {
        try await reportingErrors {
            let client = try connection.connect()
            let handle = try await JobReference.resolve(job.job, client: client)
            let file: BitsFile
            if let sha256 {
                // One call: the file is never there without its hash.
                let added = try await handle.addFiles([(remote: remote, local: absolutePath(local),
                                                        expectedHash: try ExpectedHashOption.value(sha256))])
                file = added[0]
            } else {
                file = try await handle.addFile(remote: remote, local: absolutePath(local))
            }
            print(file.path)
        }
    }
}

/// `--sha256 HEX`: the ExpectedHash `sha256:<hex>` (checked again by the service).
enum ExpectedHashOption {
    static func value(_ hex: String) throws -> String {
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ $0 < 0x80 && Character(Unicode.Scalar($0)).isHexDigit }) else {
            throw ValidationError("--sha256 wants 64 hex digits, not \"\(hex.prefix(80))\".")
        }
        return "sha256:\(hex.lowercased())"
    }
}
