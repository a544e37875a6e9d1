import ArgumentParser
import BitsClient

/// `bitsctl set-credentials` (bitsadmin /setcredentials). The password is read from the
/// terminal without echo, or from standard input with --password-stdin — never from argv,
/// where every user could read it in /proc.
struct SetCredentials: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Give the job a user name and password for the server or the proxy.")

    @OptionGroup var job: JobArgument
    @Argument(help: "server or proxy.")
    var target: BitsJob.CredentialTarget
    @Argument(help: "basic, digest, ntlm or negotiate.")
    var scheme: BitsJob.AuthScheme
    @Argument(help: "The user name.")
    var userName: String
    @Flag(name: .long, help: "Read the password from the first line of standard input.")
    var passwordStdin = false
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let password = try passwordStdin ? Terminal.readLine(from: .standardInput)
            : Terminal.readPassword(prompt: "Password for \(userName) (\(target.rawValue), \(scheme.rawValue)): ")
        try await reportingErrors {
            try await JobReference.resolve(job.job, client: connection.connect())
                .setCredentials(target: target, scheme: scheme, userName: userName, password: password)
        }
    }
}

extension BitsJob.CredentialTarget: ExpressibleByArgument {}
extension BitsJob.AuthScheme: ExpressibleByArgument {}
