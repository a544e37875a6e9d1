import Glibc

/// clock_gettime and calendar conversion.
public enum SystemClock {
    /// CLOCK_MONOTONIC in nanoseconds.
    public static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// CLOCK_REALTIME in microseconds since the epoch.
    public static func realtimeMicroseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec / 1000)
    }

    /// The UTC calendar fields of a time in seconds since the epoch (gmtime_r).
    public struct Fields: Sendable, Equatable {
        public let year: Int32
        /// 0 = January.
        public let month: Int32
        public let day: Int32
        public let hour: Int32
        public let minute: Int32
        public let second: Int32

        init(_ parts: tm) {
            year = parts.tm_year + 1900
            month = parts.tm_mon
            day = parts.tm_mday
            hour = parts.tm_hour
            minute = parts.tm_min
            second = parts.tm_sec
        }
    }

    public static func utcFields(epochSeconds: Int64) -> Fields {
        var t = time_t(epochSeconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        return Fields(parts)
    }

    /// The local calendar fields of now (localtime_r, in the TZ of the process).
    public static func localFields() -> Fields {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        return Fields(parts)
    }

    /// The local calendar fields of a time in seconds since the epoch (localtime_r, in the TZ
    /// of the process) and that zone's offset from UTC then, in seconds.
    public static func localFields(epochSeconds: Int64) -> (fields: Fields, utcOffset: Int) {
        var t = time_t(epochSeconds)
        var parts = tm()
        localtime_r(&t, &parts)
        return (Fields(parts), Int(parts.tm_gmtoff))
    }
}
