#include <dora/client/Tls.h>

#include <dora/wire/Tls.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <stdexcept>

namespace dora::client {

namespace {

void mustRead(const char* what, const std::string& path) {
    std::string why = wire::unreadable(path);
    if (!why.empty()) throw std::runtime_error(std::string(what) + " " + path + " cannot be read: " + why);
}

[[noreturn]] void fail(const std::string& what) { wire::throwTlsError(what); }

/// OpenSSL's socket BIO writes with write(2): a server that has closed
/// would raise SIGPIPE in the caller's process, which a library must not
/// do (the plain path sends with MSG_NOSIGNAL). The same BIO, writing with
/// send(MSG_NOSIGNAL).
int sendNoSignal(BIO* b, const char* data, int len) {
    int fd = -1;
    BIO_get_fd(b, &fd);
    errno = 0;
    ssize_t n = ::send(fd, data, static_cast<std::size_t>(len), MSG_NOSIGNAL);
    BIO_clear_retry_flags(b);
    if (n <= 0 && BIO_sock_should_retry(static_cast<int>(n))) BIO_set_retry_write(b);
    return static_cast<int>(n);
}

const BIO_METHOD* socketMethodNoSignal() {
    static BIO_METHOD* m = [] {
        const BIO_METHOD* base = BIO_s_socket();
        BIO_METHOD* meth = BIO_meth_new(BIO_TYPE_SOCKET, "socket, send(MSG_NOSIGNAL)");
        if (!meth) return meth;
        BIO_meth_set_write(meth, sendNoSignal);
        BIO_meth_set_read(meth, BIO_meth_get_read(base));
        BIO_meth_set_puts(meth, BIO_meth_get_puts(base));
        BIO_meth_set_ctrl(meth, BIO_meth_get_ctrl(base));
        BIO_meth_set_create(meth, BIO_meth_get_create(base));
        BIO_meth_set_destroy(meth, BIO_meth_get_destroy(base));
        return meth;
    }();
    return m;
}

bool isIpAddress(const std::string& host) {
    unsigned char buf[16];
    return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

} // namespace

std::string tlsFailure(ssl_st* ssl) {
    std::string why = wire::takeTlsError();
    if (ssl) {
        long v = SSL_get_verify_result(ssl);
        if (v != X509_V_OK) {
            std::string cert = X509_verify_cert_error_string(v);
            why = "the server's certificate was not accepted: " + cert;
        }
    }
    if (why.empty()) why = "the server closed the connection during the TLS handshake";
    return why;
}

TlsContext::TlsContext(const TlsOptions& o) : _verify(o.verify) {
    if (!o.caFile.empty()) mustRead("--ca", o.caFile);
    if (o.certFile.empty() != o.keyFile.empty())
        throw std::runtime_error("a client certificate needs both --cert and --key");
    if (!o.certFile.empty()) {
        mustRead("--cert", o.certFile);
        mustRead("--key", o.keyFile);
    }
    ERR_clear_error();
    _ctx = SSL_CTX_new(TLS_client_method());
    if (!_ctx) fail("TLS: cannot create an OpenSSL context");
    try {
        wire::requireTls12(_ctx);
        SSL_CTX_set_mode(_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        SSL_CTX_set_options(_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
        if (o.verify) {
            if (!o.caFile.empty()) {
                if (SSL_CTX_load_verify_locations(_ctx, o.caFile.c_str(), nullptr) != 1)
                    fail("--ca " + o.caFile + " is not a PEM CA bundle");
            } else if (SSL_CTX_set_default_verify_paths(_ctx) != 1) {
                fail("TLS: the system's trust store cannot be loaded (give --ca)");
            }
            SSL_CTX_set_verify(_ctx, SSL_VERIFY_PEER, nullptr);
        } else {
            SSL_CTX_set_verify(_ctx, SSL_VERIFY_NONE, nullptr);
        }
        if (!o.certFile.empty()) {
            switch (wire::loadKeyPair(_ctx, o.certFile, o.keyFile)) {
            case wire::KeyPairStatus::Ok:
                break;
            case wire::KeyPairStatus::BadCertificate:
                fail("--cert " + o.certFile + " is not a PEM certificate");
            case wire::KeyPairStatus::BadKey:
            case wire::KeyPairStatus::KeyMismatch:
                fail("--key " + o.keyFile + " is not a PEM private key");
            case wire::KeyPairStatus::CheckFailed:
                fail("--key " + o.keyFile + " does not match the certificate in --cert " + o.certFile);
            }
        }
    } catch (...) {
        SSL_CTX_free(_ctx);
        _ctx = nullptr;
        throw;
    }
    ERR_clear_error();
}

TlsContext::~TlsContext() {
    if (_ctx) SSL_CTX_free(_ctx);
}

ssl_st* TlsContext::session(int fd, const std::string& host) const {
    SSL* ssl = SSL_new(_ctx);
    if (!ssl) fail("TLS: cannot create a session");
    const BIO_METHOD* meth = socketMethodNoSignal();
    BIO* bio = meth ? BIO_new(meth) : nullptr;
    if (!bio) {
        SSL_free(ssl);
        fail("TLS: cannot attach the session to the socket");
    }
    BIO_set_fd(bio, fd, BIO_NOCLOSE);
    SSL_set_bio(ssl, bio, bio); // the session owns it now
    const bool ip = isIpAddress(host);
    if (!ip) SSL_set_tlsext_host_name(ssl, host.c_str());
    if (_verify) {
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
        int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) : SSL_set1_host(ssl, host.c_str());
        if (ok != 1) {
            SSL_free(ssl);
            fail("TLS: cannot check the certificate against '" + host + "'");
        }
    }
    SSL_set_connect_state(ssl);
    return ssl;
}

} // namespace dora::client
