// frontends/HttpGateway.h — the HTTP front end for clients in other languages
// (PROTOCOL.md §6): POST /api/multisync, /api/multinoresult, /server/cmd
// with a form field `params` (urlencoded or multipart) or a raw JSON body,
// answered HTTP 200 with the v2 answer shape as JSON. Refusals carry
// their code in the JSON too; only a wrong method (405), an unknown path
// (404) and an oversized body (413) change the HTTP status. GET /metrics
// answers the Prometheus text format.
//
// Runs on Poco::Net::HTTPServer with its own bounded thread pool. A
// request's thread blocks until the runner answers: that never holds an
// I/O loop or a task worker, and the pool bound is the gateway's in-flight
// limit (connections beyond the queue are closed by Poco). JSON in, JSON
// out: the answer is built as the v2 answer's value and written as JSON,
// with no frame in between. With server.tls the same port speaks HTTPS
// only (Poco NetSSL, its OpenSSL context set up by net/Tls like the loops').
#pragma once

#include <dora/wire/Endpoint.h>
#include "dispatch/ControlCommands.h"
#include "dispatch/RequestRunner.h"
#include "net/Tls.h"
#include "protocol/Request.h"
#include "stats/Stats.h"

#include <Poco/Net/HTTPServer.h>
#include <Poco/ThreadPool.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace dora::frontends {

struct GatewayOptions {
    wire::Endpoint endpoint{"127.0.0.1", 9566}; ///< port 0: any free port
    std::size_t maxBodyBytes = 2 * 1024 * 1024;   ///< larger bodies: 413, never buffered
    protocol::RequestLimits limits;               ///< calls per request (100205)
    /// Connections served at once: Poco gives each connection a thread for
    /// as long as it is kept alive, and a request blocks it until answered.
    int threads = 32;
    int maxQueued = 256;         ///< accepted connections waiting for a thread; more are closed
    int keepAliveTimeoutSec = 5; ///< an idle kept-alive connection gives its thread back
    int receiveTimeoutSec = 30;  ///< a client that stalls mid-request is dropped
    /// Set when the host drains: calls are answered 100209 (/server/cmd
    /// still runs). Null = never. Owned by the server.
    const std::atomic<bool>* draining = nullptr;
    /// GET /metrics: the Prometheus text exposition (empty: no /metrics).
    /// Needs the control token when one is set, as a bearer credential.
    std::function<std::string()> metrics;
    /// server.tls: HTTPS only on the gateway's port (empty cert = plain
    /// HTTP). The handshake happens on the connection's thread, within
    /// receiveTimeoutSec.
    net::TlsFiles tls;
};

class HttpGateway {
public:
    /// `runner`, `control` and `stats` must outlive the gateway (or at
    /// least stop()).
    HttpGateway(GatewayOptions options, dispatch::RequestRunner& runner, dispatch::ControlCommands& control,
                stats::Stats& stats);
    ~HttpGateway();
    HttpGateway(const HttpGateway&) = delete;
    HttpGateway& operator=(const HttpGateway&) = delete;

    /// Binds and starts serving. Throws std::runtime_error naming the
    /// address when it cannot bind.
    void start();
    /// Stops accepting, lets requests being served finish, closes idle
    /// keep-alive connections and joins every thread. Call it before the
    /// task pool stops. Idempotent.
    void stop();

    /// The bound port (after start()).
    std::uint16_t port() const { return _port; }

    /// Everything a request handler needs; shared with the handlers.
    struct Context;

private:
    GatewayOptions _opt;
    std::shared_ptr<Context> _ctx;
    std::unique_ptr<Poco::ThreadPool> _threads;
    std::unique_ptr<Poco::Net::HTTPServer> _server;
    std::uint16_t _port = 0;
};

} // namespace dora::frontends
