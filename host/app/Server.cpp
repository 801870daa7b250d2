#include "app/Server.h"

#include "app/BuildInfo.h"
#include "app/Limits.h"
#include "pools/Redis.h"
#include "protocol/Codes.h"
#include "queue/DeadLetters.h"

#include <Poco/Logger.h>

#include <algorithm>
#include <ctime>
#include <sstream>
#include <thread>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

namespace dora::app {

using dora::sdk::Value;

namespace {
Poco::Logger& logger() { return Poco::Logger::get("dorahost"); }
} // namespace

Server::Server(config::Config cfg) : _cfg(std::move(cfg)) {
    unsigned workers = static_cast<unsigned>(_cfg.server.taskWorkers);
    pools::MySqlSettings my;
    my.host = _cfg.mysql.host;
    my.port = _cfg.mysql.port;
    my.user = _cfg.mysql.user;
    my.password = _cfg.mysql.password;
    my.database = _cfg.mysql.database;
    my.connectTimeoutSec = _cfg.mysql.connectTimeoutSec;
    my.readTimeoutSec = _cfg.mysql.readTimeoutSec;
    my.writeTimeoutSec = _cfg.mysql.writeTimeoutSec;
    _mysql = std::make_unique<pools::MySqlSessions>(my, workers);
    _pool = std::make_unique<workers::TaskPool>(workers, _cfg.server.maxQueuedTasks);

    _runner = std::make_unique<dispatch::RequestRunner>(*_pool, _mysql.get(), _stats);

    pools::RedisSettings redis;
    redis.socket = _cfg.redis.socket;
    redis.host = _cfg.redis.host;
    redis.port = _cfg.redis.port;
    redis.connectTimeoutMs = _cfg.redis.connectTimeoutMs;
    for (const auto& ep : _cfg.redis.sentinels) redis.sentinels.emplace_back(ep.host, ep.port);
    redis.masterName = _cfg.redis.masterName;
    _redisPool = std::make_unique<pools::RedisPool>(redis, static_cast<unsigned>(_cfg.redis.handlerConnections));
    redis.counters = _redisCounters;
    queue::QueueSettings q;
    q.stream = _cfg.queue.stream;
    q.group = _cfg.queue.group;
    q.deadLetterStream = _cfg.queue.deadLetterStream;
    q.consumer = _cfg.queue.nodeId;
    q.batchSize = _cfg.queue.batchSize;
    q.batchLatencyMs = _cfg.queue.batchLatencyMs;
    q.tasksPerEntry = _cfg.queue.tasksPerEntry;
    q.maxRetries = _cfg.queue.maxRetries;
    q.retryBackoffMs = _cfg.queue.retryBackoffMs;
    q.claimIdleMs = _cfg.queue.claimIdleMs;
    q.statusTtlSec = _cfg.queue.statusTtlSec;
    q.replicasAck = _cfg.queue.replicasAck;
    q.replicasAckTimeoutMs = _cfg.queue.replicasAckTimeoutMs;
    _redisSettings = redis;
    _queueSettings = q;
    _enqueuer = std::make_unique<queue::Enqueuer>(redis, q);
    _consumer = std::make_unique<queue::Consumer>(
        redis, q, *_pool, *_mysql, [this] { return _runner->routes(); }, workers);
    _consumer->setEventLog(&_stats.events);
    _runner->setEnqueuer(_enqueuer.get());
    // The TCP control commands and the HTTP gateway's /server/cmd share these.
    _control = std::make_unique<dispatch::ControlCommands>(dispatch::ControlHooks{
        [this] { return statistics(); },
        [this]() -> std::pair<int, std::string> {
            auto errors = reload();
            if (errors.empty()) return {0, "reloaded"};
            std::string all = "reload failed, previous plugins keep serving: ";
            for (std::size_t i = 0; i < errors.size(); ++i) all += (i ? "; " : "") + errors[i];
            return {protocol::code::kHandlerFailed, all};
        },
        {{"taskStatus", [this](const Value& param) { return taskStatus(param); }},
         {"deadList", [this](const Value& param) { return deadLetters("list", param); }},
         {"deadShow", [this](const Value& param) { return deadLetters("show", param); }},
         {"deadRedrive", [this](const Value& param) { return deadLetters("redrive", param); }},
         {"deadPurge", [this](const Value& param) { return deadLetters("purge", param); }},
         {"topStat", [this](const Value&) { return topStat(); }}}},
        _cfg.control.token);

    _control->setEventLog(&_stats.events);
    _stats.events.setLimit(_cfg.server.logEventsPerSec);

    frontends::TcpOptions opt;
    opt.encode.frame.maxFrameBytes = _cfg.server.maxFrameBytes;
    opt.encode.frame.signature = _cfg.protocol.signature;
    opt.encode.frame.salt = _cfg.protocol.salt;
    opt.encode.gzip = _cfg.protocol.gzip;
    opt.limits.maxCalls = _cfg.server.maxCallsPerRequest;
    opt.maxBodyBytes = _cfg.server.maxFrameBytes;
    opt.maxInflightPerConnection = _cfg.server.maxInflightPerConnection;
    opt.draining = &_draining;
    opt.signing.key = _cfg.server.signing.key;
    opt.signing.required = _cfg.server.signing.required;
    opt.signing.replayWindowSec = _cfg.server.signing.replayWindowSec;
    opt.signing.replayCache = _cfg.server.signing.replayCache;
    if (!opt.signing.key.empty())
        logger().information("request signing: HMAC-SHA256, %s, replay window %d s, %z nonces remembered",
                             std::string(opt.signing.required ? "required" : "optional (unsigned frames served)"),
                             opt.signing.replayWindowSec, opt.signing.replayCache);
    if (opt.signing.required && _cfg.server.httpEnabled && _cfg.server.http.host != "127.0.0.1" &&
        _cfg.server.http.host != "::1" && _cfg.server.http.host != "localhost")
        logger().warning("server.signing.required covers the Dora TCP listener only: the HTTP gateway on %s "
                         "takes unsigned requests (set server.http_enabled: false, or keep it on loopback)",
                         _cfg.server.http.toString());
    _tcp = std::make_unique<frontends::TcpFrontEnd>(opt, *_runner, *_control, _stats,
                                                    static_cast<unsigned>(_cfg.server.ioThreads));
}

Server::~Server() { stop(); }

std::vector<std::string> Server::reload() {
    // One reload at a time; loading runs outside _statusMutex so getStat
    // (answered on an I/O thread) never waits for plugins to load.
    std::lock_guard<std::mutex> serial(_reloadMutex);
    plugins::PluginLoader loader(_cfg.plugins.pluginsDir, _cfg.plugins.routesDir, _stats,
                                 plugins::HostServices{_redisPool.get()});
    plugins::LoadReport report = loader.load();
    std::shared_ptr<const plugins::RouteTable> previous; // released after the lock
    bool kept = false;
    {
        std::lock_guard<std::mutex> lock(_statusMutex);
        ++_reloads;
        if (report.errors.empty())
            _lastGoodReload = static_cast<std::int64_t>(std::time(nullptr));
        else
            ++_reloadsFailed;
        _lastReloadErrors = report.errors;
        // First load: serve what loaded, report the rest. Later reloads swap
        // only a clean table.
        kept = !report.errors.empty() && _runner->routes();
        if (!kept) {
            previous = _runner->routes();
            _runner->setRoutes(report.table);
        }
    }
    if (kept) {
        logger().error("reload failed; the previous plugins keep serving");
        return report.errors;
    }
    logger().information("route table: %z routes from %z plugins", report.table->size(),
                         report.table->plugins().size());
    return report.errors;
}

void Server::start() {
    // A Poco connection holds its thread while kept alive or while it
    // sends its request, however slowly, and a request blocks its thread
    // until the task pool answers: room for both, and for many slow
    // clients. Threads are started on demand and end after 60 s idle; one
    // blocked in a read costs a few pages of stack, and the calls they run
    // at once stay bounded by task_workers (issue 16: 1,000 slow bodies
    // took all 32 threads and 256 queue places, and every other client was
    // reset until they timed out).
    const int httpThreads = std::clamp(64 * _cfg.server.taskWorkers, 2048, 8192);
    // Before anything opens descriptors in bulk; throws when the hard
    // limit cannot hold even a minimum.
    const std::size_t maxConnections = raiseOpenFilesLimit(
        _cfg.server.maxConnections,
        hostDescriptors(_cfg.server.ioThreads, _cfg.server.taskWorkers, _cfg.server.httpEnabled,
                        httpThreads, frontends::GatewayOptions{}.maxQueued));
    _startedAt = static_cast<std::int64_t>(std::time(nullptr));
    reload();
    try {
        // Before any worker runs, so slot 0 is free to use here.
        queue::ensureLedger(*_mysql, 0);
    } catch (const std::exception& e) {
        logger().warning("%s (the queue retries when it first needs it)", std::string(e.what()));
    }
    if (!_cfg.redis.sentinels.empty()) {
        // Say at once when no sentinel answers; the host still serves (sync
        // calls work, async ones are refused 100204 until one does).
        try {
            pools::RedisSettings s = _redisSettings;
            s.counters.reset(); // a probe, not one of the host's connections
            pools::RedisConnection probe(s);
        } catch (const std::exception& e) {
            logger().error("%s: async calls are refused (100204) and the queue waits until one answers",
                           std::string(e.what()));
        }
        _sentinelWatcher = std::make_unique<pools::SentinelWatcher>(_redisSettings);
        _sentinelWatcher->start();
    }
    _consumer->start();
    // TLS files are read before either listener opens: a bad certificate
    // or key stops the start with its sentence.
    const net::TlsFiles tlsFiles{_cfg.server.tls.cert, _cfg.server.tls.key, _cfg.server.tls.clientCa};
    std::shared_ptr<net::TlsServerContext> tls;
    if (_cfg.server.tls.enabled()) tls = std::make_shared<net::TlsServerContext>(tlsFiles);
    const char* scheme = tls ? (tls->mutual() ? " (TLS, client certificates required)" : " (TLS)") : "";
    if (_cfg.server.httpEnabled) {
        // Before the TCP port: a host that accepts TCP also serves HTTP.
        frontends::GatewayOptions ho;
        ho.endpoint = _cfg.server.http;
        ho.maxBodyBytes = _cfg.server.maxFrameBytes;
        ho.limits.maxCalls = _cfg.server.maxCallsPerRequest;
        ho.threads = httpThreads;
        ho.receiveTimeoutSec = _cfg.server.httpReceiveTimeoutSec;
        ho.draining = &_draining;
        ho.metrics = [this] { return metrics(); };
        if (tls) ho.tls = tlsFiles;
        _http = std::make_unique<frontends::HttpGateway>(ho, *_runner, *_control, _stats);
        _http->start();
        logger().information("HTTP gateway listening on %s:%hu (%d threads)%s", _cfg.server.http.host,
                             _http->port(), ho.threads, std::string(scheme));
    }
    _listenFd = net::listenTcp(_cfg.server.tcp.host, _cfg.server.tcp.port);
    _tcpPort = net::boundPort(_listenFd);
    net::LoopOptions lo;
    lo.frame.maxFrameBytes = _cfg.server.maxFrameBytes;
    lo.frame.signature = _cfg.protocol.signature;
    lo.frame.salt = _cfg.protocol.salt;
    lo.idleTimeoutSec = _cfg.server.idleTimeoutSec;
    lo.maxOutputBytes = _cfg.server.maxOutputBytes;
    lo.outputStallTimeoutSec = _cfg.server.outputStallTimeoutSec;
    lo.frameTimeoutSec = _cfg.server.frameTimeoutSec;
    lo.budget = std::make_shared<net::ConnectionBudget>(maxConnections);
    lo.tls = tls;
    for (int i = 0; i < _cfg.server.ioThreads; ++i) {
        lo.releaseFreeMemory = i == 0; // one sweep per process hands heap back
        _loops.push_back(std::make_unique<net::EventLoop>(static_cast<unsigned>(i), _listenFd, lo, *_tcp));
        _loops.back()->start();
    }
    logger().information("dorahost %s listening on %s:%hu%s (io_threads=%d, task_workers=%d, mysql %s)",
                         std::string(kVersion), _cfg.server.tcp.host, _tcpPort, std::string(scheme),
                         _cfg.server.ioThreads, _cfg.server.taskWorkers, _mysql->describe());
    startRegistry();
}

namespace {

/// The first IPv4 address of an interface that is up and not loopback
/// (what a DoraRPC server reports when it listens on every interface);
/// 127.0.0.1 when there is none.
std::string firstExternalIPv4() {
    ifaddrs* list = nullptr;
    std::string found = "127.0.0.1";
    if (getifaddrs(&list) != 0) return found;
    for (ifaddrs* a = list; a; a = a->ifa_next) {
        if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET) continue;
        if (!(a->ifa_flags & IFF_UP) || (a->ifa_flags & IFF_LOOPBACK)) continue;
        char buf[INET_ADDRSTRLEN] = {};
        auto* in = reinterpret_cast<sockaddr_in*>(a->ifa_addr);
        if (inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf)) {
            found = buf;
            break;
        }
    }
    freeifaddrs(list);
    return found;
}

} // namespace

