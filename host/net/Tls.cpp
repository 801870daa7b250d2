#include "net/Tls.h"

#include <dora/wire/Tls.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <stdexcept>

namespace dora::net {

namespace {

/// Throws the sentence when `path` cannot be opened for reading.
void mustRead(const char* key, const char* env, const std::string& path) {
    std::string why = wire::unreadable(path);
    if (!why.empty())
        throw std::runtime_error(std::string(key) + " (or " + env + ") names " + path +
                                 ", which cannot be read: " + why + ".");
}

[[noreturn]] void fail(const std::string& what) { wire::throwTlsError(what, "."); }

} // namespace

void configureServerContext(ssl_ctx_st* ctx, const TlsFiles& files) {
    mustRead("server.tls.cert", "DORAHOST_TLS_CERT", files.cert);
    mustRead("server.tls.key", "DORAHOST_TLS_KEY", files.key);
    if (!files.clientCa.empty()) mustRead("server.tls.client_ca", "DORAHOST_TLS_CLIENT_CA", files.clientCa);
    ERR_clear_error();
    if (!wire::requireTls12(ctx)) fail("TLS: cannot set the minimum version 1.2");
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    switch (wire::loadKeyPair(ctx, files.cert, files.key)) {
    case wire::KeyPairStatus::Ok:
        break;
    case wire::KeyPairStatus::BadCertificate:
        fail("server.tls.cert " + files.cert + " is not a PEM certificate OpenSSL accepts");
    case wire::KeyPairStatus::BadKey:
        fail("server.tls.key " + files.key + " is not a PEM private key OpenSSL accepts (an encrypted key "
             "is not supported)");
    case wire::KeyPairStatus::KeyMismatch:
    case wire::KeyPairStatus::CheckFailed:
        fail("server.tls.key " + files.key + " does not match the certificate in server.tls.cert " + files.cert);
    }
    // Sessions may be resumed; the id context ties them to this server (and
    // is required for resumption when client certificates are verified).
    static const unsigned char kSid[] = "dorahost";
    SSL_CTX_set_session_id_context(ctx, kSid, sizeof kSid - 1);
    if (!files.clientCa.empty()) {
        if (SSL_CTX_load_verify_locations(ctx, files.clientCa.c_str(), nullptr) != 1)
            fail("server.tls.client_ca " + files.clientCa + " is not a PEM CA bundle OpenSSL accepts");
        STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.clientCa.c_str());
        if (!names) fail("server.tls.client_ca " + files.clientCa + " holds no CA certificate");
        SSL_CTX_set_client_CA_list(ctx, names);
        // Mutual TLS: no certificate signed by the CA, no connection.
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    }
    ERR_clear_error();
}

TlsServerContext::TlsServerContext(const TlsFiles& files) : _mutual(!files.clientCa.empty()) {
    _ctx = SSL_CTX_new(TLS_server_method());
    if (!_ctx) fail("TLS: cannot create an OpenSSL context");
    try {
        configureServerContext(_ctx, files);
    } catch (...) {
        SSL_CTX_free(_ctx);
        _ctx = nullptr;
        throw;
    }
    // The loops write from buffers that move (answers are appended while a
    // write waits) and accept partial writes; idle connections give their
    // 34 KB of record buffers back (10,000 idle TLS clients stay small).
    SSL_CTX_set_mode(_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                               SSL_MODE_RELEASE_BUFFERS);
    // Read whole records (and what follows) in one read() instead of a
    // header read and a body read.
    SSL_CTX_set_read_ahead(_ctx, 1);
}

TlsServerContext::~TlsServerContext() {
    if (_ctx) SSL_CTX_free(_ctx);
}

} // namespace dora::net
