// dora/wire/Tls.h — what the host's server context (host/net/Tls.cpp) and
// the client's (client/src/Tls.cpp) set up the same way in OpenSSL: TLS 1.2
// as the oldest version, a certificate chain with its key, and the error
// queue as text. Each side words its own refusals (the host names its
// config keys, the client its flags), so these report what went wrong and
// leave the sentence to the caller. No I/O beyond reading the named files.
#pragma once

#include <string>

struct ssl_ctx_st;

namespace dora::wire {

/// The oldest error on this thread's OpenSSL queue as text ("" if none),
/// and the queue emptied (every failing OpenSSL call must leave it empty:
/// SSL_get_error reads it).
std::string takeTlsError();

/// Throws std::runtime_error: `what`, then " (<takeTlsError()>)" when the
/// queue held an error, then `end`.
[[noreturn]] void throwTlsError(const std::string& what, const char* end = "");

/// Why `path` cannot be opened for reading (strerror), "" if it can.
std::string unreadable(const std::string& path);

/// Makes TLS 1.2 the oldest version `ctx` accepts; false if OpenSSL refused.
bool requireTls12(ssl_ctx_st* ctx);

enum class KeyPairStatus {
    Ok,
    BadCertificate, ///< the chain file is not PEM OpenSSL accepts
    BadKey,         ///< the key file is not a PEM private key (or encrypted)
    KeyMismatch,    ///< the key does not belong to the certificate, seen while loading it
    CheckFailed,    ///< SSL_CTX_check_private_key refused the pair
};

/// Loads a PEM certificate chain and its private key into `ctx` and checks
/// that they belong together. On failure the error queue says why.
KeyPairStatus loadKeyPair(ssl_ctx_st* ctx, const std::string& certFile, const std::string& keyFile);

} // namespace dora::wire
