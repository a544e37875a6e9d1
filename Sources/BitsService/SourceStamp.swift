import BitsCore
import Foundation

/// Size and modification time (ns since the epoch) of an open upload source, to notice
/// changes. A modification time whose nanoseconds do not fit 64 bits (after 2262, e.g. `touch -d @100000000000000`) saturates
/// (`UploadState.modifiedStamp`) instead of trapping the daemon at AddFile.
enum SourceStamp {
    static func of(_ descriptor: Int32) -> (size: UInt64, modified: Int64)? {
        var st = stat()
        guard fstat(descriptor, &st) == 0 else { return nil }
        return (UInt64(clamping: st.st_size),
                UploadState.modifiedStamp(seconds: Int64(st.st_mtim.tv_sec), nanoseconds: Int64(st.st_mtim.tv_nsec)))
    }
}