void Server::startRegistry() {
    if (!_cfg.registry.enabled) {
        logger().information("registry: off (registry.enabled is false)");
        return;
    }
    cluster::RegistrySettings rs;
    if (!_cfg.registry.advertise.host.empty()) {
        rs.node.ip = _cfg.registry.advertise.host;
        rs.node.port = _cfg.registry.advertise.port;
    } else {
        const std::string& h = _cfg.server.tcp.host;
        rs.node.ip = h.empty() || h == "0.0.0.0" || h == "::" ? firstExternalIPv4() : h;
        rs.node.port = _tcpPort;
    }
    rs.node.groups = _cfg.registry.groups;
    rs.intervalSec = _cfg.registry.intervalSec;
    pools::RedisSettings redis = _redisSettings; // the same server (or sentinels), not counted
    redis.counters.reset();
    _registry = std::make_unique<cluster::Registry>(redis, rs);
    _registry->start();
}

std::string Server::advertised() const {
    return _registry ? _registry->node().address() : std::string();
}

bool Server::drain(std::chrono::steady_clock::time_point started) {
    using Clock = std::chrono::steady_clock;
    // Two seconds of the budget stay for stop() (last answers flushed,
    // deregistering); main's watchdog ends the process at the full budget.
    const int budgetSec = std::max(1, _cfg.server.shutdownTimeoutSec - 2);
    const auto deadline = started + std::chrono::seconds(budgetSec);
    auto msLeft = [&] {
        return static_cast<int>(std::max<std::int64_t>(
            0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count()));
    };
    logger().information("draining: no new connections, new requests are answered 100209; up to %d s "
                         "for what is in flight (server.shutdown_timeout_sec)",
                         _cfg.server.shutdownTimeoutSec);
    if (_registry) _registry->markDraining();
    bool clean = true;
    // Connections first: a client that cannot connect knows nothing ran
    // and goes elsewhere. What waits in the backlog is still taken.
    for (auto& l : _loops)
        clean = l->stopAccepting(std::max(1, msLeft())) && clean;
    if (_listenFd >= 0) {
        ::close(_listenFd); // connection attempts are refused from here on
        _listenFd = -2;     // closed, but the loops still run (see stop)
    }
    _draining = true;
    // Each loop confirms it finished the round it was in: every request it
    // read before the flag is with the runner now, every later one refused.
    for (auto& l : _loops)
        clean = l->sync(std::max(1, msLeft())) && clean;
    // The gateway's requests in flight finish (they need the pool and the
    // queue, which still run); new ones meanwhile get 100209.
    if (_http) {
        _http->stop();
        _http.reset();
    }
    // Async calls taken: stored (or refused) and answered. Nothing new can
    // come: every front end refuses while draining.
    _enqueuer->stop();
    // Queue batches taken: applied, acknowledged.
    _consumer->stop(deadline);
    // Sync calls (and push-result calls) in flight: answered.
    while ((_pool->busy() > 0 || _pool->queued() > 0) && Clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const std::size_t busy = _pool->busy() + _pool->queued();
    const std::size_t held = _consumer->held();
    if (busy > 0 || held > 0 || !clean) {
        clean = false;
        logger().warning("drain incomplete after %d s: %z call(s) still running or queued, %z queue "
                         "task(s) left pending for another host",
                         budgetSec, busy, held);
    } else {
        auto tookMs = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
        logger().information("drained in %Ld ms: every call in flight answered, every queue task taken "
                             "applied and acknowledged",
                             static_cast<Poco::Int64>(tookMs));
    }
    return clean;
}

void Server::stop() {
    // First: its requests wait on the task pool, which must still run.
    if (_http) {
        _http->stop();
        _http.reset();
    }
    // Once. Not keyed on the listener: start() runs the queue's consumer
    // before it listens, and a start that fails there (the port is taken)
    // must stop the consumer too, before the members it calls are gone.
    if (_stopped) return;
    _stopped = true;
    for (auto& l : _loops) l->stop();
    if (_listenFd >= 0) ::close(_listenFd); // else drain() closed it
    _listenFd = -1;
    // Deregistered once nothing is served any more.
    if (_registry) _registry->stop();
    _enqueuer->stop();
    _consumer->stop();
    if (_sentinelWatcher) _sentinelWatcher->stop();
    _pool->stop();
    // A control command still running (getStat reads the loops) finishes
    // before the loops go.
    _control.reset();
    // Only now: workers that were finishing calls may still have posted
    // answers to the (stopped) loops.
    _loops.clear();
    _stats.events.flush();
    logger().information("stopped");
}

Value Server::statistics() const {
    Value s = Value::array();
    std::uint64_t conns = 0, accepted = 0;
    for (const auto& l : _loops) {
        conns += l->connections();
        accepted += l->accepted();
    }
    s.set("version", std::string(kVersion));
    s.set("start_time", static_cast<std::int64_t>(_startedAt));
    s.set("uptime_sec", _stats.uptimeSec());
    s.set("connection_num", static_cast<std::int64_t>(conns));
    s.set("accept_count", static_cast<std::int64_t>(accepted));
    s.set("request_count", static_cast<std::int64_t>(_stats.frames.requests.load()));
    s.set("refused_count", static_cast<std::int64_t>(_stats.refused.requests.load()));
    s.set("io_threads", _cfg.server.ioThreads);
    s.set("task_worker_num", _cfg.server.taskWorkers);
    s.set("tasking_num", static_cast<std::int64_t>(_pool->busy()));
    s.set("task_queue_num", static_cast<std::int64_t>(_pool->queued()));
    s.set("mysql_connections", static_cast<std::int64_t>(_mysql->connectionsHeld()));
    Value rp = Value::array();
    rp.set("size", static_cast<std::int64_t>(_redisPool->size()));
    rp.set("open", static_cast<std::int64_t>(_redisPool->open()));
    rp.set("lent", static_cast<std::int64_t>(_redisPool->lent()));
    rp.set("peak_open", static_cast<std::int64_t>(_redisPool->peakOpen()));
    s.set("handler_redis", rp);
    auto counts = [](std::uint64_t requests, std::uint64_t errors) {
        Value v = Value::array();
        v.set("requests", static_cast<std::int64_t>(requests));
        v.set("errors", static_cast<std::int64_t>(errors));
        return v;
    };
    Value modes = Value::array(), routes = Value::array();
    for (std::size_t i = 0; i < stats::kModeNames.size(); ++i) {
        std::uint64_t requests = 0, errors = 0; // every generation
        for (const auto& row : _stats.modes()) {
            requests += row[i].requests.load();
            errors += row[i].errors.load();
        }
        if (requests > 0) modes.set(std::string(stats::kModeNames[i]), counts(requests, errors));
    }
    for (const auto& [name, c] : _stats.snapshot()) {
        auto snap = c->snapshot();
        routes.set(name, counts(snap.settled, snap.errors));
    }
    s.set("modes", modes);
    s.set("unrouted", counts(_stats.unrouted.requests.load(), _stats.unrouted.errors.load()));
    Value gc = Value::array();
    gc.set("groups", static_cast<std::int64_t>(_stats.groupsCommitted.load()));
    gc.set("calls", static_cast<std::int64_t>(_stats.groupedCalls.load()));
    gc.set("undone", static_cast<std::int64_t>(_stats.groupsUndone.load()));
    s.set("group_commit", gc);
    Value q = Value::array();
    auto qc = _consumer->counters();
    q.set("accepted", static_cast<std::int64_t>(_enqueuer->stored()));
    q.set("refused", static_cast<std::int64_t>(_enqueuer->refused()));
    q.set("packed_entries", static_cast<std::int64_t>(_enqueuer->packs()));
    q.set("applied", static_cast<std::int64_t>(qc.applied));
    q.set("duplicates_skipped", static_cast<std::int64_t>(qc.duplicates));
    q.set("retried", static_cast<std::int64_t>(qc.retried));
    q.set("dead_lettered", static_cast<std::int64_t>(qc.deadLettered));
    q.set("batches_in_flight", static_cast<std::int64_t>(qc.inFlight));
    for (const auto& [k, v] : _consumer->depth()) q.set(k, static_cast<std::int64_t>(v));
    q.set("stream", _cfg.queue.stream);
    q.set("dead_letter_stream", _cfg.queue.deadLetterStream);
    s.set("queue", q);
    s.set("routes", routes);
    Value plugins = Value::array();
    Value metrics = Value::array();
    Value errs = Value::array();
    {
        // One snapshot: a reload swaps the table under this lock, so the
        // plugins shown are the ones the counted reloads left serving.
        std::lock_guard<std::mutex> lock(_statusMutex);
        if (auto table = _runner->routes())
            for (const auto& p : table->plugins()) {
                plugins.set(p->name(), p->version());
                auto ms = p->metrics();
                if (ms.empty()) continue;
                Value pm = Value::array();
                for (const auto& m : ms) {
                    if (!m.histogram) {
                        pm.set(m.name, m.count);
                        continue;
                    }
                    Value h = Value::array();
                    h.set("count", m.count);
                    h.set("sum", m.sum);
                    Value buckets = Value::array();
                    std::uint64_t cumulative = 0;
                    for (std::size_t i = 0; i < m.buckets.size(); ++i) {
                        cumulative += m.buckets[i];
                        std::ostringstream le; // Prometheus' "le" labels: 0.5, 10, +Inf
                        if (i < m.bounds.size())
                            le << m.bounds[i];
                        else
                            le << "+Inf";
                        buckets.set(le.str(), static_cast<std::int64_t>(cumulative));
                    }
                    h.set("le", buckets);
                    pm.set(m.name, h);
                }
                metrics.set(p->name(), pm);
            }
        s.set("reloads", static_cast<std::int64_t>(_reloads));
        for (const auto& e : _lastReloadErrors) errs.push(e);
    }
    s.set("plugins", plugins);
    s.set("plugin_metrics", metrics);
    s.set("plugin_errors", errs);
    return s;
}

} // namespace dora::app

