/// SplitMix64 (Steele, Lea & Flood 2014): a tiny seeded generator for the property tests, so
/// every generated case reproduces from the seed named in a failure message. (The same
/// struct is in Tests/BitsCoreTests: test targets share no code.)
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number that is often an edge: 0, 1, 2, the top three values, 2^k ± 1, or anything.
    mutating func edgy() -> UInt64 {
        switch next() % 8 {
        case 0: return next() % 3
        case 1: return UInt64.max - next() % 3
        case 2:
            let power = UInt64(1) << (next() % 64)
            return [power &- 1, power, power &+ 1][Int(next() % 3)]
        case 3: return UInt64.max / 2 &+ next() % 3 &- 1
        case 4: return next() % 10_000
        default: return next()
        }
    }

    /// One of `items`.
    mutating func pick<T>(_ items: [T]) -> T { items[Int(next() % UInt64(items.count))] }

    /// A string of `count` characters drawn from `alphabet`.
    mutating func string(from alphabet: String, count: Int) -> String {
        let characters = Array(alphabet)
        return String((0..<count).map { _ in pick(characters) })
    }
}
