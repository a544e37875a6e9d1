// bits-example-download URL DEST: downloads one file through bitsd with BitsClient,
// printing progress from the job's signals, and completes the job.
import BitsClient
import Foundation

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    print("usage: bits-example-download URL DEST")
    exit(64)
}
let url = arguments[1]
let destination = URL(fileURLWithPath: arguments[2]).path  // AddFile needs an absolute path

do {
    let bits = try BitsClient()                      // the system bus
    let job = try await bits.createJob(displayName: "example download")
    try await job.addFile(remote: url, local: destination)
    try await job.set(.priority(.foreground))
    try await job.resume()

    for try await update in job.updates() {
        guard case .properties(let status) = update else { continue }
        switch status.state {
        case .transferred:
            try await job.complete()
            print("saved \(destination) (\(status.bytesTransferred) bytes)")
            exit(0)
        case .error:
            print("failed: \(status.errorCode): \(status.errorDescription)")
            try await job.cancel()
            exit(1)
        case .transientError:
            print("waiting: \(status.errorCode): \(status.errorDescription) (the service retries)")
        default:
            let total = status.bytesTotal.map(String.init) ?? "?"
            print("\(status.state.rawValue): \(status.bytesTransferred) / \(total) bytes")
        }
    }
    print("failed: the job went away")
    exit(1)
} catch let error as BitsClientError {
    print("failed: \(error.message) (\(error.code))")
    exit(1)
}
