#include "dispatch/Dispatcher.h"

#include "plugins/HostApi.h"
#include "protocol/Codes.h"
#include "queue/TaskQueue.h"

#include <dora/sdk/serialize.h>

#include <Poco/Logger.h>

#include <atomic>

namespace dora::dispatch {

/// A no-result call waiting to be stored, one batch per poll round.
struct EnqueueItem {
    queue::Enqueuer::Task task;
};

using dora::sdk::Key;
using dora::sdk::Value;
using protocol::Addressee;
using protocol::CallOutcome;
using protocol::Generation;
using protocol::Mode;
namespace code = protocol::code;

namespace {

CallOutcome routeBusy(const plugins::Route& route) {
    return CallOutcome{code::kBusy,
                       "route '" + route.spec.api + "' is at its concurrency limit (" +
                           std::to_string(route.spec.maxConcurrency) + "), try again",
                       {}};
}

CallOutcome busyOutcome() {
    return CallOutcome{code::kBusy, "server busy: the task queue is full, try again", {}};
}

std::string paramsBytes(const Value& v) {
    std::string s;
    dora::sdk::serializeTo(s, v);
    return s;
}

} // namespace

/// Settles call i once (by its handler, a refusal or its deadline); the
/// last call settled finishes the request.
void Dispatcher::settle(InFlight& p, std::size_t i, CallOutcome o, stats::Counter& counter) {
    if (p.settled[i].exchange(true, std::memory_order_acq_rel)) return;
    counter.count(o.code != 0);
    p.results[i].second = std::move(o);
    if (p.remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) p.finish(p.results);
}

void Dispatcher::onDeadline(void* target, std::size_t i, int ms) {
    auto& p = *static_cast<InFlight*>(target);
    const plugins::Route* route = p.routes[i];
    settle(p, i,
           CallOutcome{code::kTimeout, "call to '" + route->spec.api + "' timed out after " + std::to_string(ms) + " ms",
                       {}},
           *route->counter);
}

CallOutcome Dispatcher::runCall(const plugins::Route& route, pools::MySqlPool* mysql, unsigned w,
                                const std::string& api, const Value& param) {
    const int limit = route.spec.maxConcurrency;
    if (limit > 0 && route.running.fetch_add(1, std::memory_order_acq_rel) >= limit) {
        route.running.fetch_sub(1, std::memory_order_acq_rel);
        return routeBusy(route);
    }
    CallOutcome o = plugins::invoke(route, mysql, w, api, paramsBytes(param));
    if (limit > 0) route.running.fetch_sub(1, std::memory_order_acq_rel);
    return o;
}

Dispatcher::Dispatcher(DispatchOptions options, workers::TaskPool& pool, pools::MySqlPool* mysql,
                       stats::Stats& stats, unsigned loops)
    : _opt(std::move(options)), _pool(pool), _mysql(mysql), _stats(stats), _pending(loops),
      _pendingEnqueue(loops) {}

Dispatcher::~Dispatcher() = default;

void Dispatcher::setRoutes(std::shared_ptr<const plugins::RouteTable> table) {
    std::lock_guard<std::mutex> lock(_routesMutex);
    _routes = std::move(table);
}

std::shared_ptr<const plugins::RouteTable> Dispatcher::routes() const {
    std::lock_guard<std::mutex> lock(_routesMutex);
    return _routes;
}

void Dispatcher::answerStatus(net::Connection& conn, const Addressee& to, int c,
                              std::string_view msg) {
    protocol::appendStatusAnswer(conn.out, to, c, msg, Value(), _opt.encode);
}

void Dispatcher::onBadFrame(net::EventLoop&, net::Connection& conn, protocol::ParseStatus status) {
    _stats.frames.count(true);
    _stats.refused.count(true);
    std::string why = status == protocol::ParseStatus::TooLarge
                          ? "packet length invalid 包长度非法: frame larger than " +
                                std::to_string(_opt.encode.frame.maxFrameBytes) + " bytes"
                          : std::string("packet length invalid 包长度非法: frame too short");
    Poco::Logger::get("dorahost.net").warning("%s: %s; closing", conn.peer, why);
    answerStatus(conn, Addressee{Generation::V1, {}}, code::kPacketLengthInvalid, why);
}

void Dispatcher::onFrame(net::EventLoop& loop, net::Connection& conn, const protocol::Frame& frame) {
    Addressee to{frame.generation, std::string(frame.guid)};
    if (!frame.signatureOk) {
        _stats.frames.count(true);
        _stats.refused.count(true);
        if (frame.generation == Generation::V2)
            answerStatus(conn, to, code::kV2SignatureFailed, "Signed check error!");
        else
            answerStatus(conn, to, code::kV1SignatureFailed, "Signed check error!");
        return;
    }
    protocol::Request req;
    protocol::RequestError err;
    if (!protocol::decodeRequest(frame, _opt.limits, _opt.maxBodyBytes, req, err)) {
        _stats.frames.count(true);
        _stats.refused.count(true);
        to.guid = err.guid;
        answerStatus(conn, to, err.code, err.message);
        return;
    }
    _stats.frames.count(false);
    to.guid = req.guid;
    if (req.mode == Mode::Control) {
        control(loop, conn, req);
        return;
    }
    _stats.mode(req.type)->count(false);
    if (conn.inflight >= _opt.maxInflightPerConnection) {
        answerStatus(conn, to, code::kTooManyInflight,
                     "too many requests in flight on this connection (limit " +
                         std::to_string(_opt.maxInflightPerConnection) + ")");
        return;
    }
    auto table = routes();
    if (!table) {
        answerStatus(conn, to, code::kNoSuchRoute, "no routes are loaded");
        return;
    }
    dispatchCalls(loop, conn, req, table);
}

const plugins::Route* Dispatcher::resolve(const plugins::RouteTable& table,
                                          const protocol::Call& call, Mode mode,
                                          CallOutcome& error) const {
    // Calls that run in-process (wait and push-result modes) need a sync
    // route; no-result calls go through the queue and need an async one.
    bool async = protocol::isNoResult(mode);
    const plugins::Route* r = table.find(call.api, async);
    if (!r) {
        if (table.find(call.api, !async))
            error = CallOutcome{code::kModeNotAllowed,
                                "route '" + call.api + "' does not serve " +
                                    (async ? "asynchronous" : "synchronous") + " calls",
                                {}};
        else
            error = CallOutcome{code::kNoSuchRoute, "no such route: '" + call.api + "'", {}};
        return nullptr;
    }
    return r;
}

void Dispatcher::dispatchCalls(net::EventLoop& loop, net::Connection& conn, protocol::Request& req,
                               const std::shared_ptr<const plugins::RouteTable>& table) {
    Addressee to{req.generation, req.guid};
    if (protocol::isNoResult(req.mode)) {
        enqueue(loop, conn, req, *table);
        return;
    }
    // Async-result modes: accepted now, the result is pushed when done.
    const bool push = protocol::isPushResult(req.mode);
    if (push) answerStatus(conn, to, code::kAccepted, "transfer success.已经成功投递");
    auto encode = _opt.encode;
    const bool multi = protocol::isMulti(req.mode);
    if (!multi) {
        // A single call whose api has no route is refused as a whole.
        CallOutcome error;
        if (!resolve(*table, req.calls.front(), req.mode, error)) {
            _stats.route(req.calls.front().api)->count(true);
            answerStatus(conn, to, error.code, error.msg);
            return;
        }
    }
    net::EventLoop* lp = &loop;
    std::uint64_t connId = conn.id;
    auto finish = [lp, connId, to, encode, push, multi](Results& results) {
        std::string out;
        if (multi)
            protocol::appendMultiAnswer(out, to, results, encode, push);
        else
            protocol::appendSingleAnswer(out, to, results.front().second, encode, push);
        lp->post(connId, std::move(out));
    };
    // Counted in flight until finish posts the answer (post also marks
    // the request done, even when no call could run).
    ++conn.inflight;
    startCalls(table, req, std::move(finish), _pending[loop.index()]);
}

bool Dispatcher::startCalls(const std::shared_ptr<const plugins::RouteTable>& table,
                            protocol::Request& req, std::function<void(Results&)> finish,
                            std::vector<workers::TaskPool::Job>& jobs) {
    auto p = std::make_shared<InFlight>();
    p->finish = std::move(finish);
    p->table = table;
    p->routes.assign(req.calls.size(), nullptr);
    p->settled = std::make_unique<std::atomic<bool>[]>(req.calls.size());
    p->results.reserve(req.calls.size());
    std::vector<std::pair<std::size_t, const plugins::Route*>> runs;
    for (auto& call : req.calls) {
        CallOutcome error;
        const plugins::Route* route = table ? resolve(*table, call, Mode::SyncMulti, error) : nullptr;
        if (!table) error = CallOutcome{code::kNoSuchRoute, "no routes are loaded", {}};
        p->results.emplace_back(call.key, CallOutcome{});
        if (!route) {
            _stats.route(call.api)->count(true);
            p->results.back().second = std::move(error);
            p->settled[p->results.size() - 1] = true;
        } else {
            runs.emplace_back(p->results.size() - 1, route);
        }
    }
    if (runs.empty()) {
        p->finish(p->results);
        return false;
    }
    p->remaining = runs.size();
    pools::MySqlPool* mysql = _mysql;
    for (auto& [i, route] : runs) {
        protocol::Call& call = req.calls[i];
        p->routes[i] = route;
        if (route->spec.timeoutMs > 0) {
            // The caller gets kTimeout at the deadline; a result arriving
            // later finds the call settled and is dropped.
            _timer.after(route->spec.timeoutMs, p, i, &Dispatcher::onDeadline);
        }
        jobs.emplace_back([table, p, i = i, route = route, mysql, api = std::move(call.api),
                           param = std::move(call.param)](unsigned w) {
            if (p->settled[i].load(std::memory_order_acquire)) return; // timed out while queued
            settle(*p, i, w == kRefused ? busyOutcome() : runCall(*route, mysql, w, api, param),
                   *route->counter);
        });
    }
    return true;
}

void Dispatcher::runRequest(protocol::Request req, std::function<void(Results)> done) {
    std::vector<workers::TaskPool::Job> jobs;
    startCalls(routes(), req, [done = std::move(done)](Results& r) { done(std::move(r)); }, jobs);
    _pool.submit(jobs);
    for (auto& job : jobs) job(kRefused);
}

void Dispatcher::storeRequest(protocol::Request req, std::function<void(int, std::string)> done) {
    if (!_enqueuer) {
        done(code::kQueueUnavailable, "asynchronous calls are not available: no durable task queue is configured");
        return;
    }
    auto table = routes();
    Value calls = Value::array();
    for (auto& call : req.calls) {
        CallOutcome error;
        if (!table || !resolve(*table, call, Mode::AsyncMulti, error)) {
            if (!table) error = CallOutcome{code::kNoSuchRoute, "no routes are loaded", {}};
            done(error.code, "call '" + call.key.toString() + "': " + error.msg + "; nothing was accepted");
            return;
        }
        Value c = Value::array();
        c.set("name", call.api);
        c.set("param", std::move(call.param));
        calls.set(call.key, std::move(c));
    }
    std::vector<queue::Enqueuer::Task> tasks(1);
    tasks[0].type = req.type;
    tasks[0].guid = req.guid;
    dora::sdk::serializeTo(tasks[0].calls, calls);
    tasks[0].done = [done = std::move(done)](bool stored, const std::string& error) {
        if (stored)
            done(code::kAccepted, "transfer success.已经成功投递");
        else
            done(code::kQueueUnavailable, "not accepted: the durable task queue is unavailable (" + error + ")");
    };
    _enqueuer->submit(tasks);
}

void Dispatcher::enqueue(net::EventLoop& loop, net::Connection& conn, protocol::Request& req,
                         const plugins::RouteTable& table) {
    Addressee to{req.generation, req.guid};
    if (!_enqueuer) {
        answerStatus(conn, to, code::kQueueUnavailable,
                     "asynchronous calls are not available: no durable task queue is configured");
        return;
    }
    // Refuse the whole request if any call cannot run: "accepted" must
    // mean every call will be attempted.
    Value calls = Value::array();
    for (auto& call : req.calls) {
        CallOutcome error;
        if (!resolve(table, call, req.mode, error)) {
            _stats.route(call.api)->count(true);
            answerStatus(conn, to, error.code,
                         "call '" + call.key.toString() + "': " + error.msg + "; nothing was accepted");
            return;
        }
        Value c = Value::array();
        c.set("name", call.api);
        c.set("param", std::move(call.param));
        calls.set(call.key, std::move(c));
    }
    ++conn.inflight;
    EnqueueItem item;
    item.task.type = req.type;
    item.task.guid = req.guid;
    dora::sdk::serializeTo(item.task.calls, calls);
    auto encode = _opt.encode;
    net::EventLoop* lp = &loop;
    std::uint64_t connId = conn.id;
    stats::Stats* st = &_stats;
    item.task.done = [lp, connId, to, encode, st](bool stored, const std::string& error) {
        std::string out;
        if (stored) {
            protocol::appendStatusAnswer(out, to, code::kAccepted, "transfer success.已经成功投递", Value(),
                                         encode);
        } else {
            st->refused.count(true);
            protocol::appendStatusAnswer(out, to, code::kQueueUnavailable,
                                         "not accepted: the durable task queue is unavailable (" + error + ")",
                                         Value(), encode);
        }
        lp->post(connId, std::move(out));
    };
    _pendingEnqueue[loop.index()].push_back(std::move(item));
}

void Dispatcher::onRoundEnd(net::EventLoop& loop) {
    auto& queued = _pendingEnqueue[loop.index()];
    if (!queued.empty()) {
        std::vector<queue::Enqueuer::Task> tasks;
        tasks.reserve(queued.size());
        for (auto& q : queued) tasks.push_back(std::move(q.task));
        queued.clear();
        _enqueuer->submit(tasks);
    }
    auto& pending = _pending[loop.index()];
    if (pending.empty()) return;
    _pool.submit(pending);
    // What did not fit answers "busy" right here, without running.
    for (auto& job : pending) job(kRefused);
    pending.clear();
}

void Dispatcher::control(net::EventLoop& loop, net::Connection& conn, const protocol::Request& req) {
    Addressee to{req.generation, req.guid};
    const std::string& cmd = req.calls.front().api;
    if (cmd == "getStat") {
        Value data = Value::array();
        data.set("server", _control.stats ? _control.stats() : Value::array());
        protocol::appendStatusAnswer(conn.out, to, code::kOk, "OK", data, _opt.encode);
        return;
    }
    if (cmd == "reloadTask" && _control.reload) {
        // Loading plugins is slow blocking work: never on an I/O thread.
        ++conn.inflight;
        auto reload = _control.reload;
        auto encode = _opt.encode;
        net::EventLoop* lp = &loop;
        std::uint64_t connId = conn.id;
        _pending[loop.index()].emplace_back([reload, encode, lp, connId, to](unsigned w) {
            std::string out;
            if (w == kRefused) {
                protocol::appendStatusAnswer(out, to, code::kBusy, "server busy, reload not started", Value(),
                                             encode);
            } else {
                auto [c, msg] = reload();
                Value data = Value::array();
                data.set("reload", msg);
                protocol::appendStatusAnswer(out, to, c, c == 0 ? "OK" : msg, data, encode);
            }
            lp->post(connId, std::move(out));
        });
        return;
    }
    answerStatus(conn, to, code::kUnknownCommand, "unknow cmd");
}

} // namespace dora::dispatch
