import BitsCore
import CCrypto

/// An incremental SHA-256 or SHA-512 digest (the system libcrypto's EVP calls): `update` with
/// the bytes in order, `finish` for the digest. The only Swift file that imports `CCrypto`
/// (scripts/check-interop.sh). Not thread-safe: one thread at a time (`StreamHasher` hands
/// it from the file worker that hashes a prefix to its own thread).
final class FileDigest {
    let algorithm: HashAlgorithm
    /// The EVP_MD_CTX.
    private let context: OpaquePointer

    init(_ algorithm: HashAlgorithm) {
        guard let context = EVP_MD_CTX_new() else { fatalError("libcrypto could not allocate a digest context") }
        self.algorithm = algorithm
        self.context = context
        reset()
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Starts over (no bytes hashed).
    func reset() {
        let md = algorithm == .sha256 ? EVP_sha256() : EVP_sha512()
        guard EVP_DigestInit_ex(context, md, nil) == 1 else { fatalError("libcrypto could not start a \(algorithm) digest") }
    }

    func update(_ bytes: UnsafeRawPointer, count: Int) {
        guard count > 0 else { return }
        _ = EVP_DigestUpdate(context, bytes, count)
    }

    /// The digest of the bytes so far; the context starts over afterwards.
    func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        _ = out.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
        reset()
        return Array(out.prefix(Int(length)))
    }
}
