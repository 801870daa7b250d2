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

/// A multi request waiting for its calls; the last one to finish answers.
struct MultiState {
    Addressee to;
    std::vector<std::pair<Key, CallOutcome>> results;
    std::atomic<std::size_t> remaining{0};
    net::EventLoop* loop = nullptr;
    std::uint64_t connId = 0;
};

CallOutcome busyOutcome() {
    return CallOutcome{code::kBusy, "server busy: the task queue is full, try again", {}};
}

std::string paramsBytes(const Value& v) {
    std::string s;
    dora::sdk::serializeTo(s, v);
    return s;
}

} // namespace

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
        control(conn, req);
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
    auto& pending = _pending[loop.index()];
    auto encode = _opt.encode;
    pools::MySqlPool* mysql = _mysql;
    net::EventLoop* lp = &loop;
    std::uint64_t connId = conn.id;

    if (!protocol::isMulti(req.mode)) {
        protocol::Call& call = req.calls.front();
        CallOutcome error;
        const plugins::Route* route = resolve(*table, call, req.mode, error);
        if (!route) {
            _stats.route(call.api)->count(true);
            answerStatus(conn, to, error.code, error.msg);
            return;
        }
        ++conn.inflight;
        pending.emplace_back([table, route, mysql, lp, connId, to = std::move(to), encode, push,
                              api = std::move(call.api), param = std::move(call.param)](unsigned w) {
            CallOutcome o;
            if (w == kRefused) {
                o = busyOutcome();
            } else {
                o = plugins::invoke(*route, mysql, w, api, paramsBytes(param));
            }
            route->counter->count(o.code != 0);
            std::string out;
            protocol::appendSingleAnswer(out, to, o, encode, push);
            lp->post(connId, std::move(out));
        });
        return;
    }

    auto state = std::make_shared<MultiState>();
    state->to = to;
    state->loop = lp;
    state->connId = connId;
    state->results.reserve(req.calls.size());
    std::vector<std::pair<std::size_t, const plugins::Route*>> runs;
    for (auto& call : req.calls) {
        CallOutcome error;
        const plugins::Route* route = resolve(*table, call, req.mode, error);
        state->results.emplace_back(call.key, CallOutcome{});
        if (!route) {
            _stats.route(call.api)->count(true);
            state->results.back().second = std::move(error);
        } else {
            runs.emplace_back(state->results.size() - 1, route);
        }
    }
    if (runs.empty()) {
        protocol::appendMultiAnswer(conn.out, to, state->results, encode, push);
        return;
    }
    ++conn.inflight;
    state->remaining = runs.size();
    for (auto& [i, route] : runs) {
        protocol::Call& call = req.calls[i];
        pending.emplace_back([table, state, i = i, route = route, mysql, encode, push,
                              api = std::move(call.api), param = std::move(call.param)](unsigned w) {
            CallOutcome o;
            if (w == kRefused)
                o = busyOutcome();
            else
                o = plugins::invoke(*route, mysql, w, api, paramsBytes(param));
            route->counter->count(o.code != 0);
            state->results[i].second = std::move(o);
            if (state->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                std::string out;
                protocol::appendMultiAnswer(out, state->to, state->results, encode, push);
                state->loop->post(state->connId, std::move(out));
            }
        });
    }
}

void Dispatcher::runRequest(protocol::Request req, std::function<void(Results)> done) {
    struct State {
        Results results;
        std::atomic<std::size_t> remaining{0};
        std::function<void(Results)> done;
    };
    auto table = routes();
    auto state = std::make_shared<State>();
    state->done = std::move(done);
    std::vector<std::pair<std::size_t, const plugins::Route*>> runs;
    for (auto& call : req.calls) {
        CallOutcome error;
        const plugins::Route* route = table ? resolve(*table, call, Mode::SyncMulti, error) : nullptr;
        if (!table) error = CallOutcome{code::kNoSuchRoute, "no routes are loaded", {}};
        state->results.emplace_back(call.key, CallOutcome{});
        if (!route) {
            _stats.route(call.api)->count(true);
            state->results.back().second = std::move(error);
        } else {
            runs.emplace_back(state->results.size() - 1, route);
        }
    }
    if (runs.empty()) {
        state->done(std::move(state->results));
        return;
    }
    state->remaining = runs.size();
    std::vector<workers::TaskPool::Job> jobs;
    pools::MySqlPool* mysql = _mysql;
    for (auto& [i, route] : runs) {
        protocol::Call& call = req.calls[i];
        jobs.emplace_back([table, state, i = i, route = route, mysql, api = std::move(call.api),
                           param = std::move(call.param)](unsigned w) {
            CallOutcome o = w == kRefused ? busyOutcome()
                                          : plugins::invoke(*route, mysql, w, api, paramsBytes(param));
            route->counter->count(o.code != 0);
            state->results[i].second = std::move(o);
            if (state->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1)
                state->done(std::move(state->results));
        });
    }
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

void Dispatcher::control(net::Connection& conn, const protocol::Request& req) {
    Addressee to{req.generation, req.guid};
    const std::string& cmd = req.calls.front().api;
    if (cmd == "getStat") {
        Value data = Value::array();
        data.set("server", _control.stats ? _control.stats() : Value::array());
        protocol::appendStatusAnswer(conn.out, to, code::kOk, "OK", data, _opt.encode);
        return;
    }
    if (cmd == "reloadTask" && _control.reload) {
        auto [c, msg] = _control.reload();
        Value data = Value::array();
        data.set("reload", msg);
        protocol::appendStatusAnswer(conn.out, to, c, c == 0 ? "OK" : msg, data, _opt.encode);
        return;
    }
    answerStatus(conn, to, code::kUnknownCommand, "unknow cmd");
}

} // namespace dora::dispatch
