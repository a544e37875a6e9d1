import BitsCore

/// One upload job's conversation with the server over the BITS Upload Protocol, as a pure
/// state machine: given the file's upload state and the Acks (as `UploadProtocol` interprets
/// them) it says which packet comes next, or that the reply is to be downloaded, the upload
/// is done or has failed. No descriptors, no engine, no clock: the queue manager sends the
/// packets, keeps the source open and publishes and stores what the steps say changed.
struct UploadSession: Sendable, Equatable {
    /// The packet sent last (or to send by `start`).
    private(set) var packet: UploadProtocol.Packet = .ping
    private(set) var sizer = UploadProtocol.FragmentSizer()
    /// The name the fragments carry (`Content-Name`).
    let contentName: String?
    /// Where the file comes from, for error descriptions.
    let path: String

    init(path: String) {
        self.path = path
        contentName = OwnerFiles.split(path).name
    }

    /// What the queue manager does next.
    enum Action: Equatable {
        /// Send `packet` (an exchange with the server).
        case send(UploadProtocol.Packet)
        /// The server has the whole file; an upload-reply job downloads its reply before
        /// Close-Session.
        case downloadReply
        /// Close-Session was acknowledged (or the server forgot a session that had it all).
        case finish
        /// The upload fails with this (transient or fatal, as classified).
        case fail(TransferFailure)
    }

    /// One step: the action and what it changed of the file.
    struct Step: Equatable {
        var action: Action
        /// The file's upload state or acknowledged bytes changed in a way to store now.
        var persist = false
        /// The server acknowledged new bytes (progress: NoProgressTimeout, notifications).
        var progressed = false
        /// A progress checkpoint is due (a fragment acknowledged, more to send).
        var checkpoint = false
        /// The server lost the session; a new one starts from 0.
        var sessionLost = false
    }

    /// The file the steps change: its upload state and the bytes the server acknowledged
    /// (`BytesTransferred`).
    struct File: Equatable {
        var state: UploadState
        var acknowledged: UInt64
        /// The job's URL, against which a relative `BITS-Reply-URL` is resolved.
        var remoteName: String
        /// An upload-reply job whose reply is not downloaded yet.
        var expectsReply: Bool

        var needsReply: Bool { expectsReply && state.replyURL != nil }
        var total: UInt64 { state.sourceSize }
    }

    /// Starts (or resumes) the upload: Ping for a new session, else the next fragment from
    /// the acknowledged offset, the reply or Close-Session when the server has everything.
    mutating func start(_ file: File) -> Action {
        guard let session = file.state.sessionID else { return send(.ping) }
        if file.acknowledged >= file.total {
            return file.needsReply ? .downloadReply : send(.closeSession(sessionID: session))
        }
        return send(fragment(session, offset: file.acknowledged, file))
    }

    /// The reply is in: close the session.
    mutating func replyDone(_ file: File) -> Action {
        send(.closeSession(sessionID: file.state.sessionID ?? ""))
    }

    /// The Ack to the last packet, interpreted; `elapsed` is how long the packet took
    /// (fragment sizes adapt to it).
    mutating func advance(_ result: UploadProtocol.Outcome, file: inout File, elapsed: Duration) -> Step {
        switch result {
        case .pinged:
            return Step(action: send(.createSession))
        case .sessionCreated(let session):
            file.state.sessionID = session.id
            file.state.hostID = session.hostID
            file.state.hostIDFallbackTimeout = session.hostIDFallbackTimeout
            file.state.hostFailingSince = nil
            file.acknowledged = 0
            return Step(action: send(fragment(session.id, offset: 0, file)), persist: true)
        case let .fragmentAccepted(next, complete, replyURL):
            if case let .fragment(_, _, length, _, _) = packet {
                sizer.recordAcknowledged(length: length, elapsed: elapsed)
            }
            file.acknowledged = next
            if let replyURL {
                file.state.replyURL = UploadProtocol.resolveReplyURL(replyURL, requestURL: file.remoteName)
            }
            guard complete else {
                return Step(action: send(fragment(file.state.sessionID ?? "", offset: next, file)),
                            progressed: true, checkpoint: true)
            }
            let action = file.needsReply ? Action.downloadReply : send(.closeSession(sessionID: file.state.sessionID ?? ""))
            return Step(action: action, persist: true, progressed: true)
        case .resync(let next):
            file.acknowledged = next
            let session = file.state.sessionID ?? ""
            return Step(action: send(next >= file.total ? .closeSession(sessionID: session)
                                                        : fragment(session, offset: next, file)))
        case .shrinkFragment:
            if case let .fragment(session, offset, length, _, _) = packet, sizer.recordTooLarge(failedLength: length) {
                return Step(action: send(fragment(session, offset: offset, file)))
            }
            return Step(action: .fail(.classified(ClassifiedFailure(
                disposition: .fatal, context: .remoteFile, code: .uploadTooLarge,
                description: "The server refused even the smallest fragment of '\(path)' as too large.", retryAfterSeconds: nil))))
        case .sessionNotFound:
            if case .closeSession = packet, file.acknowledged >= file.total {
                // The server had the whole file and has forgotten the session: done.
                return Step(action: .finish)
            }
            file.state.sessionID = nil
            file.acknowledged = 0
            return Step(action: send(.createSession), persist: true, sessionLost: true)
        case .sessionClosed:
            return Step(action: .finish)
        case .failed(let failure):
            return Step(action: .fail(.classified(failure.classified)))
        }
    }

    private mutating func send(_ next: UploadProtocol.Packet) -> Action {
        packet = next
        return .send(next)
    }

    private func fragment(_ session: String, offset: UInt64, _ file: File) -> UploadProtocol.Packet {
        .fragment(sessionID: session, offset: offset, length: sizer.length(at: offset, total: file.total),
                  total: file.total, contentName: contentName)
    }
}