namespace dora::app {

namespace {
/// A control command's string param, or "" when absent or not a string.
std::string stringParam(const Value& param, const char* key) {
    const Value* v = param.isArray() ? param.find(key) : nullptr;
    return v && v->isString() ? v->asString() : std::string();
}
} // namespace

dispatch::ControlAnswer Server::taskStatus(const Value& param) const {
    namespace code = protocol::code;
    std::string guid = stringParam(param, "guid");
    if (guid.empty()) return {code::kBadParam, "taskStatus needs param 'guid' (the async request's guid)", Value()};
    if (_cfg.queue.statusTtlSec <= 0)
        return {code::kNotFound, "task statuses are not recorded (queue.status_ttl_sec is 0)", Value()};
    Value status;
    try {
        status = queue::readTaskStatus(_redisSettings, _queueSettings, guid);
    } catch (const std::exception& e) {
        return {code::kQueueUnavailable, std::string("task status unavailable: ") + e.what(), Value()};
    }
    if (status.isNull())
        return {code::kNotFound,
                "no async request with guid '" + guid + "' is known (statuses are kept " +
                    std::to_string(_cfg.queue.statusTtlSec) + " s after their last change)",
                Value()};
    Value data = Value::array();
    data.set("task", std::move(status));
    return {code::kOk, "OK", std::move(data)};
}

} // namespace dora::app

