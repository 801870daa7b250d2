// tests/dispatch/RequestRunnerTest.cpp — dispatch::RequestRunner on its own:
// a route table the test builds by hand (RouteTable::add) whose handlers are
// the test's own C functions behind a fake plugin object (no .so is loaded),
// a real workers::TaskPool, and no MySQL (a null pool) or, for group commit,
// a fake SQL session that records every statement (tests/common/
// FakeSqlSessions). Outcomes are waited for with generous deadlines;
// nothing asserts a duration.
#include "dispatch/RequestRunner.h"
#include "common/FakeSqlSessions.h"
#include "plugins/HostApi.h"
#include "pools/MySqlErrors.h"
#include "protocol/Codes.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using dora::dispatch::PendingRequest;
using dora::dispatch::RequestRunner;
using dora::dispatch::Results;
using dora::dispatch::RunBatch;
using dora::plugins::LoadedPlugin;
using dora::plugins::Route;
using dora::plugins::RouteTable;
using dora::protocol::CallOutcome;
using dora::protocol::Request;
namespace code = dora::protocol::code;

namespace {

constexpr int kDeadlineMs = 20000;

bool waitUntil(const std::function<bool()>& cond, int ms = kDeadlineMs) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!cond()) {
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
}

dora_buf bufOf(const std::string& s) { return dora_buf{s.data(), s.size()}; }
std::string strOf(dora_buf b) { return std::string(b.ptr ? b.ptr : "", b.len); }
const dora_host_api& api() { return *dora::plugins::hostApi(); }

/// What the test's handlers share with the test: a gate they can be held
/// at, what they saw, and how SQL answered them.
struct Probe {
    std::mutex m;
    std::condition_variable cv;
    bool gateOpen = true;
    std::atomic<int> entered{0}, returned{0};
    std::vector<std::thread::id> threads;
    std::vector<std::size_t> batchSizes;
    std::int32_t sqlStatus = -1;
    std::string sqlError;

    void close() {
        std::lock_guard<std::mutex> lock(m);
        gateOpen = false;
    }
    void open() {
        std::lock_guard<std::mutex> lock(m);
        gateOpen = true;
        cv.notify_all();
    }
    void pass() {
        std::unique_lock<std::mutex> lock(m);
        threads.push_back(std::this_thread::get_id());
        cv.wait(lock, [this] { return gateOpen; });
    }
};

// The handlers, as a plugin would register them: C function pointers of the ABI.

/// Answers its parameters back (after the gate).
std::int32_t echoHandler(void* user, dora_ctx*, dora_call* call) {
    auto& p = *static_cast<Probe*>(user);
    ++p.entered;
    p.pass();
    std::int32_t rc = api().call_set_result(call, api().call_params(call));
    ++p.returned;
    return rc;
}

std::int32_t failingHandler(void* user, dora_ctx*, dora_call* call) {
    ++static_cast<Probe*>(user)->entered;
    return api().call_set_error(call, code::kBadParam, bufOf(std::string("no good")));
}

/// Fails without an answer: the host must say so for it.
std::int32_t silentHandler(void* user, dora_ctx*, dora_call*) {
    ++static_cast<Probe*>(user)->entered;
    return DORA_ERR_INTERNAL;
}

/// Runs one statement on the session the host lends, and answers whatever
/// the host said.
std::int32_t sqlHandler(void* user, dora_ctx* ctx, dora_call* call) {
    auto& p = *static_cast<Probe*>(user);
    ++p.entered;
    const std::string sql = "SELECT 1", noParams = "a:0:{}";
    std::uint64_t affected = 0, id = 0;
    std::int32_t rc = api().sql_exec(ctx, bufOf(sql), bufOf(noParams), &affected, &id);
    {
        std::lock_guard<std::mutex> lock(p.m);
        p.sqlStatus = rc;
        p.sqlError = strOf(api().ctx_last_error(ctx));
    }
    return api().call_set_error(call, code::kDatabaseDown, api().ctx_last_error(ctx));
}

/// A batch handler: answers each call with its parameters and notes how
/// many calls it was handed at once.
std::int32_t batchHandler(void* user, dora_ctx*, dora_call* const* calls, std::size_t n) {
    auto& p = *static_cast<Probe*>(user);
    ++p.entered;
    p.pass();
    {
        std::lock_guard<std::mutex> lock(p.m);
        p.batchSizes.push_back(n);
    }
    for (std::size_t i = 0; i < n; ++i)
        api().call_set_result(calls[i], api().call_params(calls[i]));
    ++p.returned;
    return DORA_OK;
}

