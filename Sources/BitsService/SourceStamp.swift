import BitsCore
import BitsSystem

/// Size and modification time (ns since the epoch) of an open upload source, to notice
/// changes. A modification time whose nanoseconds do not fit 64 bits (after 2262, e.g. `touch -d @100000000000000`) saturates
/// (`UploadState.modifiedStamp`) instead of trapping the daemon at AddFile.
struct SourceStamp: Sendable, Equatable {
    let size: UInt64
    let modified: Int64

    /// fstat of `descriptor` (borrowed), through `files` (which a test can slow down). It can
    /// block on the file's file system: call it on the file workers only, never on the queue
    /// manager's executor.
    static func of(_ descriptor: Int32, files: any OwnerFileAccess) -> SourceStamp? {
        guard let st = try? files.status(BorrowedDescriptor(descriptor)) else { return nil }
        return SourceStamp(size: st.length,
                           modified: UploadState.modifiedStamp(seconds: st.modifiedSeconds, nanoseconds: st.modifiedNanoseconds))
    }
}
