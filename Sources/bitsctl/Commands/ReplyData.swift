import ArgumentParser
import BitsClient

/// `bitsctl reply-data` (bitsadmin /getreplydata): the upload-reply server's answer.
struct ReplyData: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write an upload-reply job's reply (≤ 1 MiB) to standard output.")

    @OptionGroup var job: JobArgument
    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await reportingErrors {
            let data = try await JobReference.resolve(job.job, client: connection.connect()).replyData()
            if output.json {
                var object: [String: Any] = ["Size": data.count, "Base64": Base64.encode(data)]
                if let text = String(validating: data, as: UTF8.self) { object["Text"] = text }
                JSONOutput.print(object)
            } else {
                Terminal.writeOut(bytes: data)
            }
        }
    }
}
