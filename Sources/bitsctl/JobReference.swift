import ArgumentParser
import BitsClient

/// How a command names a job: a GUID (with or without braces), an object path, or a display
/// name that exactly one visible job has.
struct JobArgument: ParsableArguments {
    @Argument(help: ArgumentHelp("The job: GUID, object path or unique display name.", valueName: "job"))
    var job: String
}

enum JobReference {
    static let jobsPrefix = "/org/example/Bits/jobs/"

    /// What kind of name `text` is.
    enum Kind: Equatable {
        case path(String)
        case guid(String)
        case displayName(String)
    }

    static func classify(_ text: String) -> Kind {
        if text.hasPrefix("/") { return .path(text) }
        var hex = text.lowercased()
        if hex.hasPrefix("{") && hex.hasSuffix("}") { hex = String(hex.dropFirst().dropLast()) }
        let digits = hex.replacing("-", with: "")
        // ASCII only (`isHexDigit` also accepts full-width digits); empty groups count, so
        // doubled, leading or trailing dashes make a display name.
        let isGUID = digits.count == 32 && digits.allSatisfy { $0.isASCII && $0.isHexDigit }
            && (hex.count == 32 || hex.split(separator: "-", omittingEmptySubsequences: false).map(\.count) == [8, 4, 4, 4, 12])
        return isGUID ? .guid(text) : .displayName(text)
    }

    /// Finds the job; a display name shared by several jobs is an error listing them.
    static func resolve(_ text: String, client: BitsClient) async throws -> BitsJob {
        switch classify(text) {
        case .path(let path):
            guard path.hasPrefix(jobsPrefix), !path.dropFirst(jobsPrefix.count).contains("/") else {
                throw CommandFailure(message: "\"\(text)\" is not a job object path (\(jobsPrefix)<hex>).",
                                     status: ExitStatus.notFound)
            }
            return client.job(path: path)
        case .guid(let id):
            return try await client.job(id: id)
        case .displayName(let name):
            let matches = try await client.snapshot().filter { $0.job.displayName == name }
            switch matches.count {
            case 1: return client.job(path: matches[0].job.path)
            case 0: throw CommandFailure(message: "No job named \"\(name)\" (give its GUID, path or display name).",
                                         status: ExitStatus.notFound)
            default:
                let ids = matches.map { $0.job.id }.joined(separator: ", ")
                throw CommandFailure(message: "\(matches.count) jobs are named \"\(name)\": \(ids); name one by its GUID.",
                                     status: ExitStatus.notFound)
            }
        }
    }
}

