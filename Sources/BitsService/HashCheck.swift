import BitsCore
import BitsTransfer

/// What a finished download's digests say about its file (verified downloads): it matches
/// its `ExpectedHash` and every digest the server announced for the whole file, or it does
/// not — then the file is fetched once more from 0, and a second mismatch fails the job with
/// `hash-mismatch`. Pure: the queue manager applies the verdict.
struct HashCheck: Equatable {
    enum Verdict: Equatable {
        /// Nothing contradicts the file.
        case verified
        /// A first mismatch: the file starts over from 0 (its count of mismatches is now 1).
        case refetch(String)
        /// A second mismatch: the job fails with this description (the count is cleared).
        case fail(String)
    }

    /// How many mismatches make the job fail.
    static let mismatchesAllowed = 2

    /// Judges file `index` of job `jobID` by `digests` (computed while it was written; nil
    /// if none were) and `announced` (the server's digest fields for the whole file).
    static func judge(_ file: JobFile, index: Int, jobID: JobID, digests: ComputedDigests?,
                      announced: [FileHash]) -> Verdict {
        guard let mismatch = mismatch(file, index: index, jobID: jobID, digests: digests, announced: announced) else {
            return .verified
        }
        return Int(file.hashMismatches ?? 0) + 1 >= mismatchesAllowed ? .fail(mismatch) : .refetch(mismatch)
    }

    /// The description of the first digest the file contradicts, if any.
    private static func mismatch(_ file: JobFile, index: Int, jobID: JobID, digests: ComputedDigests?,
                                 announced: [FileHash]) -> String? {
        let name = "File \(index) of job \(jobID) (\(file.remoteName))"
        if let expected = file.expectedHash {
            let computed = digests?.value(for: expected.algorithm)
            if computed != expected {
                return "\(name) does not match its ExpectedHash: expected \(expected.text), computed \(computed?.text ?? "none")."
            }
        }
        for expected in announced {
            guard let computed = digests?.value(for: expected.algorithm) else { continue }
            if computed != expected {
                return "\(name) does not match the server's digest field: expected \(expected.text), computed \(computed.text)."
            }
        }
        return nil
    }
}
