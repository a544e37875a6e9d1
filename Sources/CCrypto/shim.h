// The system libcrypto (OpenSSL 3) for the SHA-256/SHA-512 digests of downloaded files
// (ExpectedHash, Hash). Only the EVP message-digest calls are used, and only from
// Sources/BitsTransfer/FileDigest.swift (scripts/check-interop.sh).
#ifndef BITS_CCRYPTO_SHIM_H
#define BITS_CCRYPTO_SHIM_H
#include <openssl/evp.h>
#endif
