// dispatch/Dispatcher.h — turns frames into work: decode, validate, look
// the route up once in the current table, and hand the calls to the task
// pool in one batch per poll round. Answers are encoded on the worker
// that finishes the request and posted back to the connection's loop.
#pragma once

#include "dispatch/DeadlineTimer.h"
#include "net/EventLoop.h"
#include "plugins/Plugin.h"
#include "protocol/Request.h"
#include "protocol/Response.h"
#include "stats/Stats.h"
#include "workers/TaskPool.h"

#include <dora/sdk/value.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace dora::pools {
class MySqlPool;
}
namespace dora::queue {
class Enqueuer;
}

namespace dora::dispatch {

struct EnqueueItem;

struct DispatchOptions {
    protocol::EncodeOptions encode;
    protocol::RequestLimits limits;
    std::size_t maxBodyBytes = 2 * 1024 * 1024; ///< cap after gunzip
    std::size_t maxInflightPerConnection = 1000;
};

/// Control commands (SC) the dispatcher does not answer itself.
struct ControlHooks {
    /// getStat's data => ["server" => ...].
    std::function<dora::sdk::Value()> stats;
    /// reloadTask: returns code (0 or an error code) and a message.
    std::function<std::pair<int, std::string>()> reload;
};

class Dispatcher : public net::FrameHandler {
public:
    Dispatcher(DispatchOptions options, workers::TaskPool& pool, pools::MySqlPool* mysql,
               stats::Stats& stats, unsigned loops);
    ~Dispatcher() override;

    /// Swaps the route table; calls in flight keep the table they started
    /// with (and so their plugin) until they finish. Thread-safe.
    void setRoutes(std::shared_ptr<const plugins::RouteTable> table);
    std::shared_ptr<const plugins::RouteTable> routes() const;
    void setControl(ControlHooks hooks) { _control = std::move(hooks); }
    /// The durable queue for no-result async modes; without one those
    /// calls are refused with kQueueUnavailable. Set before serving.
    void setEnqueuer(queue::Enqueuer* enqueuer) { _enqueuer = enqueuer; }

    using Results = std::vector<std::pair<dora::sdk::Key, protocol::CallOutcome>>;
    /// For front ends other than the TCP loops (the HTTP gateway): runs a
    /// request's calls in the task pool with wait semantics and calls
    /// `done` once with every outcome, in request order — on a worker
    /// thread, or at once when nothing could run. Thread-safe.
    void runRequest(protocol::Request req, std::function<void(Results)> done);
    /// Stores a no-result request in the durable queue; `done(code, msg)`
    /// with kAccepted or the refusal. Thread-safe.
    void storeRequest(protocol::Request req, std::function<void(int, std::string)> done);

    void onFrame(net::EventLoop& loop, net::Connection& conn, const protocol::Frame& frame) override;
    void onBadFrame(net::EventLoop& loop, net::Connection& conn, protocol::ParseStatus status) override;
    void onRoundEnd(net::EventLoop& loop) override;

    /// The worker index a job receives when the pool refused it: it must
    /// answer "busy" instead of running.
    static constexpr unsigned kRefused = ~0u;

private:
    /// One request whose calls are running.
    struct InFlight {
        Results results;
        std::unique_ptr<std::atomic<bool>[]> settled;
        std::atomic<std::size_t> remaining{0};
        std::function<void(Results&)> finish;
        std::shared_ptr<const plugins::RouteTable> table; ///< keeps `routes` alive
        std::vector<const plugins::Route*> routes;        ///< per call (null: unrouted)
    };
    static void onDeadline(void* inflight, std::size_t call, int ms);
    static void settle(InFlight& p, std::size_t i, protocol::CallOutcome o, stats::Counter& counter);
    static protocol::CallOutcome runCall(const plugins::Route& route, pools::MySqlPool* mysql,
                                         unsigned worker, const std::string& api,
                                         const dora::sdk::Value& param);
    /// Resolves each call and appends one job per routed call; calls
    /// `finish` (once, with every outcome) when all are settled. Returns
    /// false if nothing needed to run (finish was already called).
    bool startCalls(const std::shared_ptr<const plugins::RouteTable>& table, protocol::Request& req,
                    std::function<void(Results&)> finish, std::vector<workers::TaskPool::Job>& jobs);
    void dispatchCalls(net::EventLoop& loop, net::Connection& conn, protocol::Request& req,
                       const std::shared_ptr<const plugins::RouteTable>& table);
    void enqueue(net::EventLoop& loop, net::Connection& conn, protocol::Request& req,
                 const plugins::RouteTable& table);
    void control(net::EventLoop& loop, net::Connection& conn, const protocol::Request& req);
    void answerStatus(net::Connection& conn, const protocol::Addressee& to, int code,
                      std::string_view msg);
    /// The route for a call in this mode, or an error outcome.
    const plugins::Route* resolve(const plugins::RouteTable& table, const protocol::Call& call,
                                  protocol::Mode mode, protocol::CallOutcome& error) const;

    const DispatchOptions _opt;
    workers::TaskPool& _pool;
    pools::MySqlPool* _mysql;
    stats::Stats& _stats;
    ControlHooks _control;
    queue::Enqueuer* _enqueuer = nullptr;

    DeadlineTimer _timer;
    mutable std::mutex _routesMutex;
    std::shared_ptr<const plugins::RouteTable> _routes;
    std::vector<std::vector<workers::TaskPool::Job>> _pending; ///< per loop
    std::vector<std::vector<EnqueueItem>> _pendingEnqueue; ///< per loop
};

} // namespace dora::dispatch
