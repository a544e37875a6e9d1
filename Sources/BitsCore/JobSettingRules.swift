/// The rules for `Properties.Set` on a job: validation, ordering constraints (before the
/// first Resume, before adding files), combinations, and what else changes with it.
public enum JobSettingRules {
    /// Applies `setting` to `job` or throws the error the Set answers with. Returns the
    /// properties that changed.
    public static func apply(_ setting: JobSetting, to job: inout Job) throws -> Set<JobProperty> {
        try JobStateMachine.checkSetProperty(job, name: "its settings")
        switch setting {
        case .displayName(let value):
            job.displayName = try InputValidation.displayName(value)
            return [.displayName]
        case .description(let value):
            job.description = try InputValidation.description(value)
            return [.description]
        case .priority(let value):
            let priority = try InputValidation.enumValue(JobPriority.self, value, what: JobProperty.priority.name)
            if job.options.usesCustomMethod && priority != .foreground {
                throw ServiceError(.notSupported, "Job \(job.id) uses HTTP method \(job.options.httpMethod), which runs in the foreground only; Priority '\(value)' is not possible.")
            }
            job.priority = priority
            return [.priority]
        case .minimumRetryDelay(let value):
            job.minimumRetryDelay = InputValidation.minimumRetryDelay(value)
            return [.minimumRetryDelay]
        case .noProgressTimeout(let value):
            job.noProgressTimeout = value
            return [.noProgressTimeout]
        case .maximumDownloadTime(let value):
            job.maximumDownloadTime = value
            return [.maximumDownloadTime]
        case .minimumNotificationInterval(let value):
            job.minimumNotificationInterval = value
            return [.minimumNotificationInterval]
        case .notifyFlags(let value):
            guard value & ~UInt32(0x1f) == 0 else {
                throw ServiceError.invalidArgs("NotifyFlags 0x\(String(value, radix: 16)) has unknown bits; allowed are 0x1, 0x2, 0x4, 0x8 and 0x10.")
            }
            job.options.notifyFlags = value
            return [.notifyFlags]
        case .notifyCommandLine(let argv):
            job.options.notifyCommandLine = try InputValidation.notifyCommandLine(argv)
            return [.notifyCommandLine]
        case .proxyUsage(let value):
            job.options.proxyUsage = try InputValidation.enumValue(ProxyUsage.self, value, what: JobProperty.proxyUsage.name)
            return [.proxyUsage]
        case .proxyList(let value):
            job.options.proxyList = try InputValidation.proxyList(value, what: JobProperty.proxyList.name)
            return [.proxyList]
        case .proxyBypassList(let value):
            job.options.proxyBypassList = try InputValidation.proxyBypassList(value)
            return [.proxyBypassList]
        case .customHeaders(let lines):
            job.options.customHeaders = try InputValidation.customHeaders(lines)
            return [.customHeaders]
        case .customHeadersWriteOnly(let value):
            if job.options.customHeadersWriteOnly && !value {
                throw ServiceError.invalidArgs("CustomHeadersWriteOnly of job \(job.id) is already true and can never become false again.")
            }
            guard value != job.options.customHeadersWriteOnly else { return [] }
            job.options.customHeadersWriteOnly = value
            return [.customHeadersWriteOnly, .customHeaders]
        case .httpMethod(let value):
            let method = try InputValidation.httpMethod(value)
            try requireDownload(job, JobProperty.httpMethod.name)
            try requireNotResumed(job, JobProperty.httpMethod.name)
            if method != "GET" && job.options.dynamicContent {
                throw ServiceError(.notSupported, "HttpMethod '\(method)' cannot be combined with DynamicContent on job \(job.id).")
            }
            job.options.httpMethod = method
            var changed: Set<JobProperty> = [.httpMethod]
            if method != "GET" && job.priority != .foreground {
                job.priority = .foreground
                changed.insert(.priority)
            }
            return changed
        case .redirectPolicy(let value):
            job.options.redirectPolicy = try InputValidation.enumValue(JobRedirectPolicy.self, value, what: JobProperty.redirectPolicy.name)
            return [.redirectPolicy]
        case .allowHttpsToHttpRedirect(let value):
            job.options.allowHttpsToHttpRedirect = value
            return [.allowHttpsToHttpRedirect]
        case .verifyPeer(let value):
            job.options.verifyPeer = value
            return [.verifyPeer]
        case .verifyHost(let value):
            job.options.verifyHost = value
            return [.verifyHost]
        case .checkRevocation(let value):
            job.options.checkRevocation = value
            return [.checkRevocation]
        case .transferPolicy(let value):
            job.options.transferPolicy = try InputValidation.enumValue(TransferPolicy.self, value, what: JobProperty.transferPolicy.name)
            return [.transferPolicy]
        case .dynamicContent(let value):
            try requireDownload(job, JobProperty.dynamicContent.name)
            try requireNotResumed(job, JobProperty.dynamicContent.name)
            if value && job.options.usesCustomMethod {
                throw ServiceError(.notSupported, "DynamicContent cannot be combined with HttpMethod '\(job.options.httpMethod)' on job \(job.id).")
            }
            if value && job.files.contains(where: { !$0.ranges.isEmpty }) {
                throw ServiceError(.notSupported, "DynamicContent cannot be used on job \(job.id): it has files with ranges.")
            }
            job.options.dynamicContent = value
            return [.dynamicContent]
        case .highPerformance(let value):
            try requireDownload(job, JobProperty.highPerformance.name)
            if !job.files.isEmpty {
                throw ServiceError.invalidState("HighPerformance must be set before files are added; job \(job.id) has \(job.files.count).")
            }
            job.options.highPerformance = value
            return [.highPerformance]
        case .maximumDownloadSize(let value):
            try requireDownload(job, JobProperty.maximumDownloadSize.name)
            try requireNotResumed(job, JobProperty.maximumDownloadSize.name)
            job.options.maximumDownloadSize = value
            return [.maximumDownloadSize]
        case .replyFileName(let value):
            guard job.type == .uploadReply else {
                throw ServiceError(.notSupported, "ReplyFileName applies to upload-reply jobs only; job \(job.id) is an \(job.type.rawValue) job.")
            }
            guard job.reply?.temporaryName == nil else {
                throw ServiceError.invalidState("The reply of job \(job.id) is already being downloaded; ReplyFileName can no longer change.")
            }
            var reply = job.reply ?? ReplyState()
            reply.fileName = value.isEmpty ? "" : try InputValidation.localPath(value)
            job.reply = reply
            return [.replyFileName]
        }
    }

