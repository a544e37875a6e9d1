/// The byte ranges of one file (AddFileWithRanges): fetched with one HTTP request per range, in
/// order, and written back to back into the destination. Pure, so it is unit-tested without a
/// network.
///
/// Destination offsets count bytes of the ranges only: range k starts in the destination where
/// range k-1 ended. A to-EOF range has an unknown length until a response announced the size
/// of the remote file.
///
/// Offsets come from the caller (D-Bus), the bytes on disk and the server: every sum here
/// saturates at UInt64.max instead of trapping. A position no request can reach (a resume
/// offset beyond what a to-EOF range at the very end of the offset space can hold) puts the
/// request at UInt64.max, which no server can satisfy: the transfer then fails with a range
/// error.
struct RangePlan: Equatable {
    struct Segment: Equatable {
        /// Offset in the remote file.
        var offset: UInt64
        /// Length in bytes; nil for a to-EOF range whose length is not known yet.
        var length: UInt64?
    }

    private(set) var segments: [Segment]
    /// The segment the next request is for; `segments.count` once every segment is complete.
    private(set) var index: Int
    /// Remote offset where the next request starts (inside `segments[index]` when resuming).
    private(set) var requestStart: UInt64
    /// Size of the remote file, once known.
    private(set) var fileSize: UInt64?
    /// Segments that were to-EOF ranges before `resolve` (they are still requested as `a-`).
    private var toEOF: Set<Int> = []

    /// A plan for `ranges` (zero-length ranges are dropped; a range whose end would overflow
    /// reaches to the end of the file), resuming at destination offset `resumeOffset`: whole
    /// ranges before it are skipped, and the request for the range it falls into starts inside
    /// that range.
    init(ranges: [ByteRange], resumeOffset: UInt64) {
        segments = ranges.compactMap { range in
            if range.length == 0 { return nil }
            if range.length == UInt64.max || range.offset > UInt64.max - range.length {
                return Segment(offset: range.offset, length: nil)
            }
            return Segment(offset: range.offset, length: range.length)
        }
        index = segments.count
        requestStart = 0
        position(at: resumeOffset)
    }

    /// Every segment is on disk.
    var isComplete: Bool { index >= segments.count }

    /// Sum of the segment lengths (the destination's final size, saturating), nil while a
    /// length is unknown.
    var totalLength: UInt64? {
        var sum: UInt64 = 0
        for segment in segments {
            guard let length = segment.length else { return nil }
            sum = sum.addingSaturating(length)
        }
        return sum
    }

    /// Destination offset where the next request's bytes go (saturating).
    var requestDestinationOffset: UInt64 {
        var sum: UInt64 = 0
        for segment in segments.prefix(index) { sum = sum.addingSaturating(segment.length ?? 0) }
        guard !isComplete else { return sum }
        return sum.addingSaturating(requestStart.subtractingSaturating(segments[index].offset))
    }

    /// Last remote byte the next request asks for; nil for a to-EOF range of unknown length.
    /// (A segment never ends past UInt64.max: `init` makes such a range to-EOF, and `resolve`
    /// ends one at the file's size.)
    var requestEnd: UInt64? {
        guard !isComplete, let length = segments[index].length else { return nil }
        return segments[index].offset.addingSaturating(length) - 1
    }

    /// Bytes the next request should bring (0 when the request starts past the segment's
    /// end); nil while unknown.
    var requestLength: UInt64? {
        requestEnd.map { $0 >= requestStart ? ($0 - requestStart).addingSaturating(1) : 0 }
    }

    /// CURLOPT_RANGE value of the next request: `a-b`, or `a-` for a to-EOF range.
    var rangeSpec: String {
        guard !isComplete else { return "" }
        if let end = requestEnd, !toEOF.contains(index) { return "\(requestStart)-\(end)" }
        return "\(requestStart)-"
    }

    /// The request spec as written in messages (`bytes a-b`, `bytes a-`).
    var rangeDescription: String { "bytes \(rangeSpec)" }

    /// Learns the size of the remote file: to-EOF lengths become known. Returns a clause
    /// (lower case, without the URL) when a range lies beyond the end of the file, or when the size is
    /// unknown (`nil`) although a to-EOF range needs it. Positions are kept.
    mutating func resolve(fileSize size: UInt64?) -> String? {
        guard let size else {
            if segments.contains(where: { $0.length == nil }) {
                return "the server did not announce the size of the file, which a range to the end of the file needs"
            }
            return nil
        }
        for (i, segment) in segments.enumerated() {
            if let length = segment.length {
                if segment.offset >= size || length > size - segment.offset {
                    return "the range bytes \(segment.offset)-\(segment.offset.addingSaturating(length) - 1) lies beyond the end of the file (\(size) bytes)"
                }
            } else {
                if segment.offset >= size {
                    return "the range from offset \(segment.offset) to the end lies beyond the end of the file (\(size) bytes)"
                }
                segments[i].length = size - segment.offset
                toEOF.insert(i)
            }
        }
        fileSize = size
        return nil
    }

    /// Moves on to the next segment once the current one is complete.
    mutating func advance() {
        guard !isComplete else { return }
        index += 1
        requestStart = isComplete ? 0 : segments[index].offset
    }

    /// Places the next request at destination offset `destination` (the lengths before it
    /// must be known; a to-EOF segment of unknown length takes the rest, up to UInt64.max).
    mutating func position(at destination: UInt64) {
        var start: UInt64 = 0
        for (i, segment) in segments.enumerated() {
            if let length = segment.length, destination - start >= length {
                start += length  // ≤ destination
                continue
            }
            index = i
            requestStart = segment.offset.addingSaturating(destination - start)
            return
        }
        index = segments.count
        requestStart = 0
    }
}