const char* const kWrite = "INSERT INTO t(v) VALUES (?)";

/// One statement with the call's params as its one parameter.
std::int32_t writeOne(dora_ctx* ctx, dora_call* call) {
    std::string params = "a:1:{i:0;" + strOf(api().call_params(call)) + "}";
    std::uint64_t affected = 0, id = 0;
    return api().sql_exec(ctx, bufOf(std::string(kWrite)), bufOf(params), &affected, &id);
}

/// Writes (kWrite) and answers its params; a failed statement is answered
/// as kDatabaseDown with the host's message.
std::int32_t writeHandler(void* user, dora_ctx* ctx, dora_call* call) {
    ++static_cast<Probe*>(user)->entered;
    if (writeOne(ctx, call) != DORA_OK)
        return api().call_set_error(call, code::kDatabaseDown, api().ctx_last_error(ctx));
    return api().call_set_result(call, api().call_params(call));
}

/// The batch form: one kWrite per call; a failed statement fails the batch.
std::int32_t batchWriteHandler(void* user, dora_ctx* ctx, dora_call* const* calls, std::size_t n) {
    auto& p = *static_cast<Probe*>(user);
    ++p.entered;
    {
        std::lock_guard<std::mutex> lock(p.m);
        p.batchSizes.push_back(n);
    }
    for (std::size_t i = 0; i < n; ++i) {
        if (std::int32_t rc = writeOne(ctx, calls[i]); rc != DORA_OK) return rc;
        api().call_set_result(calls[i], api().call_params(calls[i]));
    }
    return DORA_OK;
}

/// Opens a probe's gate when the test leaves, so a failed assertion does
/// not leave a worker held (and the pool's destructor waiting on it).
/// Declare it after the pool: it must run first.
struct OpenOnExit {
    Probe& probe;
    ~OpenOnExit() { probe.open(); }
};

const dora_plugin_info kFakeInfo = {
    sizeof(dora_plugin_info), DORA_ABI_MAJOR, DORA_ABI_MINOR, "fake", "test", nullptr, nullptr};

/// A route table built by hand, every route served by one fake plugin
/// object (nothing dlopen'ed: its destructor has nothing to unload).
class TableBuilder {
public:
    explicit TableBuilder(dora::stats::Stats& stats)
        : _stats(stats), _plugin(std::make_shared<LoadedPlugin>("(test)", nullptr, &kFakeInfo, -1)),
          _table(std::make_shared<RouteTable>()) {}

    /// A route calling `fn` (or the batch handler `batch`) with `probe`; adjust its spec with
    /// `tune`.
    TableBuilder& route(const std::string& apiName, dora_handler_fn fn, Probe& probe,
                        const std::function<void(dora::config::RouteSpec&)>& tune = {},
                        dora_batch_handler_fn batch = nullptr) {
        auto r = std::make_unique<Route>();
        r->spec.api = apiName;
        r->spec.handler = apiName;
        if (tune) tune(r->spec);
        r->handler = dora::plugins::Handler{fn, batch, &probe};
        r->plugin = _plugin;
        r->routeFile = "(test)";
        r->counter = _stats.route(apiName);
        _table->add(std::move(r));
        return *this;
    }
    std::shared_ptr<const RouteTable> table() const { return _table; }

private:
    dora::stats::Stats& _stats;
    std::shared_ptr<LoadedPlugin> _plugin;
    std::shared_ptr<RouteTable> _table;
};

/// A pending request that hands its results to the test.
class Pending : public PendingRequest {
public:
    void finish(Results& results) override {
        std::lock_guard<std::mutex> lock(_m);
        ++_finishes;
        _results = results;
        _thread = std::this_thread::get_id();
        _cv.notify_all();
    }
    /// The results, once finish ran (false: not within the deadline).
    bool wait(Results& out, int ms = kDeadlineMs) {
        std::unique_lock<std::mutex> lock(_m);
        if (!_cv.wait_for(lock, std::chrono::milliseconds(ms), [this] { return _finishes > 0; }))
            return false;
        out = _results;
        return true;
    }
    int finishes() {
        std::lock_guard<std::mutex> lock(_m);
        return _finishes;
    }
    std::thread::id thread() {
        std::lock_guard<std::mutex> lock(_m);
        return _thread;
    }

private:
    std::mutex _m;
    std::condition_variable _cv;
    int _finishes = 0;
    Results _results;
    std::thread::id _thread;
};

