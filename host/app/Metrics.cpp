// app/Metrics.cpp — GET /metrics: what getStat shows and more, in the
// Prometheus text format. Reads the same lock-free counters; the only
// blocking part is the queue depth (three Redis commands on a short-lived
// connection, 500 ms timeout), as for getStat.
#include "app/Server.h"

#include "app/BuildInfo.h"
#include "stats/Exposition.h"

#include <dora/sdk/abi.h>

#include <set>
#include <sstream>
#include <string>

namespace dora::app {

namespace {

std::string codeLabel(std::size_t slot) {
    int c = stats::CodeSlots::code(slot);
    return c < 0 ? std::string("other") : std::to_string(c);
}

} // namespace

std::string Server::metrics() const {
    stats::Exposition m;
    using U = std::uint64_t;
    using I = std::int64_t;

    // Process and build.
    const std::string abi = std::to_string(DORA_ABI_MAJOR) + "." + std::to_string(DORA_ABI_MINOR);
    m.family("dorahost_build_info", "gauge", "Always 1; the labels name the build.");
    m.sample("dorahost_build_info", {{"version", kVersion}, {"abi", abi}}, U{1});
    m.family("dorahost_process_start_time_seconds", "gauge", "Start time of the host, Unix seconds.");
    m.sample("dorahost_process_start_time_seconds", {}, static_cast<I>(_startedAt));

    // Connections and frames.
    std::uint64_t conns = 0, accepted = 0;
    for (const auto& l : _loops) {
        conns += l->connections();
        accepted += l->accepted();
    }
    m.family("dorahost_connections", "gauge", "Dora TCP connections open now.");
    m.sample("dorahost_connections", {}, conns);
    m.family("dorahost_connections_accepted_total", "counter", "Dora TCP connections accepted.");
    m.sample("dorahost_connections_accepted_total", {}, accepted);
    m.family("dorahost_frames_total", "counter", "Dora frames received.");
    m.sample("dorahost_frames_total", {}, U{_stats.frames.requests.load()});
    m.family("dorahost_frames_refused_total", "counter",
             "Frames and HTTP requests answered with a protocol error.");
    m.sample("dorahost_frames_refused_total", {}, U{_stats.refused.requests.load()});

    // Requests by type and generation.
    m.family("dorahost_requests_total", "counter",
             "Requests by type (SSS, W_M, SC, ...) and generation (v1, v2, json, http).");
    for (std::size_t g = 0; g < stats::kGenerationNames.size(); ++g) {
        for (std::size_t i = 0; i < stats::kModeNames.size(); ++i) {
            const auto& c = _stats.modes()[g][i];
            U n = c.requests.load();
            if (n == 0) continue;
            std::string_view type = stats::kModeNames[i];
            std::string_view gen = stats::kGenerationNames[g];
            if (type.substr(0, 5) == "http:") {
                type.remove_prefix(5);
                gen = "http";
            }
            m.sample("dorahost_requests_total", {{"type", type}, {"generation", gen}}, n);
        }
    }
    m.family("dorahost_request_errors_total", "counter", "Requests of the HTTP gateway answered with an error.");
    for (std::size_t g = 0; g < stats::kGenerationNames.size(); ++g)
        for (std::size_t i = 0; i < stats::kModeNames.size(); ++i) {
            std::string_view type = stats::kModeNames[i];
            U e = _stats.modes()[g][i].errors.load();
            if (e == 0 || type.substr(0, 5) != "http:") continue;
            type.remove_prefix(5);
            m.sample("dorahost_request_errors_total", {{"type", type}, {"generation", "http"}}, e);
        }

    // Routes.
    auto routes = _stats.snapshot();
    m.family("dorahost_route_requests_total", "counter", "Calls of a route by outcome code (0 = OK).");
    std::vector<std::pair<std::string, stats::RouteCounter::Snapshot>> snaps;
    snaps.reserve(routes.size());
    for (const auto& [name, c] : routes) snaps.emplace_back(name, c->snapshot());
    for (const auto& [name, s] : snaps)
        for (std::size_t slot = 0; slot < stats::CodeSlots::kCount; ++slot)
            if (s.codes[slot] > 0 || slot == 0) {
                std::string code = codeLabel(slot);
                m.sample("dorahost_route_requests_total", {{"route", name}, {"code", code}}, s.codes[slot]);
            }
    m.family("dorahost_route_request_duration_seconds", "histogram",
             "Time from a call's start (its request decoded) to its outcome.");
    for (const auto& [name, s] : snaps)
        m.histogram("dorahost_route_request_duration_seconds", stats::latencyBucketsSeconds(), s.buckets.data(),
                    static_cast<double>(s.sumNs) / 1e9, {"route", name});
    m.family("dorahost_route_requests_in_flight", "gauge", "Calls of a route started and not yet answered.");
    for (const auto& [name, s] : snaps) m.sample("dorahost_route_requests_in_flight", {{"route", name}}, s.inFlight());
    m.family("dorahost_unrouted_calls_total", "counter", "Calls naming an api no route serves.");
    m.sample("dorahost_unrouted_calls_total", {}, U{_stats.unrouted.requests.load()});

    // group_commit routes.
    m.family("dorahost_group_commits_total", "counter", "Groups of group_commit calls committed together.");
    m.sample("dorahost_group_commits_total", {}, U{_stats.groupsCommitted.load()});
    m.family("dorahost_group_commit_calls_total", "counter", "Calls answered from committed groups.");
    m.sample("dorahost_group_commit_calls_total", {}, U{_stats.groupedCalls.load()});
    m.family("dorahost_group_commits_undone_total", "counter", "Groups undone (their calls then ran alone).");
    m.sample("dorahost_group_commits_undone_total", {}, U{_stats.groupsUndone.load()});

    // Task pool.
    m.family("dorahost_task_pool_workers", "gauge", "Task pool slots (server.task_workers).");
    m.sample("dorahost_task_pool_workers", {}, static_cast<I>(_cfg.server.taskWorkers));
    m.family("dorahost_task_pool_busy", "gauge", "Task pool slots running a call now.");
    m.sample("dorahost_task_pool_busy", {}, static_cast<U>(_pool->busy()));
    m.family("dorahost_task_pool_queued", "gauge", "Calls waiting for a task pool slot.");
    m.sample("dorahost_task_pool_queued", {}, static_cast<U>(_pool->queued()));
    m.family("dorahost_task_pool_refused_total", "counter",
             "Calls refused because the task pool queue was full (server.max_queued_tasks).");
    m.sample("dorahost_task_pool_refused_total", {}, U{_stats.poolRefused.load()});

    // I/O threads: how long the frames of a poll round wait before the
    // round hands its calls over.
    {
        static const std::vector<std::string_view> le = {"0.00001", "0.000025", "0.00005", "0.0001", "0.00025",
                                                         "0.0005",  "0.001",    "0.0025",  "0.005",  "0.01",
                                                         "0.025",   "0.05",     "0.1",     "0.25",   "1"};
        static_assert(stats::kLoopLagBoundsNs.size() == 15, "one le per bound");
        auto lag = _stats.loopLag.snapshot();
        m.family("dorahost_event_loop_lag_seconds", "histogram",
                 "Per poll round of an I/O thread that handed calls to the task pool or queue: time from its "
                 "frames being read to the hand-off.");
        m.histogram("dorahost_event_loop_lag_seconds", le, lag.buckets.data(), static_cast<double>(lag.sumNs) / 1e9);
    }

    // Queue.
    auto qc = _consumer->counters();
    auto counter = [&m](const char* name, const char* help, U v) {
        m.family(name, "counter", help);
        m.sample(name, {}, v);
    };
    counter("dorahost_queue_accepted_total", "Async requests stored in the stream (answered 100001).",
            _enqueuer->stored());
    counter("dorahost_queue_refused_total", "Async requests the stream could not store (answered 100204).",
            _enqueuer->refused());
    counter("dorahost_queue_packed_entries_total",
            "Stream entries written holding several async requests (queue.tasks_per_entry).", _enqueuer->packs());
    counter("dorahost_queue_applied_total", "Async calls applied (committed) by this host.", qc.applied);
    counter("dorahost_queue_duplicates_skipped_total", "Async calls found in the ledger already and skipped.",
            qc.duplicates);
    counter("dorahost_queue_retried_total", "Async requests given another attempt (each request of a packed entry counts alone).", qc.retried);
    counter("dorahost_queue_dead_lettered_total", "Async requests moved to the dead-letter stream.",
            qc.deadLettered);
    counter("dorahost_queue_batches_total", "Batches run (one transaction each).", qc.batches);
    m.family("dorahost_queue_batch_tasks", "histogram", "Tasks per batch.");
    std::vector<std::string> leText;
    for (auto b : queue::Consumer::kBatchSizeBounds) leText.push_back(std::to_string(b));
    std::vector<std::string_view> le(leText.begin(), leText.end());
    m.histogram("dorahost_queue_batch_tasks", le, qc.batchSizes.data(), static_cast<double>(qc.batchTasks));
    m.family("dorahost_queue_batches_in_flight", "gauge", "Batches running now.");
    m.sample("dorahost_queue_batches_in_flight", {}, qc.inFlight);
    auto depth = _consumer->depth();
    const bool redisUp = depth["stream_length"] >= 0;
    m.family("dorahost_queue_redis_up", "gauge", "1 when the queue's Redis answered this scrape.");
    m.sample("dorahost_queue_redis_up", {}, U{redisUp ? 1u : 0u});
    if (redisUp) {
        auto gauge = [&m](const char* name, const char* help, I v) {
            m.family(name, "gauge", help);
            m.sample(name, {}, v);
        };
        gauge("dorahost_queue_stream_length", "Entries in the task stream (queued and pending).",
              depth["stream_length"]);
        gauge("dorahost_queue_pending", "Entries delivered to a consumer and not yet acknowledged.",
              depth["pending"]);
        gauge("dorahost_queue_dead_letters", "Entries in the dead-letter stream.", depth["dead_letters"]);
        m.family("dorahost_queue_oldest_pending_age_seconds", "gauge",
                 "Age of the oldest pending entry (0: none): how far the consumers lag.");
        m.sample("dorahost_queue_oldest_pending_age_seconds", {},
                 static_cast<double>(depth["oldest_pending_age_ms"]) / 1000.0);
    }

    // MySQL.
    m.family("dorahost_mysql_connections", "gauge",
             "MySQL connections held (at most one per task pool slot; a call never waits for one).");
    m.sample("dorahost_mysql_connections", {}, static_cast<U>(_mysql->connectionsHeld()));
    counter("dorahost_mysql_connects_total", "MySQL connections opened.", _mysql->connects());
    counter("dorahost_mysql_connect_failures_total", "MySQL connection attempts that failed.",
            _mysql->connectFailures());
    m.family("dorahost_mysql_errors_total", "counter",
             "Failed MySQL statements by errno (0: no connection could be had).");
    for (const auto& [err, n] : _mysql->errorsByErrno()) {
        std::string e = std::to_string(err);
        m.sample("dorahost_mysql_errors_total", {{"errno", e}}, n);
    }

    // Redis.
    counter("dorahost_redis_connects_total", "Redis connections opened by the queue.",
            _redisCounters->connects.load());
    counter("dorahost_redis_connect_failures_total", "Redis connection attempts that failed.",
            _redisCounters->connectFailures.load());
    counter("dorahost_redis_disconnects_total",
            "Redis connections found broken (each is reopened on next use: the reconnects).",
            _redisCounters->disconnects.load());
    counter("dorahost_redis_command_errors_total", "Redis error replies and commands lost with a connection.",
            _redisCounters->commandErrors.load());

    // Plugins.
    m.family("dorahost_plugin_info", "gauge", "Always 1 per loaded plugin; the labels name it and its version.");
    U reloads = 0, failed = 0;
    I lastGood = 0;
    {
        std::lock_guard<std::mutex> lock(_statusMutex);
        if (auto table = _runner->routes())
            for (const auto& p : table->plugins()) {
                std::string name = p->name(), version = p->version();
                m.sample("dorahost_plugin_info", {{"plugin", name}, {"version", version}}, U{1});
            }
        reloads = _reloads;
        failed = _reloadsFailed;
        lastGood = _lastGoodReload;
    }
    // Each plugin's own metrics (SDK 1.2 register_metric), under its name:
    // dorahost_plugin_<plugin>_<metric>, a counter with _total appended.
    {
        std::vector<std::pair<std::string, std::vector<plugins::MetricSnapshot>>> own;
        {
            std::lock_guard<std::mutex> lock(_statusMutex);
            if (auto table = _runner->routes())
                for (const auto& p : table->plugins()) {
                    auto ms = p->metrics();
                    if (!ms.empty()) own.emplace_back(p->name(), std::move(ms));
                }
        }
        std::set<std::string> seen; // two plugin names may map to one prefix (a.b, a_b): the first wins
        for (const auto& [plugin, ms] : own) {
            std::string prefix = "dorahost_plugin_";
            for (char ch : plugin) prefix += ch == '.' || ch == '-' ? '_' : ch;
            prefix += '_';
            for (const auto& s : ms) {
                std::string name = prefix + s.name;
                if (!s.histogram && (name.size() < 6 || name.compare(name.size() - 6, 6, "_total") != 0))
                    name += "_total";
                if (!seen.insert(name).second) continue;
                const std::string help = s.help.empty() ? "Plugin " + plugin + "'s " + s.name + "." : s.help;
                if (!s.histogram) {
                    m.family(name, "counter", help);
                    m.sample(name, {}, static_cast<I>(s.count));
                    continue;
                }
                m.family(name, "histogram", help);
                std::vector<std::string> bounds;
                for (double b : s.bounds) {
                    std::ostringstream o; // as getStat writes them: 0.5, 10
                    o << b;
                    bounds.push_back(o.str());
                }
                std::vector<std::string_view> boundsLe(bounds.begin(), bounds.end());
                m.histogram(name, boundsLe, s.buckets.data(), s.sum);
            }
        }
    }

    m.family("dorahost_plugin_reloads_total", "counter",
             "Plugin loads (the one at start included) by outcome: ok, or failed (previous plugins kept).");
    m.sample("dorahost_plugin_reloads_total", {{"outcome", "ok"}}, reloads - failed);
    m.sample("dorahost_plugin_reloads_total", {{"outcome", "failed"}}, failed);
    m.family("dorahost_plugin_last_reload_success_timestamp_seconds", "gauge",
             "Unix time of the last plugin load without errors (0: none yet).");
    m.sample("dorahost_plugin_last_reload_success_timestamp_seconds", {}, lastGood);
    return m.text();
}

} // namespace dora::app
