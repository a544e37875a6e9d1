/// A job's live transfer rate and time left (the `BytesPerSecond` and `EstimatedTimeRemaining`
/// properties): runtime values, never stored (`Job.transferRate`).
public struct TransferRate: Sendable, Equatable {
    public var bytesPerSecond: UInt64
    /// Seconds; `UInt64.max` when unknown.
    public var secondsRemaining: UInt64

    public init(bytesPerSecond: UInt64, secondsRemaining: UInt64) {
        self.bytesPerSecond = bytesPerSecond
        self.secondsRemaining = secondsRemaining
    }

    /// Not transferring: no rate, no estimate.
    public static let idle = TransferRate(bytesPerSecond: 0, secondsRemaining: .max)
}

extension TransferRate: Codable {
    // Present only because `Job` is Codable: `Job` never writes it and always reads it as
    // `.idle` (the container overloads below); a stand-alone value codes as nothing.
    public init(from decoder: Decoder) throws { self = .idle }
    public func encode(to encoder: Encoder) throws {}
}

extension KeyedEncodingContainer {
    /// A `TransferRate` is not stored: `Job`'s synthesized encoding writes no key for it.
    public mutating func encode(_ value: TransferRate, forKey key: Key) throws {}
}

extension KeyedDecodingContainer {
    /// A `TransferRate` is never read from a document: `.idle`.
    public func decode(_ type: TransferRate.Type, forKey key: Key) throws -> TransferRate { .idle }
}

extension JobProperty {
    /// The live rate properties, published with the progress counters.
    public static let rate: Set<JobProperty> = [.bytesPerSecond, .estimatedTimeRemaining]
}

/// Measures a transfer's rate from samples of (monotonic time, bytes transferred): the bytes
/// gained over a window of about `window` milliseconds (from the newest sample back to the
/// last sample at or before the window's start, so sparse samples still span the window).
/// Bytes going down (a file restarting from 0) starts over; `reset` when the transfer stops.
/// Pure; every operation on the bytes is checked or saturating (they are the servers' word).
public struct TransferRateMeter: Sendable, Equatable {
    /// Milliseconds of progress the rate is taken over.
    public let window: UInt64
    /// Samples closer together than this replace the newest one (bounds the samples kept).
    public let resolution: UInt64
    private(set) var samples: [(time: UInt64, bytes: UInt64)] = []

    public init(window: UInt64 = 5_000, resolution: UInt64 = 100) {
        self.window = max(window, 1)
        self.resolution = resolution
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.window == rhs.window && lhs.resolution == rhs.resolution
            && lhs.samples.elementsEqual(rhs.samples) { $0.time == $1.time && $0.bytes == $1.bytes }
    }

    /// How many samples are kept (at most about window / resolution + 2).
    public var sampleCount: Int { samples.count }

    /// Forgets every sample (the job stopped transferring).
    public mutating func reset() { samples.removeAll() }

    /// `bytes` transferred so far at `time` (monotonic milliseconds). A time before the
    /// newest sample's is taken as the newest's.
    public mutating func record(bytes: UInt64, at time: UInt64) {
        let time = max(time, samples.last?.time ?? 0)
        if let last = samples.last, bytes < last.bytes { samples.removeAll() }
        if samples.count >= 2, time.subtractingSaturating(samples[samples.count - 2].time) < resolution {
            samples[samples.count - 1] = (time, bytes)
        } else {
            samples.append((time, bytes))
        }
        // Keep one sample at or before the window's start; drop those before it.
        let start = time.subtractingSaturating(window)
        if let keep = samples.lastIndex(where: { $0.time <= start }), keep > 0 {
            samples.removeFirst(keep)
        }
    }

    /// Bytes per second over the window; 0 until two samples span some time.
    public var bytesPerSecond: UInt64 {
        guard let first = samples.first, let last = samples.last, last.time > first.time else { return 0 }
        let gained = last.bytes.subtractingSaturating(first.bytes)
        let span = last.time - first.time
        // gained * 1000 / span in full width: exact, and saturating when it does not fit.
        let product = gained.multipliedFullWidth(by: 1000)
        guard product.high < span else { return .max }
        return span.dividingFullWidth(product).quotient
    }

    /// Seconds to transfer what is left of `total` at the current rate, rounded up;
    /// `UInt64.max` when the total is unknown (nil) or the rate is 0.
    public func secondsRemaining(total: UInt64?, transferred: UInt64) -> UInt64 {
        let rate = bytesPerSecond
        guard let total, rate > 0 else { return .max }
        let left = total.subtractingSaturating(transferred)
        let (quotient, remainder) = left.quotientAndRemainder(dividingBy: rate)
        return remainder == 0 ? quotient : quotient.addingSaturating(1)
    }

    /// The rate and the time left of `total`.
    public func rate(total: UInt64?, transferred: UInt64) -> TransferRate {
        TransferRate(bytesPerSecond: bytesPerSecond, secondsRemaining: secondsRemaining(total: total, transferred: transferred))
    }
}