Request requestOf(std::vector<std::pair<std::string, std::string>> calls) {
    Request r;
    r.guid = "0123456789abcdef0123456789abcdef";
    r.mode = calls.size() == 1 ? dora::protocol::Mode::SyncSingle : dora::protocol::Mode::SyncMulti;
    int key = 0;
    for (auto& [apiName, params] : calls)
        r.calls.push_back(dora::protocol::Call{key++, apiName, params});
    return r;
}

/// Runs `req` through the runner's pool path; returns its pending request.
std::shared_ptr<Pending> start(RequestRunner& runner, Request req,
                               const std::shared_ptr<const RouteTable>& table) {
    auto pending = std::make_shared<Pending>();
    RunBatch batch;
    runner.run(pending, req, table, batch);
    runner.submit(batch);
    return pending;
}

std::string sstr(const std::string& s) {
    return "s:" + std::to_string(s.size()) + ":\"" + s + "\";";
}

} // namespace

class RequestRunnerTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(RequestRunnerTest);
    CPPUNIT_TEST(testCallResolvesAndItsOutcomeReachesTheCallback);
    CPPUNIT_TEST(testUnknownApiIsNoSuchRoute);
    CPPUNIT_TEST(testMultiCallAnswersEachCallOnItsOwn);
    CPPUNIT_TEST(testFullPoolIsRefusedAsBusy);
    CPPUNIT_TEST(testRouteConcurrencyLimitIsBusy);
    CPPUNIT_TEST(testRouteTimeoutAnswersWhileTheHandlerStillRuns);
    CPPUNIT_TEST(testInlineRouteRunsOnTheCallersThread);
    CPPUNIT_TEST(testSqlIsRefusedInlineAndWithoutADatabase);
    CPPUNIT_TEST(testGroupCommitWithoutMySqlRunsEachCallAlone);
    CPPUNIT_TEST(testGroupCommitRunsQueuedCallsInOneTransaction);
    CPPUNIT_TEST(testGroupCommitHandsABatchHandlerTheWholeGroup);
    CPPUNIT_TEST(testGroupCommitLockConflictUndoesThenEachCallRunsAlone);
    CPPUNIT_TEST(testGroupCommitLostCommitAnswersOutcomeUnknown);
    CPPUNIT_TEST(testStoreWithoutAQueueIsRefused);
    CPPUNIT_TEST(testLoadedEchoPluginServesThroughTheRunner);
    CPPUNIT_TEST_SUITE_END();

