/// The last error of a job: the `Error*` properties and the `Error` signal.
public struct JobError: Sendable, Equatable, Codable {
    public var context: ErrorContext
    /// Stable symbolic code from the catalog (`ErrorCode`).
    public var code: ErrorCode
    /// One human sentence.
    public var description: String
    /// Index of the file concerned, nil when not tied to a file.
    public var fileIndex: Int?

    public init(context: ErrorContext, code: ErrorCode, description: String, fileIndex: Int? = nil) {
        self.context = context
        self.code = code
        self.description = description
        self.fileIndex = fileIndex
    }
}
