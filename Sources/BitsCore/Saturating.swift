/// Saturating arithmetic for numbers that come from outside the process (servers, files,
/// D-Bus callers, the database): the result stops at the type's bounds instead of trapping.
/// See docs/arithmetic-audit.md for where each is used.
extension FixedWidthInteger {
    /// `self + other`, or the bound it ran past.
    @inlinable
    public func addingSaturating(_ other: Self) -> Self {
        let (sum, overflow) = addingReportingOverflow(other)
        guard overflow else { return sum }
        return other < 0 ? .min : .max
    }

    /// `self - other`, or the bound it ran past (0 for an unsigned difference below zero).
    @inlinable
    public func subtractingSaturating(_ other: Self) -> Self {
        let (difference, overflow) = subtractingReportingOverflow(other)
        guard overflow else { return difference }
        return other < 0 ? .max : .min
    }

    /// `self * other`, or the bound it ran past.
    @inlinable
    public func multipliedSaturating(by other: Self) -> Self {
        let (product, overflow) = multipliedReportingOverflow(by: other)
        guard overflow else { return product }
        return (self < 0) != (other < 0) ? .min : .max
    }
}

extension Sequence where Element: FixedWidthInteger {
    /// The sum of the elements, stopping at `Element.max` (or `.min`) instead of trapping.
    @inlinable
    public func saturatingSum() -> Element {
        reduce(0) { $0.addingSaturating($1) }
    }
}
