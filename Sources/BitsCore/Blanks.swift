extension StringProtocol {
    /// The text without blanks at either end: whitespace that is not a line break (space,
    /// tab, no-break space…), as Foundation's `trimmingCharacters(in: .whitespaces)`.
    public func trimmingBlanks() -> String { trimming { $0.isWhitespace && !$0.isNewline } }

    /// The text without whitespace, line breaks included, at either end, as Foundation's
    /// `trimmingCharacters(in: .whitespacesAndNewlines)`.
    public func trimmingWhitespaceAndNewlines() -> String { trimming(\.isWhitespace) }

    private func trimming(_ isDropped: (Character) -> Bool) -> String {
        guard let first = firstIndex(where: { !isDropped($0) }), let last = lastIndex(where: { !isDropped($0) }) else { return "" }
        return String(self[first...last])
    }
}
