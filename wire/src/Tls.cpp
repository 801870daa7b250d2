#include <dora/wire/Tls.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509err.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace dora::wire {

std::string takeTlsError() {
    unsigned long e = ERR_get_error();
    std::string out;
    if (e != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        out = buf;
    }
    ERR_clear_error();
    return out;
}

void throwTlsError(const std::string& what, const char* end) {
    std::string why = takeTlsError();
    throw std::runtime_error(what + (why.empty() ? "" : " (" + why + ")") + end);
}

std::string unreadable(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return std::strerror(errno);
    std::fclose(f);
    return {};
}

bool requireTls12(ssl_ctx_st* ctx) {
    return SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1;
}

KeyPairStatus loadKeyPair(ssl_ctx_st* ctx, const std::string& certFile,
                          const std::string& keyFile) {
    if (SSL_CTX_use_certificate_chain_file(ctx, certFile.c_str()) != 1)
        return KeyPairStatus::BadCertificate;
    if (SSL_CTX_use_PrivateKey_file(ctx, keyFile.c_str(), SSL_FILETYPE_PEM) != 1) {
        // OpenSSL checks the pair as it loads the key.
        const int reason = ERR_GET_REASON(ERR_peek_last_error());
        if (reason == X509_R_KEY_VALUES_MISMATCH || reason == X509_R_KEY_TYPE_MISMATCH)
            return KeyPairStatus::KeyMismatch;
        return KeyPairStatus::BadKey;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) return KeyPairStatus::CheckFailed;
    return KeyPairStatus::Ok;
}

} // namespace dora::wire