namespace dora::app {

dispatch::ControlAnswer Server::deadLetters(const std::string& what, const Value& param) const {
    namespace code = protocol::code;
    queue::DeadLetters dead(_redisSettings, _queueSettings);
    Value data = Value::array();
    try {
        if (what == "list") {
            std::int64_t count = 100;
            if (const Value* c = param.isArray() ? param.find("count") : nullptr) {
                if (!c->isInt() || c->asInt() < 1 || c->asInt() > 10000)
                    return {code::kBadParam, "deadList: param 'count' must be an integer in 1..10000", Value()};
                count = c->asInt();
            }
            data = dead.list(static_cast<std::size_t>(count));
            data.set("stream", _cfg.queue.deadLetterStream);
            return {code::kOk, "OK", std::move(data)};
        }
        const std::string id = [&] {
            const Value* v = param.isArray() ? param.find("id") : nullptr;
            return v && v->isString() ? v->asString() : std::string();
        }();
        const bool allAllowed = what != "show";
        if (!queue::DeadLetters::validId(id) || (id == "all" && !allAllowed))
            return {code::kBadParam,
                    "dead" + std::string(what == "show" ? "Show" : what == "redrive" ? "Redrive" : "Purge") +
                        ": param 'id' must be a dead letter's id (<ms>-<seq>, from deadList)" +
                        (allAllowed ? " or \"all\"" : ""),
                    Value()};
        if (what == "show") {
            Value letter = dead.show(id);
            if (letter.isNull()) return {code::kNotFound, "no dead letter " + id, Value()};
            data.set("letter", std::move(letter));
            return {code::kOk, "OK", std::move(data)};
        }
        std::size_t n = what == "redrive" ? dead.redrive(id) : dead.purge(id);
        if (n == 0 && id != "all") return {code::kNotFound, "no dead letter " + id, Value()};
        data.set(what == "redrive" ? "redriven" : "purged", static_cast<std::int64_t>(n));
        if (n > 0)
            Poco::Logger::get("dorahost").notice("dead letters: %s %s: %z", what, id, n);
        return {code::kOk, "OK", std::move(data)};
    } catch (const std::exception& e) {
        return {code::kQueueUnavailable, std::string("dead letters unavailable: ") + e.what(), Value()};
    }
}

} // namespace dora::app