    static func requireDownload(_ job: Job, _ name: String) throws {
        guard job.type == .download else {
            throw ServiceError(.notSupported, "\(name) applies to download jobs only; job \(job.id) is an \(job.type.rawValue) job.")
        }
    }

    static func requireNotResumed(_ job: Job, _ name: String) throws {
        guard !job.everResumed else {
            throw ServiceError.invalidState("\(name) must be set before the first Resume of job \(job.id).")
        }
    }

    /// `SetCredentials`: validates and stores (replacing the same target and scheme).
    public static func setCredential(_ credential: JobCredential, on job: inout Job) throws {
        try JobStateMachine.checkSetProperty(job, name: "take credentials")
        guard credential.userName.count <= JobDefaults.userNameMaxLength else {
            throw ServiceError.invalidArgs("The user name is \(credential.userName.count) characters long; the limit is \(JobDefaults.userNameMaxLength).")
        }
        guard credential.password.count <= JobDefaults.passwordMaxLength else {
            throw ServiceError.invalidArgs("The password is longer than \(JobDefaults.passwordMaxLength) characters.")
        }
        if (credential.scheme == .ntlm || credential.scheme == .negotiate) && credential.userName.isEmpty {
            // Implicit credentials would be the daemon's (root's Kerberos cache), not the owner's.
            throw ServiceError(.notSupported, "Scheme '\(credential.scheme.rawValue)' without a user name (the implicit credentials of the logged-on user) is not supported: the service would authenticate as itself, not as user \(job.owner). Give a user name and password.")
        }
        if (credential.scheme == .basic || credential.scheme == .digest) && credential.userName.isEmpty {
            throw ServiceError.invalidArgs("Scheme '\(credential.scheme.rawValue)' needs a user name.")
        }
        guard !credential.userName.contains(":") || credential.scheme != .basic else {
            throw ServiceError.invalidArgs("A basic-authentication user name cannot contain ':'.")
        }
        job.secrets.credentials.removeAll { $0.target == credential.target && $0.scheme == credential.scheme }
        job.secrets.credentials.append(credential)
    }

    /// `TakeOwnership`: the new owner, without the old owner's secrets, headers and command.
    public static func takeOwnership(of job: inout Job, by uid: UInt32) -> Set<JobProperty> {
        job.owner = uid
        job.secrets = JobSecrets()
        job.options.customHeaders = []
        job.options.notifyCommandLine = []
        return [.owner, .customHeaders, .notifyCommandLine]
    }
}
