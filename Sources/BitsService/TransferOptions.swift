import BitsCore
import BitsTransfer

/// Builds the engine's per-request options from a job's settings and secrets, and the client
/// certificate the file workers read with the owner's rights for this attempt
/// (`OpenedFile.certificate`).
struct TransferOptions {
    func http(for job: Job, fileIndex: Int, certificate: ClientCertificate?) -> HTTPOptions {
        let options = job.options
        var http = HTTPOptions()
        http.method = options.httpMethod
        http.credentials = job.secrets.credentials
        if let certificate {
            http.clientCertificatePEM = certificate.certificate
            http.clientKeyPEM = certificate.key
        }
        http.verifyPeer = options.verifyPeer
        http.verifyHost = options.verifyHost
        http.checkRevocation = options.checkRevocation
        http.redirectPolicy = options.redirectPolicy
        http.allowHTTPSToHTTPRedirect = options.allowHttpsToHttpRedirect
        http.proxy = proxy(options)
        if options.maximumDownloadSize > 0 {
            let others = job.files.enumerated().filter { $0.offset != fileIndex }.map(\.element.bytesTransferred).saturatingSum()
            http.maximumSize = options.maximumDownloadSize > others ? options.maximumDownloadSize - others : 1
        }
        http.ranges = job.files[fileIndex].ranges.map { ByteRange(offset: $0.offset, length: $0.length) }
        return http
    }

    /// ProxyUsage → the engine's proxy setting. `preconfig` and `autodetect` use the
    /// system's settings as libcurl reads them from the environment.
    func proxy(_ options: JobOptions) -> ProxySetting {
        switch options.proxyUsage {
        case .noProxy: return .none
        case .override:
            guard let first = InputValidation.proxyEntries(options.proxyList).first else { return .none }
            let bypass = InputValidation.proxyEntries(options.proxyBypassList)
                .map { $0 == "<local>" ? "localhost,127.0.0.1,::1" : $0 }.joined(separator: ",")
            return .explicit(url: first, bypass: bypass)
        case .preconfig, .autodetect: return .environment
        }
    }
}

/// A client certificate and its private key, PEM, as read from the owner's files.
struct ClientCertificate: Sendable {
    let certificate: [UInt8]
    let key: [UInt8]

    static let maximumSize = 1 << 20

    /// Reads the job's certificate files as the owner (on a file worker); nil when it has none.
    static func read(_ secrets: JobSecrets, files: any OwnerFileAccess, owner: OwnerIdentity,
                     resolution: PathResolution) throws -> ClientCertificate? {
        guard let cert = secrets.clientCertificateFile, let key = secrets.clientKeyFile else { return nil }
        return ClientCertificate(
            certificate: try files.readSmallFile(cert, owner: owner, limit: maximumSize, resolution: resolution),
            key: try files.readSmallFile(key, owner: owner, limit: maximumSize, resolution: resolution))
    }
}
