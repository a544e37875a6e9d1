import BitsCore
import BitsSystem

/// Size and modification time (ns since the epoch) of an open upload source, to notice
/// changes. A modification time whose nanoseconds do not fit 64 bits (after 2262, e.g. `touch -d @100000000000000`) saturates
/// (`UploadState.modifiedStamp`) instead of trapping the daemon at AddFile.
enum SourceStamp {
    /// `descriptor` is borrowed (the queue manager owns it).
    static func of(_ descriptor: Int32) -> (size: UInt64, modified: Int64)? {
        guard let st = try? BorrowedDescriptor(descriptor).status() else { return nil }
        return (st.length, UploadState.modifiedStamp(seconds: st.modifiedSeconds, nanoseconds: st.modifiedNanoseconds))
    }
}
