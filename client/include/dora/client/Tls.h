// dora/client/Tls.h — the client side of TLS (a host with server.tls):
// an OpenSSL client context that checks the server's certificate against a
// CA file and the name or IP address the client dialled, and can show a
// client certificate (mutual TLS). TLS 1.2 or newer, like the host.
#pragma once

#include <memory>
#include <string>

struct ssl_ctx_st;
struct ssl_st;

namespace dora::client {

struct TlsOptions {
    bool enabled = false;
    /// PEM CA bundle the server's certificate must chain to; empty = the
    /// system's default trust store.
    std::string caFile;
    /// A client certificate and its key, for a host with server.tls.client_ca.
    std::string certFile;
    std::string keyFile;
    /// Check the certificate's chain and its name/IP against the host
    /// dialled (off only for tests of what the host does).
    bool verify = true;
};

/// An OpenSSL client context. Thread-safe to share once built.
class TlsContext {
public:
    /// Throws std::runtime_error with a sentence naming the file at fault.
    explicit TlsContext(const TlsOptions& options);
    ~TlsContext();
    TlsContext(const TlsContext&) = delete;
    TlsContext& operator=(const TlsContext&) = delete;

    /// A new client session on a connected socket, set to check that the
    /// certificate names `host` (a DNS name, or an IPv4/IPv6 address
    /// matched against the certificate's IP entries) and to send it as SNI
    /// when it is a name. The caller drives SSL_connect and frees it.
    ssl_st* session(int fd, const std::string& host) const;
    ssl_ctx_st* get() const { return _ctx; }

private:
    ssl_ctx_st* _ctx = nullptr;
    bool _verify = true;
};

/// Why the last TLS call on this thread failed, as a sentence fragment
/// ("certificate verify failed: self-signed certificate", ...), with the
/// OpenSSL error queue emptied. `ssl` may be null.
std::string tlsFailure(ssl_st* ssl);

} // namespace dora::client
