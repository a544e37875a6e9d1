/// The enumerations of the D-Bus contract. Raw values are the strings on the bus.

/// What a job transfers (`Type` property, `CreateJob` argument).
public enum JobType: String, Sendable, CaseIterable, Codable {
    case download
    case upload
    case uploadReply = "upload-reply"
}

/// A job's state (`State` property); see bits-reference §1.2.
public enum JobState: String, Sendable, CaseIterable, Codable {
    case queued, connecting, transferring, suspended, error
    case transientError = "transient-error"
    case transferred, acknowledged, cancelled

    /// Acknowledged and cancelled jobs refuse every call and leave the queue.
    public var isFinal: Bool { self == .acknowledged || self == .cancelled }
    /// States in which the scheduler may (or does) run the job.
    public var isActive: Bool { self == .queued || self == .connecting || self == .transferring }
}

/// Job priority (`Priority` property); `foreground` runs at once, the others in the background.
public enum JobPriority: String, Sendable, CaseIterable, Codable {
    case foreground, high, normal, low

    /// Lower rank runs first.
    public var rank: Int {
        switch self { case .foreground: 0; case .high: 1; case .normal: 2; case .low: 3 }
    }
    public var isBackground: Bool { self != .foreground }
}

/// Where an error happened (`ErrorContext` property); bits-reference §3.2.
public enum ErrorContext: String, Sendable, CaseIterable, Codable {
    case none, unknown
    case generalQueueManager = "general-queue-manager"
    case queueManagerNotification = "queue-manager-notification"
    case localFile = "local-file"
    case remoteFile = "remote-file"
    case generalTransport = "general-transport"
    case remoteApplication = "remote-application"
}
