import BitsCore
import BitsTransfer

/// Builds the engine's per-request options from a job's settings and secrets. Client
/// certificate files are read here with the owner's rights, at each attempt.
struct TransferOptions {
    let files: OwnerFiles

    func http(for job: Job, fileIndex: Int, owner: OwnerIdentity) throws -> HTTPOptions {
        let options = job.options
        var http = HTTPOptions()
        http.method = options.httpMethod
        http.credentials = job.secrets.credentials
        if let cert = job.secrets.clientCertificateFile, let key = job.secrets.clientKeyFile {
            http.clientCertificatePEM = try files.readSmallFile(cert, owner: owner, limit: 1 << 20)
            http.clientKeyPEM = try files.readSmallFile(key, owner: owner, limit: 1 << 20)
        }
        http.verifyPeer = options.verifyPeer
        http.verifyHost = options.verifyHost
        http.checkRevocation = options.checkRevocation
        http.redirectPolicy = options.redirectPolicy
        http.allowHTTPSToHTTPRedirect = options.allowHttpsToHttpRedirect
        http.proxy = proxy(options)
        if options.maximumDownloadSize > 0 {
            let others = job.files.enumerated().filter { $0.offset != fileIndex }.reduce(UInt64(0)) { $0 + $1.element.bytesTransferred }
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