public:
    void testCallResolvesAndItsOutcomeReachesTheCallback() {
        dora::stats::Stats stats;
        Probe probe;
        TableBuilder tb(stats);
        tb.route("echo", &echoHandler, probe);
        dora::workers::TaskPool pool(2, 100);
        RequestRunner runner(pool, nullptr, stats);
        runner.setRoutes(tb.table());
        CPPUNIT_ASSERT(runner.routes() == tb.table());
        auto pending = start(runner, requestOf({{"echo", sstr("hello")}}), runner.routes());
        Results results;
        CPPUNIT_ASSERT(pending->wait(results));
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), results.size());
        CPPUNIT_ASSERT(results[0].first == dora::sdk::Key(0));
        CPPUNIT_ASSERT_EQUAL(0, results[0].second.code);
        CPPUNIT_ASSERT_EQUAL(sstr("hello"), results[0].second.data);
        CPPUNIT_ASSERT_EQUAL(1, probe.entered.load());
        CPPUNIT_ASSERT(pending->thread() != std::this_thread::get_id()); // a worker ran it
        auto snap = stats.route("echo")->snapshot();
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), snap.started);
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), snap.settled);
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), snap.errors);
    }

    /// Nothing runs, so the request finishes at once, on the caller's thread.
    void testUnknownApiIsNoSuchRoute() {
        dora::stats::Stats stats;
        Probe probe;
        TableBuilder tb(stats);
        tb.route("queued_only", &echoHandler, probe,
                 [](auto& s) { s.mode = dora::config::RouteMode::Queued; });
        dora::workers::TaskPool pool(1, 10);
        RequestRunner runner(pool, nullptr, stats);
        auto pending = std::make_shared<Pending>();
        RunBatch batch;
        Request req = requestOf({{"nope", "N;"}, {"queued_only", "N;"}});
        runner.run(pending, req, tb.table(), batch);
        CPPUNIT_ASSERT(batch.empty());
        CPPUNIT_ASSERT_EQUAL(1, pending->finishes());
        CPPUNIT_ASSERT(pending->thread() == std::this_thread::get_id());
        Results results;
        CPPUNIT_ASSERT(pending->wait(results, 0));
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), results.size());
        CPPUNIT_ASSERT_EQUAL(int(code::kNoSuchRoute), results[0].second.code);
        CPPUNIT_ASSERT(results[0].second.msg.find("'nope'") != std::string::npos);
        // Served, but only through the queue: a different refusal.
        CPPUNIT_ASSERT_EQUAL(int(code::kModeNotAllowed), results[1].second.code);
        CPPUNIT_ASSERT_EQUAL(0, probe.entered.load());
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(2), stats.unrouted.requests.load());
        // No table at all: the same code.
        auto none = std::make_shared<Pending>();
        Request one = requestOf({{"echo", "N;"}});
        runner.run(none, one, nullptr, batch);
        CPPUNIT_ASSERT(none->wait(results, 0));
        CPPUNIT_ASSERT_EQUAL(int(code::kNoSuchRoute), results[0].second.code);
    }

    void testMultiCallAnswersEachCallOnItsOwn() {
        dora::stats::Stats stats;
        Probe echo, failing, silent;
        TableBuilder tb(stats);
        tb.route("echo", &echoHandler, echo)
            .route("fail", &failingHandler, failing)
            .route("silent", &silentHandler, silent);
        dora::workers::TaskPool pool(3, 100);
        RequestRunner runner(pool, nullptr, stats);
        auto pending = start(runner,
                             requestOf({{"echo", sstr("one")},
                                        {"fail", "N;"},
                                        {"echo", sstr("three")},
                                        {"missing", "N;"},
                                        {"silent", "N;"}}),
                             tb.table());
        Results r;
        CPPUNIT_ASSERT(pending->wait(r));
        CPPUNIT_ASSERT_EQUAL(std::size_t(5), r.size());
        for (int i = 0; i < 5; ++i)
            CPPUNIT_ASSERT(r[i].first == dora::sdk::Key(i)); // request order
        CPPUNIT_ASSERT_EQUAL(0, r[0].second.code);
        CPPUNIT_ASSERT_EQUAL(sstr("one"), r[0].second.data);
        CPPUNIT_ASSERT_EQUAL(int(code::kBadParam), r[1].second.code);
        CPPUNIT_ASSERT_EQUAL(std::string("no good"), r[1].second.msg);
        CPPUNIT_ASSERT_EQUAL(0, r[2].second.code);
        CPPUNIT_ASSERT_EQUAL(sstr("three"), r[2].second.data);
        CPPUNIT_ASSERT_EQUAL(int(code::kNoSuchRoute), r[3].second.code);
        CPPUNIT_ASSERT_EQUAL(int(code::kHandlerFailed), r[4].second.code);
        CPPUNIT_ASSERT(r[4].second.msg.find("without an answer") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(1, pending->finishes());
        CPPUNIT_ASSERT_EQUAL(2, echo.entered.load());
    }

    /// One worker held, one task queued (the queue's bound): the next call
    /// is refused as busy at once, without running; the others still run.
    void testFullPoolIsRefusedAsBusy() {
        dora::stats::Stats stats;
        Probe probe;
        probe.close();
        TableBuilder tb(stats);
        tb.route("echo", &echoHandler, probe);
        dora::workers::TaskPool pool(1, 1);
        RequestRunner runner(pool, nullptr, stats);
        OpenOnExit release{probe};
        auto first = start(runner, requestOf({{"echo", sstr("1")}}), tb.table());
        CPPUNIT_ASSERT(waitUntil([&] { return probe.entered.load() == 1; }));
        auto second = start(runner, requestOf({{"echo", sstr("2")}}), tb.table());
        auto third = start(runner, requestOf({{"echo", sstr("3")}}), tb.table());
        Results r;
        CPPUNIT_ASSERT(third->wait(r, 0)); // settled inside submit, before it returned
        CPPUNIT_ASSERT_EQUAL(int(code::kBusy), r[0].second.code);
        CPPUNIT_ASSERT(r[0].second.msg.find("task queue is full") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), stats.poolRefused.load());
        CPPUNIT_ASSERT_EQUAL(0, second->finishes());
        probe.open();
        CPPUNIT_ASSERT(first->wait(r));
        CPPUNIT_ASSERT_EQUAL(sstr("1"), r[0].second.data);
        CPPUNIT_ASSERT(second->wait(r));
        CPPUNIT_ASSERT_EQUAL(sstr("2"), r[0].second.data);
        CPPUNIT_ASSERT_EQUAL(2, probe.entered.load());
    }

    void testRouteConcurrencyLimitIsBusy() {
        dora::stats::Stats stats;
        Probe probe;
        probe.close();
        TableBuilder tb(stats);
        tb.route("echo", &echoHandler, probe, [](auto& s) { s.maxConcurrency = 1; });
        dora::workers::TaskPool pool(2, 10);
        RequestRunner runner(pool, nullptr, stats);
        OpenOnExit release{probe};
        auto first = start(runner, requestOf({{"echo", sstr("1")}}), tb.table());
        CPPUNIT_ASSERT(waitUntil([&] { return probe.entered.load() == 1; }));
        auto second = start(runner, requestOf({{"echo", sstr("2")}}), tb.table());
        Results r;
        CPPUNIT_ASSERT(second->wait(r));
        CPPUNIT_ASSERT_EQUAL(int(code::kBusy), r[0].second.code);
        CPPUNIT_ASSERT(r[0].second.msg.find("concurrency limit") != std::string::npos);
        probe.open();
        CPPUNIT_ASSERT(first->wait(r));
        CPPUNIT_ASSERT_EQUAL(0, r[0].second.code);
        CPPUNIT_ASSERT_EQUAL(1, probe.entered.load());
    }

    /// The caller gets the timeout at the deadline while the handler is
    /// still held; the handler's late answer is dropped (finish ran once).
    void testRouteTimeoutAnswersWhileTheHandlerStillRuns() {
        dora::stats::Stats stats;
        Probe probe;
        probe.close();
        TableBuilder tb(stats);
        tb.route("slow", &echoHandler, probe, [](auto& s) { s.timeoutMs = 50; });
        dora::workers::TaskPool pool(1, 10);
        RequestRunner runner(pool, nullptr, stats);
        OpenOnExit release{probe};
        auto pending = start(runner, requestOf({{"slow", sstr("late")}}), tb.table());
        Results r;
        bool answered = pending->wait(r);
        const int returnedAtAnswer = probe.returned.load();
        probe.open(); // first, so a failure is reported, not a hang
        CPPUNIT_ASSERT(answered);
        CPPUNIT_ASSERT_EQUAL(int(code::kTimeout), r[0].second.code);
        CPPUNIT_ASSERT(r[0].second.msg.find("timed out after 50 ms") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL_MESSAGE("the timeout waited for the handler", 0, returnedAtAnswer);
        CPPUNIT_ASSERT(waitUntil([&] { return probe.returned.load() == 1; }));
        pool.stop(); // the worker has finished with the late result
        CPPUNIT_ASSERT_EQUAL(1, pending->finishes());
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), stats.route("slow")->snapshot().settled);
    }

    void testInlineRouteRunsOnTheCallersThread() {
        dora::stats::Stats stats;
        Probe inl, pooled;
        TableBuilder tb(stats);
        tb.route("fast", &echoHandler, inl, [](auto& s) { s.inlineRun = true; });
        tb.route("pooled", &echoHandler, pooled);
        dora::workers::TaskPool pool(1, 10);
        RequestRunner runner(pool, nullptr, stats);
        Request req = requestOf({{"fast", sstr("a")}, {"unknown", "N;"}, {"fast", sstr("b")}});
        Results r;
        CPPUNIT_ASSERT(runner.runInline(req, *tb.table(), r));
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), r.size());
        CPPUNIT_ASSERT_EQUAL(sstr("a"), r[0].second.data);
        CPPUNIT_ASSERT_EQUAL(int(code::kNoSuchRoute), r[1].second.code);
        CPPUNIT_ASSERT_EQUAL(sstr("b"), r[2].second.data);
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), inl.threads.size());
        for (auto t : inl.threads)
            CPPUNIT_ASSERT(t == std::this_thread::get_id());
        // One call needs the pool: nothing runs here and the request is left as it was.
        Request mixed = requestOf({{"fast", sstr("c")}, {"pooled", sstr("d")}});
        CPPUNIT_ASSERT(!runner.runInline(mixed, *tb.table(), r));
        CPPUNIT_ASSERT_EQUAL(2, inl.entered.load());
        CPPUNIT_ASSERT_EQUAL(0, pooled.entered.load());
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), mixed.calls.size());
        CPPUNIT_ASSERT_EQUAL(std::string("pooled"), mixed.calls[1].api);
        CPPUNIT_ASSERT_EQUAL(sstr("d"), mixed.calls[1].params);
    }

    /// An inline handler's SQL is refused as not allowed there
    /// (DORA_ERR_STATE), which is not the pooled handler's "no database"
    /// (DORA_ERR_DB_DOWN) on a host without MySQL.
    void testSqlIsRefusedInlineAndWithoutADatabase() {
        dora::stats::Stats stats;
        Probe inl, pooled;
        TableBuilder tb(stats);
        tb.route("sql_inline", &sqlHandler, inl, [](auto& s) { s.inlineRun = true; });
        tb.route("sql_pooled", &sqlHandler, pooled);
        dora::workers::TaskPool pool(1, 10);
        RequestRunner runner(pool, nullptr, stats);
        Request req = requestOf({{"sql_inline", "N;"}});
        Results r;
        CPPUNIT_ASSERT(runner.runInline(req, *tb.table(), r));
        CPPUNIT_ASSERT_EQUAL(std::int32_t(DORA_ERR_STATE), inl.sqlStatus);
        CPPUNIT_ASSERT(inl.sqlError.find("'sql_inline' is inline") != std::string::npos);
        auto pending = start(runner, requestOf({{"sql_pooled", "N;"}}), tb.table());
        CPPUNIT_ASSERT(pending->wait(r));
        std::lock_guard<std::mutex> lock(pooled.m);
        CPPUNIT_ASSERT_EQUAL(std::int32_t(DORA_ERR_DB_DOWN), pooled.sqlStatus);
        CPPUNIT_ASSERT(pooled.sqlError.find("no database is configured") != std::string::npos);
    }

    /// group_commit needs the MySQL pool to share a transaction; without
    /// one the calls are not grouped: a batch handler is handed each call
    /// alone, and no group is counted.
    void testGroupCommitWithoutMySqlRunsEachCallAlone() {
        dora::stats::Stats stats;
        Probe hold, grouped;
        hold.close();
        TableBuilder tb(stats);
        tb.route("hold", &echoHandler, hold);
        tb.route(
            "write", nullptr, grouped,
            [](auto& s) {
                s.groupCommit = true;
                s.batch = true;
            },
            &batchHandler);
        dora::workers::TaskPool pool(1, 100);
        RequestRunner runner(pool, nullptr, stats);
        OpenOnExit release{hold};
        auto held = start(runner, requestOf({{"hold", "N;"}}), tb.table());
        CPPUNIT_ASSERT(waitUntil([&] { return hold.entered.load() == 1; }));
        // Queued behind the held worker, so a worker could take them together.
        std::vector<std::shared_ptr<Pending>> writes;
        for (int i = 0; i < 5; ++i)
            writes.push_back(
                start(runner, requestOf({{"write", sstr("w" + std::to_string(i))}}), tb.table()));
        CPPUNIT_ASSERT_EQUAL(std::size_t(5), pool.queued());
        hold.open();
        for (int i = 0; i < 5; ++i) {
            Results r;
            CPPUNIT_ASSERT(writes[i]->wait(r));
            CPPUNIT_ASSERT_EQUAL(0, r[0].second.code);
            CPPUNIT_ASSERT_EQUAL(sstr("w" + std::to_string(i)), r[0].second.data);
        }
        std::lock_guard<std::mutex> lock(grouped.m);
        CPPUNIT_ASSERT_EQUAL(std::size_t(5), grouped.batchSizes.size());
        for (auto n : grouped.batchSizes)
            CPPUNIT_ASSERT_EQUAL(std::size_t(1), n);
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), stats.groupsCommitted.load());
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), stats.groupedCalls.load());
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), stats.groupsUndone.load());
        Results r;
        CPPUNIT_ASSERT(held->wait(r));
    }

    /// group_commit over a (fake) database: five calls queued behind a held
    /// worker are taken together; what runs is exactly the sequence given.
    struct GroupRun {
        dora::stats::Stats stats;
        Probe hold, grouped;
        dora::test::FakeSqlSessions db;
        std::vector<Results> results;
        std::vector<std::string> sql;

        void run(dora_handler_fn fn, dora_batch_handler_fn batch) {
            hold.close();
            TableBuilder tb(stats);
            tb.route("hold", &echoHandler, hold);
            tb.route(
                "write", fn, grouped,
                [&](auto& s) {
                    s.groupCommit = true;
                    s.batch = batch != nullptr;
                },
                batch);
            dora::workers::TaskPool pool(1, 100);
            RequestRunner runner(pool, &db, stats);
            OpenOnExit release{hold};
            auto held = start(runner, requestOf({{"hold", "N;"}}), tb.table());
            CPPUNIT_ASSERT(waitUntil([&] { return hold.entered.load() == 1; }));
            std::vector<std::shared_ptr<Pending>> writes;
            for (int i = 0; i < 5; ++i)
                writes.push_back(start(
                    runner, requestOf({{"write", sstr("w" + std::to_string(i))}}), tb.table()));
            CPPUNIT_ASSERT_EQUAL(std::size_t(5), pool.queued());
            hold.open();
            for (auto& w : writes) {
                Results r;
                CPPUNIT_ASSERT(w->wait(r));
                results.push_back(r);
            }
            Results r;
            CPPUNIT_ASSERT(held->wait(r));
            sql = db.sql();
            CPPUNIT_ASSERT(!db.inTransaction(0));
        }
    };

    static std::vector<std::string> seq(std::initializer_list<std::pair<const char*, int>> parts) {
        std::vector<std::string> out;
        for (const auto& [s, n] : parts)
            out.insert(out.end(), static_cast<std::size_t>(n), s);
        return out;
    }

    void testGroupCommitRunsQueuedCallsInOneTransaction() {
        GroupRun g;
        g.run(&writeHandler, nullptr);
        CPPUNIT_ASSERT(g.sql == seq({{"BEGIN", 1}, {kWrite, 5}, {"COMMIT", 1}}));
        auto log = g.db.log();
        for (int i = 0; i < 5; ++i) {
            CPPUNIT_ASSERT(log[1 + i].params == std::vector<std::string>{"w" + std::to_string(i)});
            CPPUNIT_ASSERT_EQUAL(0, g.results[i][0].second.code);
            CPPUNIT_ASSERT_EQUAL(sstr("w" + std::to_string(i)), g.results[i][0].second.data);
        }
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), g.stats.groupsCommitted.load());
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(5), g.stats.groupedCalls.load());
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), g.stats.groupsUndone.load());
    }

    void testGroupCommitHandsABatchHandlerTheWholeGroup() {
        GroupRun g;
        g.run(nullptr, &batchWriteHandler);
        CPPUNIT_ASSERT(g.sql == seq({{"BEGIN", 1}, {kWrite, 5}, {"COMMIT", 1}}));
        CPPUNIT_ASSERT(g.grouped.batchSizes == std::vector<std::size_t>{5});
        for (int i = 0; i < 5; ++i)
            CPPUNIT_ASSERT_EQUAL(sstr("w" + std::to_string(i)), g.results[i][0].second.data);
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), g.stats.groupsCommitted.load());
    }

    /// A deadlock in the second call: InnoDB may have rolled back the whole
    /// group, so it is rolled back and every call runs again alone
    /// (autocommit, no BEGIN), as without group commit.
    void testGroupCommitLockConflictUndoesThenEachCallRunsAlone() {
        GroupRun g;
        g.db.fail(kWrite, dora::pools::mysqlerr::kDeadlock, 1, 1);
        g.run(&writeHandler, nullptr);
        CPPUNIT_ASSERT(g.sql == seq({{"BEGIN", 1}, {kWrite, 2}, {"ROLLBACK", 1}, {kWrite, 5}}));
        auto log = g.db.log();
        for (int i = 0; i < 5; ++i) {
            CPPUNIT_ASSERT(log[4 + i].params == std::vector<std::string>{"w" + std::to_string(i)});
            CPPUNIT_ASSERT_EQUAL(0, g.results[i][0].second.code);
        }
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), g.stats.groupsCommitted.load());
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), g.stats.groupsUndone.load());
    }

    /// The connection lost on COMMIT: whether the group was applied is
    /// unknown, so nothing runs again and every call says so.
    void testGroupCommitLostCommitAnswersOutcomeUnknown() {
        GroupRun g;
        g.db.fail("COMMIT", dora::pools::mysqlerr::kServerLost);
        g.run(nullptr, &batchWriteHandler);
        CPPUNIT_ASSERT(g.sql == seq({{"BEGIN", 1}, {kWrite, 5}, {"COMMIT", 1}}));
        for (const auto& r : g.results) {
            CPPUNIT_ASSERT_EQUAL(int(code::kDatabaseDown), r[0].second.code);
            CPPUNIT_ASSERT(r[0].second.msg.find("may or may not") != std::string::npos);
        }
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), g.stats.groupsCommitted.load());
    }

    /// No durable queue configured: a no-result request is refused whole,
    /// and its done callback is never called.
    void testStoreWithoutAQueueIsRefused() {
        dora::stats::Stats stats;
        Probe probe;
        TableBuilder tb(stats);
        tb.route("later", &echoHandler, probe,
                 [](auto& s) { s.mode = dora::config::RouteMode::Queued; });
        dora::workers::TaskPool pool(1, 10);
        RequestRunner runner(pool, nullptr, stats);
        Request req = requestOf({{"later", "N;"}});
        req.mode = dora::protocol::Mode::AsyncSingle;
        RunBatch batch;
        CallOutcome refusal;
        bool called = false;
        CPPUNIT_ASSERT(!runner.store(
            req, tb.table().get(), [&](int, const std::string&) { called = true; }, batch,
            refusal));
        CPPUNIT_ASSERT_EQUAL(int(code::kQueueUnavailable), refusal.code);
        CPPUNIT_ASSERT(batch.empty());
        CPPUNIT_ASSERT(!called);
        CPPUNIT_ASSERT_EQUAL(0, probe.entered.load());
    }

    /// The one test with a real plugin: the loader fills the table (through
    /// RouteTable::add, as the hand-built tables above) from the build's
    /// libecho.so and its route file, and the runner serves it.
    void testLoadedEchoPluginServesThroughTheRunner() {
        const char* build = std::getenv("DORA_BUILD_DIR");
        const char* source = std::getenv("DORA_SOURCE_DIR");
        CPPUNIT_ASSERT_MESSAGE("run from CTest (DORA_BUILD_DIR, DORA_SOURCE_DIR)", build && source);
        dora::stats::Stats stats;
        dora::plugins::PluginLoader loader(std::string(build) + "/lib/dorahost/plugins",
                                           std::string(source) + "/plugins/echo", stats);
        dora::plugins::LoadReport report = loader.load();
        CPPUNIT_ASSERT_MESSAGE(report.errors.empty() ? "" : report.errors.front(),
                               report.errors.empty());
        const RouteTable& table = *report.table;
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), table.size());
        // mode: any serves both sides with one route.
        const std::string echo = "echo";
        CPPUNIT_ASSERT(table.find(echo, false) &&
                       table.find(echo, false) == table.find(echo, true));
        CPPUNIT_ASSERT(table.find(echo, false)->spec.inlineRun);
        dora::workers::TaskPool pool(1, 10);
        RequestRunner runner(pool, nullptr, stats);
        Request req = requestOf({{"echo", sstr("round trip")}, {"version", ""}});
        Results r;
        CPPUNIT_ASSERT(runner.runInline(req, table, r));
        CPPUNIT_ASSERT_EQUAL(0, r[0].second.code);
        CPPUNIT_ASSERT_EQUAL(sstr("round trip"), r[0].second.data);
        CPPUNIT_ASSERT_EQUAL(sstr("1.0.0"), r[1].second.data);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(RequestRunnerTest);
