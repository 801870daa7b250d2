#include "dispatch/RequestRunner.h"

#include "plugins/HostApi.h"
#include "protocol/Codes.h"

#include <dora/sdk/serialize.h>

namespace dora::dispatch {

using protocol::CallOutcome;
namespace code = protocol::code;

namespace {

CallOutcome routeBusy(const plugins::Route& route) {
    return CallOutcome{code::kBusy,
                       "route '" + route.spec.api + "' is at its concurrency limit (" +
                           std::to_string(route.spec.maxConcurrency) + "), try again",
                       {}};
}

/// A group whose commit lost its connection: its fate is unknown.
CallOutcome commitLost() {
    return CallOutcome{code::kDatabaseDown,
                       "database connection lost while committing (group commit): the call's writes may or may "
                       "not have been applied",
                       {}};
}

/// At most this many calls share one group commit.
constexpr std::size_t kMaxGroupCommit = 64;

CallOutcome poolBusy() { return CallOutcome{code::kBusy, "server busy: the task queue is full, try again", {}}; }

CallOutcome runCall(const plugins::Route& route, pools::SqlSessions* mysql, unsigned slot, const std::string& api,
                    const std::string& params, const plugins::CallMeta& meta) {
    const int limit = route.spec.maxConcurrency;
    if (limit > 0 && route.running.fetch_add(1, std::memory_order_acq_rel) >= limit) {
        route.running.fetch_sub(1, std::memory_order_acq_rel);
        return routeBusy(route);
    }
    CallOutcome o = plugins::invoke(route, mysql, slot, api, params, &meta);
    if (limit > 0) route.running.fetch_sub(1, std::memory_order_acq_rel);
    return o;
}

/// What a task carries besides its pending request: the call's api and
/// params live in the request's results until the call runs.
struct CallInput {
    std::string api;
    std::string params;
};

} // namespace

RequestRunner::RequestRunner(workers::TaskPool& pool, pools::SqlSessions* mysql, stats::Stats& stats)
    : _pool(pool), _mysql(mysql), _stats(stats) {}

RequestRunner::~RequestRunner() = default;

void RequestRunner::setRoutes(std::shared_ptr<const plugins::RouteTable> table) {
    std::lock_guard<std::mutex> lock(_routesMutex);
    _routes = std::move(table);
}

std::shared_ptr<const plugins::RouteTable> RequestRunner::routes() const {
    std::lock_guard<std::mutex> lock(_routesMutex);
    return _routes;
}

const plugins::Route* RequestRunner::resolve(const plugins::RouteTable& table, const std::string& api,
                                             bool queued, CallOutcome& error) const {
    const plugins::Route* r = table.find(api, queued);
    if (r) return r;
    if (table.find(api, !queued))
        error = CallOutcome{code::kModeNotAllowed,
                            "route '" + api + "' does not serve " + (queued ? "asynchronous" : "synchronous") +
                                " calls",
                            {}};
    else
        error = CallOutcome{code::kNoSuchRoute, "no such route: '" + api + "'", {}};
    return nullptr;
}

/// Settles call i once (by its handler, a refusal or its deadline); the
/// last call settled finishes the request.
void RequestRunner::settle(PendingRequest& p, std::size_t i, CallOutcome o) {
    if (p._calls[i].settled.exchange(true, std::memory_order_acq_rel)) return;
    p._calls[i].route->counter->settled(o.code, stats::nowNs() - p._startedNs);
    if (o.code != 0) p._runner->_stats.events.failed(p.meta.guid, p._calls[i].route->spec.api, o.code, p.meta.peer, o.msg);
    p._results[i].second = std::move(o);
    if (p._remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) p.finish(p._results);
}

void RequestRunner::onDeadline(void* target, std::size_t i, int ms) {
    auto& p = *static_cast<PendingRequest*>(target);
    const plugins::Route* route = p._calls[i].route;
    settle(p, i,
           CallOutcome{code::kTimeout,
                       "call to '" + route->spec.api + "' timed out after " + std::to_string(ms) + " ms",
                       {}});
}

void RequestRunner::runTask(void* target, std::size_t i, unsigned slot) {
    auto& p = *static_cast<PendingRequest*>(target);
    if (p._calls[i].settled.load(std::memory_order_acquire)) return; // timed out while queued
    // Until it runs, a call's api and params wait in its result slot.
    CallOutcome& slotData = p._results[i].second;
    std::string api = std::move(slotData.msg);
    std::string params = std::move(slotData.data);
    settle(p, i, runCall(*p._calls[i].route, p._runner->_mysql, slot, api, params, p.meta));
}

/// Calls of one group_commit route taken together by a worker: one
/// transaction, one commit, then every answer. A lock conflict or a lost
/// connection undoes the transaction; then each call runs again on its own
/// (autocommit), exactly as without group commit, so nothing is applied
/// twice and no call pays for another's failure.
void RequestRunner::runTaskGroup(workers::Task* tasks, std::size_t count, unsigned slot) {
    struct Item {
        PendingRequest* p;
        std::size_t i;
        std::string api, params;
        CallOutcome outcome;
    };
    std::vector<Item> items;
    items.reserve(count);
    for (std::size_t k = 0; k < count; ++k) {
        auto* p = static_cast<PendingRequest*>(tasks[k].object.get());
        const std::size_t i = tasks[k].index;
        if (p->_calls[i].settled.load(std::memory_order_acquire)) continue; // timed out while queued
        CallOutcome& slotData = p->_results[i].second;
        items.push_back(Item{p, i, std::move(slotData.msg), std::move(slotData.data), {}});
    }
    if (items.empty()) return;
    const plugins::Route& route = *items.front().p->_calls[items.front().i].route;
    RequestRunner& self = *items.front().p->_runner;
    pools::SqlSessions* mysql = self._mysql;
    bool together = items.size() > 1 && mysql;
    pools::SqlFailure f;
    if (together && route.handler.batch && mysql->begin(slot, f)) {
        // A batch handler takes the whole group at once (one multi-row
        // statement where it can), as the queue's consumer hands it tasks.
        std::vector<plugins::BatchCall> calls;
        calls.reserve(items.size());
        for (auto& it : items) calls.push_back(plugins::BatchCall{it.api, it.params, {}, &it.p->meta});
        plugins::BatchInvocation b = plugins::invokeInTransaction(route, *mysql, slot, calls);
        if (b.status == plugins::BatchStatus::Ran && mysql->commit(slot, f)) {
            self.countGroup(items.size());
            for (std::size_t k = 0; k < items.size(); ++k)
                settle(*items[k].p, items[k].i, std::move(b.outcomes[k]));
            return;
        }
        if (b.status == plugins::BatchStatus::Ran && f.dbDown) {
            for (auto& it : items) settle(*it.p, it.i, commitLost());
            return;
        }
        pools::SqlFailure ignored;
        if (mysql->inTransaction(slot)) mysql->rollback(slot, ignored);
    } else if (together && !route.handler.batch && mysql->begin(slot, f)) {
        bool undo = false;
        for (auto& it : items) {
            plugins::GroupedOutcome g = plugins::invokeInHostTransaction(route, *mysql, slot, it.api, it.params, &it.p->meta);
            it.outcome = std::move(g.outcome);
            if (g.dbDown || g.lockConflict) {
                undo = true;
                break;
            }
        }
        if (!undo && mysql->commit(slot, f)) {
            self.countGroup(items.size());
            for (auto& it : items)
                settle(*it.p, it.i, std::move(it.outcome));
            return;
        }
        if (!undo && f.dbDown) {
            // The commit's fate is unknown: say so, do not run them again.
            for (auto& it : items) settle(*it.p, it.i, commitLost());
            return;
        }
        pools::SqlFailure ignored;
        if (mysql->inTransaction(slot)) mysql->rollback(slot, ignored);
    }
    if (together) self._stats.groupsUndone.fetch_add(1, std::memory_order_relaxed);
    for (auto& it : items)
        settle(*it.p, it.i, runCall(route, mysql, slot, it.api, it.params, it.p->meta));
}

void RequestRunner::run(const std::shared_ptr<PendingRequest>& pending, protocol::Request& req,
                        const std::shared_ptr<const plugins::RouteTable>& table, RunBatch& batch) {
    PendingRequest& p = *pending;
    const std::size_t n = req.calls.size();
    p._runner = this;
    p._table = table;
    p._startedNs = stats::nowNs();
    p._calls = std::make_unique<PendingRequest::CallState[]>(n);
    p._results.reserve(n);
    std::size_t runnable = 0;
    for (std::size_t i = 0; i < n; ++i) {
        protocol::Call& call = req.calls[i];
        CallOutcome error;
        const plugins::Route* route = table ? resolve(*table, call.api, false, error) : nullptr;
        if (!table) error = CallOutcome{code::kNoSuchRoute, "no routes are loaded", {}};
        if (!route) {
            _stats.unrouted.count(true);
            _stats.events.failed(p.meta.guid, call.api, error.code, p.meta.peer, error.msg);
            p._results.emplace_back(std::move(call.key), std::move(error));
            p._calls[i].settled.store(true, std::memory_order_relaxed);
            continue;
        }
        p._calls[i].route = route;
        route->counter->started();
        // The call's input rides in its result slot until it runs (see runTask).
        p._results.emplace_back(std::move(call.key), CallOutcome{0, std::move(call.api), std::move(call.params)});
        ++runnable;
    }
    if (runnable == 0) {
        p.finish(p._results);
        return;
    }
    p._remaining.store(runnable, std::memory_order_release);
    for (std::size_t i = 0; i < n; ++i) {
        const plugins::Route* route = p._calls[i].route;
        if (!route) continue;
        if (route->spec.timeoutMs > 0) {
            // What call_time_left_us counts from (read only with a timeout).
            if (p.meta.started == std::chrono::steady_clock::time_point{})
                p.meta.started = std::chrono::steady_clock::now();
            // The caller gets kTimeout at the deadline; a result arriving
            // later finds the call settled and is dropped.
            _timer.after(route->spec.timeoutMs, pending, i, &RequestRunner::onDeadline);
        }
        workers::Task t{&RequestRunner::runTask, pending, i};
        if (route->spec.groupCommit && _mysql) {
            t.group = route;
            t.runGroup = &RequestRunner::runTaskGroup;
            t.maxGroup = kMaxGroupCommit;
        }
        batch.tasks.push_back(std::move(t));
    }
}

bool RequestRunner::runInline(protocol::Request& req, const plugins::RouteTable& table, Results& results) {
    // All or nothing: a request whose calls partly ran here and partly in
    // the pool would need both paths' bookkeeping.
    const plugins::Route* one = nullptr; // the common case: a single call, looked up once
    for (const auto& call : req.calls) {
        const plugins::Route* r = table.find(call.api, false);
        if (r && !r->spec.inlineRun) return false;
        one = r;
    }
    results.clear();
    results.reserve(req.calls.size());
    // Call metadata on the stack, pointing into req (no peer here; inline
    // routes have no timeout to count down either).
    plugins::CallMeta meta;
    meta.guid = req.guid;
    meta.mode = plugins::sdkMode(req.mode);
    meta.generation = plugins::sdkGeneration(req.generation);
    const std::uint64_t startedNs = stats::nowNs();
    for (auto& call : req.calls) {
        CallOutcome error;
        const plugins::Route* route = req.calls.size() == 1 && one ? one : resolve(table, call.api, false, error);
        if (!route) {
            _stats.unrouted.count(true);
            _stats.events.failed(req.guid, call.api, error.code, {}, error.msg);
            results.emplace_back(std::move(call.key), std::move(error));
            continue;
        }
        route->counter->started();
        CallOutcome o = runCall(*route, nullptr, 0, call.api, call.params, meta);
        route->counter->settled(o.code, stats::nowNs() - startedNs);
        if (o.code != 0) _stats.events.failed(req.guid, call.api, o.code, {}, o.msg);
        results.emplace_back(std::move(call.key), std::move(o));
    }
    return true;
}

bool RequestRunner::store(protocol::Request& req, const plugins::RouteTable* table, StoreDone done,
                          RunBatch& batch, CallOutcome& refusal) {
    if (!_enqueuer) {
        refusal = CallOutcome{code::kQueueUnavailable,
                              "asynchronous calls are not available: no durable task queue is configured", {}};
        return false;
    }
    // Refuse the whole request if any call cannot run: "accepted" must
    // mean every call will be attempted.
    for (auto& call : req.calls) {
        CallOutcome error;
        if (!table || !resolve(*table, call.api, true, error)) {
            if (!table) error = CallOutcome{code::kNoSuchRoute, "no routes are loaded", {}};
            _stats.unrouted.count(true);
            refusal = CallOutcome{error.code,
                                  "call '" + call.key.toString() + "': " + error.msg + "; nothing was accepted", {}};
            return false;
        }
    }
    std::string calls;
    if (!req.storedCalls.empty())
        calls.assign(req.storedCalls); // already what encodeCalls writes
    else
        protocol::encodeCalls(req.calls, calls);
    queue::Enqueuer::Task task;
    task.type = req.type;
    task.guid = req.guid;
    task.calls = std::move(calls);
    task.done = [done = std::move(done)](bool stored, const std::string& error) {
        if (stored)
            done(code::kAccepted, "transfer success.已经成功投递");
        else
            done(code::kQueueUnavailable, "not accepted: the durable task queue is unavailable (" + error + ")");
    };
    batch.stores.push_back(std::move(task));
    return true;
}

void RequestRunner::submit(RunBatch& batch) {
    if (!batch.stores.empty()) {
        _enqueuer->submit(batch.stores);
        batch.stores.clear();
    }
    if (batch.tasks.empty()) return;
    std::size_t taken = _pool.submit(batch.tasks);
    if (taken < batch.tasks.size()) _stats.poolRefused.fetch_add(batch.tasks.size() - taken, std::memory_order_relaxed);
    // What did not fit answers "busy" right here, without running.
    for (std::size_t i = taken; i < batch.tasks.size(); ++i) {
        auto& t = batch.tasks[i];
        settle(*static_cast<PendingRequest*>(t.object.get()), t.index, poolBusy());
    }
    batch.tasks.clear();
}

void RequestRunner::submitAndRunHere(RunBatch& batch) {
    if (batch.tasks.empty() || !batch.stores.empty()) {
        submit(batch);
        return;
    }
    workers::Task first = std::move(batch.tasks.front());
    batch.tasks.erase(batch.tasks.begin());
    submit(batch);
    if (_pool.runHere(first)) return;
    batch.tasks.push_back(std::move(first));
    submit(batch);
}

} // namespace dora::dispatch
