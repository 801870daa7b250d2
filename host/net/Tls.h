// net/Tls.h — the server side of TLS (server.tls): one OpenSSL context
// built from the configured files, shared by the I/O loops (the Dora TCP
// listener, non-blocking OpenSSL inside net/EventLoop) and the HTTP
// gateway (Poco NetSSL, whose context is configured by the same code).
//
// What it enforces: TLS 1.2 or newer, no renegotiation, and with a client
// CA a client certificate signed by it (refused at the handshake without
// one). The files are read once, at start: a file that cannot be read, is
// not PEM, or a key that does not belong to the certificate throws a
// std::runtime_error whose text is one sentence naming the key and file.
#pragma once

#include <dora/wire/Tls.h>

#include <memory>
#include <string>

struct ssl_ctx_st;
struct ssl_st;

namespace dora::net {

struct TlsFiles {
    std::string cert;     ///< PEM: the certificate (then its chain)
    std::string key;      ///< PEM: its private key
    std::string clientCa; ///< PEM CA bundle; empty = no client certificate asked
};

/// Applies TlsFiles to an OpenSSL server context (certificate, key and the
/// match between them, minimum TLS 1.2, client verification). Throws
/// std::runtime_error with a sentence on any problem.
void configureServerContext(ssl_ctx_st* ctx, const TlsFiles& files);

/// An SSL_CTX for the event loops. Thread-safe to share once built.
class TlsServerContext {
public:
    explicit TlsServerContext(const TlsFiles& files);
    ~TlsServerContext();
    TlsServerContext(const TlsServerContext&) = delete;
    TlsServerContext& operator=(const TlsServerContext&) = delete;
    ssl_ctx_st* get() const { return _ctx; }
    bool mutual() const { return _mutual; }

private:
    ssl_ctx_st* _ctx = nullptr;
    bool _mutual = false;
};

/// The oldest error on this thread's OpenSSL queue as text, the queue
/// emptied (shared with the client: dora/wire/Tls.h).
using wire::takeTlsError;

} // namespace dora::net
