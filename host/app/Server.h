// app/Server.h — wires the subsystems together from a Config; does none
// of their work itself. Owns them in dependency order: stats, pools,
// workers, queue, runner, control commands, front ends, I/O loops.
#pragma once

#include "cluster/Registry.h"
#include "config/Config.h"
#include "dispatch/ControlCommands.h"
#include "dispatch/RequestRunner.h"
#include "frontends/HttpGateway.h"
#include "frontends/TcpFrontEnd.h"
#include "net/EventLoop.h"
#include "plugins/Plugin.h"
#include "pools/MySqlSessions.h"
#include "pools/RedisPool.h"
#include "pools/SentinelWatcher.h"
#include "queue/TaskQueue.h"
#include "queue/TaskStatus.h"
#include "stats/Stats.h"
#include "workers/TaskPool.h"

#include <dora/sdk/value.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace dora::app {

class Server {
public:
    explicit Server(config::Config cfg);
    ~Server();

    /// Loads plugins, binds and starts serving. Throws on a bind failure.
    void start();
    /// Stops accepting, finishes calls in flight, closes everything.
    void stop();
    /// The graceful part of a stop (SIGTERM): marks the node draining in
    /// the registry, answers new requests 100209, stops accepting, and
    /// waits until every call in flight has been answered, every async
    /// call taken has been stored and every queue batch taken has been
    /// applied and acknowledged, for at most server.shutdown_timeout_sec
    /// from `started`. True when all of it finished in time; stop() does
    /// the rest either way.
    bool drain(std::chrono::steady_clock::time_point started);

    /// Rescans plugins and routes; swaps the table only if it loaded
    /// without errors. Returns the errors (empty on success). Thread-safe.
    std::vector<std::string> reload();

    std::uint16_t tcpPort() const { return _tcpPort; }
    /// The HTTP gateway's bound port; 0 when server.http_enabled is false.
    std::uint16_t httpPort() const { return _http ? _http->port() : 0; }
    dora::sdk::Value statistics() const;
    /// The address the registry advertises ("" when it is off).
    std::string advertised() const;
    /// GET /metrics: every counter in the Prometheus text format
    /// (app/Metrics.cpp; names in docs/protocol.md, "Metrics").
    std::string metrics() const;
    /// The control command taskStatus: param guid => data.task.
    dispatch::ControlAnswer taskStatus(const dora::sdk::Value& param) const;
    /// deadList / deadShow / deadRedrive / deadPurge (what: list, show,
    /// redrive, purge).
    dispatch::ControlAnswer deadLetters(const std::string& what, const dora::sdk::Value& param) const;
    /// topStat (`dora top`): per route totals and latency buckets, the
    /// pool and the queue depth, for a client that computes rates.
    dispatch::ControlAnswer topStat() const;

private:
    void startRegistry();

    config::Config _cfg;
    stats::Stats _stats;
    std::unique_ptr<pools::MySqlSessions> _mysql;
    /// Handlers' Redis (SDK 1.2); before the runner, so it outlives every plugin.
    std::unique_ptr<pools::RedisPool> _redisPool;
    std::unique_ptr<workers::TaskPool> _pool;
    /// Before the enqueuer that calls it: destroyed after it.
    std::unique_ptr<queue::Enqueuer> _enqueuer;
    std::unique_ptr<queue::Consumer> _consumer;
    pools::RedisSettings _redisSettings;
    queue::QueueSettings _queueSettings;
    std::unique_ptr<dispatch::RequestRunner> _runner;
    std::unique_ptr<dispatch::ControlCommands> _control;
    std::unique_ptr<frontends::TcpFrontEnd> _tcp;
    std::unique_ptr<frontends::HttpGateway> _http;
    std::unique_ptr<cluster::Registry> _registry;
    std::unique_ptr<pools::SentinelWatcher> _sentinelWatcher; ///< with redis.sentinels only
    std::atomic<bool> _draining{false};
    std::vector<std::unique_ptr<net::EventLoop>> _loops;
    int _listenFd = -1;
    bool _stopped = false; ///< stop() ran
    std::uint16_t _tcpPort = 0;
    std::mutex _reloadMutex;          ///< one reload at a time
    mutable std::mutex _statusMutex;  ///< the swap and what getStat shows of it
    std::vector<std::string> _lastReloadErrors;
    std::uint64_t _reloads = 0;
    std::uint64_t _reloadsFailed = 0;
    std::int64_t _lastGoodReload = 0; ///< Unix time of the last reload without errors (0: none)
    std::int64_t _startedAt = 0;
    std::shared_ptr<pools::RedisCounters> _redisCounters = std::make_shared<pools::RedisCounters>();
};

} // namespace dora::app
