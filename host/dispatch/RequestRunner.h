// dispatch/RequestRunner.h — runs requests, whatever transport they came
// by: resolves every call once in the current route table, runs the calls
// in the task pool (or stores a no-result request in the durable queue)
// and reports outcomes through a callback. Front ends (TCP frames, the
// HTTP gateway) decode and encode; they never resolve, run or store.
#pragma once

#include "dispatch/DeadlineTimer.h"
#include "plugins/CallMeta.h"
#include "plugins/Plugin.h"
#include "protocol/Request.h"
#include "protocol/Response.h"
#include "queue/TaskQueue.h"
#include "stats/Stats.h"
#include "workers/TaskPool.h"

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace dora::pools {
class SqlSessions;
}

namespace dora::dispatch {

class RequestRunner;

/// Every call's outcome, in request order.
using Results = std::vector<std::pair<dora::sdk::Key, protocol::CallOutcome>>;

/// A request whose calls are running. A front end derives from it to
/// deliver the outcome its own way; the runner keeps it alive until the
/// last call has settled.
class PendingRequest {
public:
    virtual ~PendingRequest() = default;
    /// Called exactly once, with every call's outcome, on the thread that
    /// settled the last call (a task worker, the deadline timer, or the
    /// caller of run() when nothing could run).
    virtual void finish(Results& results) = 0;

    /// What the request's handlers see as call metadata (SDK 1.2). The
    /// front end points it at what the request object keeps (guid, peer)
    /// before run(); run() stamps `started`.
    plugins::CallMeta meta;

private:
    friend class RequestRunner;
    struct CallState {
        const plugins::Route* route = nullptr; ///< null: settled at start (unrouted)
        std::atomic<bool> settled{false};
    };
    Results _results;
    std::unique_ptr<CallState[]> _calls;
    RequestRunner* _runner = nullptr;
    std::atomic<std::size_t> _remaining{0};
    std::shared_ptr<const plugins::RouteTable> _table; ///< keeps every route alive
    std::uint64_t _startedNs = 0; ///< stats::nowNs() at run(): the calls' latency starts here
};

/// The outcome of storing a no-result request: kAccepted once it is in
/// the stream, or the refusal. Called once, on the queue's thread or at
/// once.
using StoreDone = std::function<void(int code, const std::string& msg)>;

/// Tasks collected by a front end and handed over in one batch (one lock
/// per poll round instead of one per call).
struct RunBatch {
    std::vector<workers::Task> tasks;
    std::vector<queue::Enqueuer::Task> stores;
    bool empty() const { return tasks.empty() && stores.empty(); }
};

class RequestRunner {
public:
    RequestRunner(workers::TaskPool& pool, pools::SqlSessions* mysql, stats::Stats& stats);
    ~RequestRunner();

    /// Swaps the route table; calls in flight keep the table they started
    /// with (and so their plugin) until they finish. Thread-safe.
    void setRoutes(std::shared_ptr<const plugins::RouteTable> table);
    std::shared_ptr<const plugins::RouteTable> routes() const;
    /// The durable queue for no-result requests; without one they are
    /// refused with kQueueUnavailable. Set before serving.
    void setEnqueuer(queue::Enqueuer* enqueuer) { _enqueuer = enqueuer; }

    /// The route serving a call in-process (`queued` false: wait and
    /// push-result modes) or through the queue (true: no-result modes); on
    /// null, `error` says why (no such route, or not in this mode).
    const plugins::Route* resolve(const plugins::RouteTable& table, const std::string& api, bool queued,
                                  protocol::CallOutcome& error) const;

    /// Starts every call of `req` (its calls are moved from) for `pending`:
    /// unroutable calls settle at once, the others become tasks in `batch`
    /// (run them with submit). pending->finish runs when all are settled —
    /// at once if none could run.
    void run(const std::shared_ptr<PendingRequest>& pending, protocol::Request& req,
             const std::shared_ptr<const plugins::RouteTable>& table, RunBatch& batch);

    /// Runs every call of `req` on the calling thread, into `results`, when
    /// each call that has an in-process route has an inline one (`inline:
    /// true`: a handler that never blocks and uses no SQL); unrouted calls
    /// get their error as in run(). Returns false, with nothing run and
    /// `req` untouched, when any call needs the task pool. No allocation
    /// beyond the results: the answer can be written at once.
    bool runInline(protocol::Request& req, const plugins::RouteTable& table, Results& results);

    /// Stores a no-result request: every call must resolve to a queued
    /// route, or the whole request is refused — then it returns false with
    /// the refusal in `refusal` and never calls done. Otherwise the store
    /// joins `batch` and done reports it. "Accepted" means every call will
    /// be attempted.
    bool store(protocol::Request& req, const plugins::RouteTable* table, StoreDone done, RunBatch& batch,
               protocol::CallOutcome& refusal);

    /// Hands a batch over: tasks to the pool (what did not fit settles as
    /// "busy" here and now), stores to the queue. Leaves `batch` empty.
    void submit(RunBatch& batch);
    /// Like submit, for a front end whose thread would only wait for the
    /// answer: the first task runs on the calling thread when a worker
    /// slot is free (the others go to the pool first, so a multi request's
    /// calls still run side by side). Saves two thread hand-offs per call.
    void submitAndRunHere(RunBatch& batch);

private:
    static void runTask(void* pending, std::size_t call, unsigned slot);
    static void runTaskGroup(workers::Task* tasks, std::size_t count, unsigned slot);
    void countGroup(std::size_t calls) {
        _stats.groupsCommitted.fetch_add(1, std::memory_order_relaxed);
        _stats.groupedCalls.fetch_add(calls, std::memory_order_relaxed);
    }
    static void onDeadline(void* pending, std::size_t call, int ms);
    static void settle(PendingRequest& p, std::size_t call, protocol::CallOutcome o);

    workers::TaskPool& _pool;
    pools::SqlSessions* _mysql;
    stats::Stats& _stats;
    queue::Enqueuer* _enqueuer = nullptr;
    DeadlineTimer _timer;
    mutable std::mutex _routesMutex;
    std::shared_ptr<const plugins::RouteTable> _routes;
};

} // namespace dora::dispatch