namespace dora::app {

dispatch::ControlAnswer Server::topStat() const {
    Value routes = Value::array();
    for (const auto& [name, c] : _stats.snapshot()) {
        auto snap = c->snapshot();
        Value r = Value::array();
        r.set("requests", static_cast<std::int64_t>(snap.settled));
        r.set("errors", static_cast<std::int64_t>(snap.errors));
        r.set("in_flight", static_cast<std::int64_t>(snap.inFlight()));
        Value b = Value::array();
        for (auto n : snap.buckets) b.push(static_cast<std::int64_t>(n));
        r.set("buckets", std::move(b));
        routes.set(name, std::move(r));
    }
    Value bounds = Value::array();
    for (auto ns : stats::kLatencyBoundsNs) bounds.push(static_cast<std::int64_t>(ns / 1000));
    Value pool = Value::array();
    pool.set("workers", _cfg.server.taskWorkers);
    pool.set("busy", static_cast<std::int64_t>(_pool->busy()));
    pool.set("queued", static_cast<std::int64_t>(_pool->queued()));
    Value q = Value::array();
    for (const auto& [k, v] : _consumer->depth()) q.set(k, static_cast<std::int64_t>(v));
    q.set("accepted", static_cast<std::int64_t>(_enqueuer->stored()));
    q.set("applied", static_cast<std::int64_t>(_consumer->counters().applied));
    Value data = Value::array();
    data.set("uptime_sec", _stats.uptimeSec());
    data.set("bucket_bounds_us", std::move(bounds));
    data.set("routes", std::move(routes));
    data.set("pool", std::move(pool));
    data.set("queue", std::move(q));
    return {protocol::code::kOk, "OK", std::move(data)};
}

} // namespace dora::app
