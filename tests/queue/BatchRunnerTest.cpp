// tests/queue/BatchRunnerTest.cpp — queue::BatchRunner and queue::Ledger on
// a fake SQL session (tests/common/FakeSqlSessions): the exact sequence of
// transaction calls and ledger statements for each way a batch ends, with
// a hand-built route whose batch handler is the test's own C function (no
// .so, no MariaDB, no Redis). Statements are compared by what they are
// (ledger insert, lookup, lock, mark, create, alter; the handler's own;
// BEGIN, COMMIT, ROLLBACK) so that the ledger's SQL text can change without
// this file; LedgerSqlTest pins that text. The fake answers what it is told,
// not what was written: a replay's rows are given with answer(). (LedgerTest
// runs the runner against MariaDB.)
#include "queue/BatchRunner.h"
#include "common/FakeSqlSessions.h"
#include "plugins/HostApi.h"
#include "pools/MySqlErrors.h"
#include "protocol/Codes.h"
#include "queue/Ledger.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

using dora::plugins::LoadedPlugin;
using dora::plugins::Route;
using dora::queue::BatchEntry;
using dora::queue::BatchResult;
using dora::queue::BatchRunner;
using dora::queue::BatchTask;
using dora::queue::Ledger;
using dora::queue::TaskResult;
using dora::test::FakeSqlSessions;
namespace code = dora::protocol::code;
namespace err = dora::pools::mysqlerr;

namespace {

const dora_host_api& api() { return *dora::plugins::hostApi(); }
dora_buf bufOf(const std::string& s) { return dora_buf{s.data(), s.size()}; }
std::string strOf(dora_buf b) { return std::string(b.ptr ? b.ptr : "", b.len); }
std::string sstr(const std::string& s) {
    return "s:" + std::to_string(s.size()) + ":\"" + s + "\";";
}

const char* const kWrite = "INSERT INTO t(v) VALUES (?)";

/// What the batch handler saw, one entry per time it was called.
struct Probe {
    std::mutex m;
    std::vector<std::vector<std::string>> batches; ///< the task ids of each call
};

/// The test's batch handler. Per call, by its params: "poison" fails the
/// whole batch without answers (before any statement); "bad" answers an
/// error; anything else runs kWrite with the params and answers them. A
/// statement that fails ends the handler with its status, as a plugin's
/// would.
std::int32_t batchHandler(void* user, dora_ctx* ctx, dora_call* const* calls, std::size_t n) {
    auto& probe = *static_cast<Probe*>(user);
    {
        std::vector<std::string> ids;
        for (std::size_t i = 0; i < n; ++i)
            ids.push_back(strOf(api().call_task_id(calls[i])));
        std::lock_guard<std::mutex> lock(probe.m);
        probe.batches.push_back(std::move(ids));
    }
    for (std::size_t i = 0; i < n; ++i) {
        std::string p = strOf(api().call_params(calls[i]));
        if (p == "poison") return DORA_ERR_INTERNAL;
        if (p == "bad") {
            api().call_set_error(calls[i], code::kBadParam, bufOf(std::string("bad task")));
            continue;
        }
        std::string params = "a:1:{i:0;" + sstr(p) + "}";
        std::uint64_t affected = 0, id = 0;
        std::int32_t rc =
            api().sql_exec(ctx, bufOf(std::string(kWrite)), bufOf(params), &affected, &id);
        if (rc != DORA_OK) return rc;
        api().call_set_result(calls[i], bufOf(sstr(p)));
    }
    return DORA_OK;
}

const dora_plugin_info kFakeInfo = {
    sizeof(dora_plugin_info), DORA_ABI_MAJOR, DORA_ABI_MINOR, "fake", "test", nullptr, nullptr};

/// An async route served by batchHandler, on a plugin object with nothing
/// dlopen'ed.
std::unique_ptr<Route> batchRoute(Probe& probe) {
    auto r = std::make_unique<Route>();
    r->spec.api = "write";
    r->spec.handler = "write";
    r->spec.batch = true;
    r->spec.mode = dora::config::RouteMode::Queued;
    r->handler = dora::plugins::Handler{nullptr, &batchHandler, &probe};
    r->plugin = std::make_shared<LoadedPlugin>("(test)", nullptr, &kFakeInfo, -1);
    r->routeFile = "(test)";
    return r;
}

/// A statement by what it is: the ledger's by verb, the rest as they are.
std::string kind(const std::string& sql) {
    if (sql.find("dora_processed_tasks") == std::string::npos) return sql;
    if (sql.rfind("INSERT", 0) == 0) return "ledger insert";
    if (sql.rfind("SELECT", 0) == 0)
        return sql.find("FOR UPDATE") != std::string::npos ? "ledger lock" : "ledger lookup";
    if (sql.rfind("UPDATE", 0) == 0) return "ledger mark";
    if (sql.rfind("DELETE", 0) == 0) return "ledger forget";
    if (sql.rfind("CREATE", 0) == 0) return "ledger create";
    if (sql.rfind("ALTER", 0) == 0) return "ledger alter";
    return sql;
}

std::vector<std::string> kinds(const FakeSqlSessions& db) {
    std::vector<std::string> out;
    for (const auto& s : db.sql())
        out.push_back(kind(s));
    return out;
}

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v)
        s += (s.empty() ? "" : " | ") + x;
    return s;
}

/// The statements of `db` equal `expected` (printed whole on a mismatch).
#define ASSERT_SEQUENCE(db, ...)                                                                   \
    CPPUNIT_ASSERT_EQUAL(join(std::vector<std::string>{__VA_ARGS__}), join(kinds(db)))

/// One runner over a fake, its ledger, a route and the tasks' storage.
struct Fixture {
    FakeSqlSessions db;
    Ledger ledger{db, "dora:test:stream"};
    std::atomic<bool> stopping{false};
    BatchRunner runner{db, ledger, stopping};
    Probe probe;
    std::unique_ptr<Route> route = batchRoute(probe);
    std::vector<std::string> ids, params;
    std::string key = ledger.entryKey("1-0");
    bool replay = false;

    /// One entry, 1-0, whose calls have these params: task ids
    /// <prefix>1-0#0, #1, ...
    std::vector<BatchTask> tasks(const std::vector<std::string>& ps) {
        params = ps;
        ids.clear();
        for (std::size_t i = 0; i < ps.size(); ++i)
            ids.push_back(ledger.taskId("1-0", i));
        std::vector<BatchTask> out;
        for (std::size_t i = 0; i < ps.size(); ++i)
            out.push_back(BatchTask{route.get(), "write", params[i], ids[i], nullptr, i});
        return out;
    }
    BatchResult run(const std::vector<BatchTask>& ts, std::vector<TaskResult>& results) {
        std::vector<std::vector<TaskResult>> all;
        BatchResult r = runner.run(0, {BatchEntry{key, ts.size(), replay, ts}}, all);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), all.size());
        results = all[0];
        CPPUNIT_ASSERT_EQUAL(ts.size(), results.size());
        return r;
    }
    /// The params of the i-th statement of the log.
    std::vector<std::string> paramsOf(std::size_t i) const { return db.log().at(i).params; }
};

const std::string kIns = "ledger insert", kLook = "ledger lookup", kLock = "ledger lock",
                  kMark = "ledger mark", kCreate = "ledger create", kAlter = "ledger alter", kB = FakeSqlSessions::kBegin,
                  kC = FakeSqlSessions::kCommit, kR = FakeSqlSessions::kRollback, kW = kWrite;

} // namespace

class BatchRunnerTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(BatchRunnerTest);
    CPPUNIT_TEST(testBatchCommitsOnceWithItsLedgerRows);
    CPPUNIT_TEST(testFailedTaskIsMarkedAndTheRestCommitted);
    CPPUNIT_TEST(testReplayLooksUpBothRowShapesFirst);
    CPPUNIT_TEST(testDuplicateKeyLooksUpAndRunsOnlyFreshTasks);
    CPPUNIT_TEST(testAllDuplicatesRunNothingAndCommit);
    CPPUNIT_TEST(testDeadlockRollsBackAndRunsTheBatchAgain);
    CPPUNIT_TEST(testLockConflictsGiveUpAfterTheRetryPolicy);
    CPPUNIT_TEST(testFailedCommitIsRunAgainWhole);
    CPPUNIT_TEST(testHandlerFailureIsolatesEachTask);
    CPPUNIT_TEST(testDatabaseAwayIsWaitedFor);
    CPPUNIT_TEST(testDatabaseAwayGivesUpWhenStopping);
    CPPUNIT_TEST(testMissingLedgerIsCreatedThenRetried);
    CPPUNIT_TEST(testOtherErrorsGiveUpAfterThreeRounds);
    CPPUNIT_TEST_SUITE_END();

public:
    void testBatchCommitsOnceWithItsLedgerRows() {
        Fixture f;
        std::vector<TaskResult> r;
        CPPUNIT_ASSERT(f.run(f.tasks({"a", "b", "c"}), r) == BatchResult::Committed);
        ASSERT_SEQUENCE(f.db, kB, kIns, kW, kW, kW, kC);
        CPPUNIT_ASSERT(f.paramsOf(1) == std::vector<std::string>{f.key}); // one ledger row for the entry
        CPPUNIT_ASSERT(f.paramsOf(2) == std::vector<std::string>{"a"});
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), r.size());
        for (const auto& t : r) {
            CPPUNIT_ASSERT_EQUAL(0, t.code);
            CPPUNIT_ASSERT(!t.duplicate);
        }
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), f.probe.batches.size()); // one handler call for all
        CPPUNIT_ASSERT(f.probe.batches[0] == f.ids); // call_task_id: one id per call
        CPPUNIT_ASSERT(!f.db.inTransaction(0));
    }

    /// A task answered with an error is marked not applied in its entry's
    /// row (it will run again), the others commit in the same transaction.
    void testFailedTaskIsMarkedAndTheRestCommitted() {
        Fixture f;
        std::vector<TaskResult> r;
        CPPUNIT_ASSERT(f.run(f.tasks({"a", "bad", "c"}), r) == BatchResult::Committed);
        ASSERT_SEQUENCE(f.db, kB, kIns, kW, kW, kMark, kC);
        CPPUNIT_ASSERT((f.paramsOf(4) == std::vector<std::string>{"101", f.key}));
        CPPUNIT_ASSERT_EQUAL(0, r[0].code);
        CPPUNIT_ASSERT_EQUAL(int(code::kBadParam), r[1].code);
        CPPUNIT_ASSERT_EQUAL(std::string("bad task"), r[1].msg);
        CPPUNIT_ASSERT_EQUAL(0, r[2].code);
    }

    /// Read new, but recorded meanwhile (a racing host committed it): the
    /// ledger insert hits a duplicate key (only that statement fails), the
    /// row is looked up and locked, only the calls it does not mark run,
    /// and the row is marked "all".
    void testDuplicateKeyLooksUpAndRunsOnlyFreshTasks() {
        Fixture f;
        auto ts = f.tasks({"a", "b", "c"});
        f.db.fail("INSERT INTO dora_processed_tasks", err::kDuplicateKey);
        f.db.answer("SELECT", {"task_id", "applied"}, {{f.key, "010"}});
        std::vector<TaskResult> r;
        CPPUNIT_ASSERT(f.run(ts, r) == BatchResult::Committed);
        ASSERT_SEQUENCE(f.db, kB, kIns, kLook, kLock, kW, kW, kMark, kC);
        CPPUNIT_ASSERT_EQUAL(err::kDuplicateKey, f.db.log()[1].failedWith);
        CPPUNIT_ASSERT(f.paramsOf(2) == std::vector<std::string>{f.key});
        CPPUNIT_ASSERT(f.paramsOf(3) == std::vector<std::string>{f.key});
        CPPUNIT_ASSERT((f.paramsOf(4) == std::vector<std::string>{"a"}));
        CPPUNIT_ASSERT((f.paramsOf(5) == std::vector<std::string>{"c"}));
        CPPUNIT_ASSERT((f.paramsOf(6) == std::vector<std::string>{"NULL", f.key}));
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), f.probe.batches.size());
        CPPUNIT_ASSERT((f.probe.batches[0] == std::vector<std::string>{f.ids[0], f.ids[2]}));
        CPPUNIT_ASSERT(!r[0].duplicate);
        CPPUNIT_ASSERT(r[1].duplicate);
        CPPUNIT_ASSERT(!r[2].duplicate);
    }

    void testAllDuplicatesRunNothingAndCommit() {
        Fixture f;
        auto ts = f.tasks({"a", "b"});
        f.db.fail("INSERT INTO dora_processed_tasks", err::kDuplicateKey);
        f.db.answer("SELECT", {"task_id", "applied"}, {{f.key, "11"}});
        std::vector<TaskResult> r;
        CPPUNIT_ASSERT(f.run(ts, r) == BatchResult::Committed);
        ASSERT_SEQUENCE(f.db, kB, kIns, kLook, kLock, kMark, kC); // "11" becomes NULL: all
        CPPUNIT_ASSERT(f.probe.batches.empty());
        CPPUNIT_ASSERT(r[0].duplicate && r[1].duplicate);
    }

    /// A replay (redelivered, redriven, retried) asks first, for its row
    /// and for the pre-1.3 rows of its calls (`<key>#<index>`): what either
    /// says is applied does not run again.
    void testReplayLooksUpBothRowShapesFirst() {
        Fixture f;
        f.replay = true;
        auto ts = f.tasks({"a", "b", "c"});
        f.db.answer("SELECT", {"task_id", "applied"}, {{f.ids[2], "1"}});
        std::vector<TaskResult> r;
        CPPUNIT_ASSERT(f.run(ts, r) == BatchResult::Committed);
        // No row of the new shape: nothing to lock; recorded, then marked
        // (call 2 applied by the old host, 0 and 1 now: all).
        ASSERT_SEQUENCE(f.db, kB, kLook, kIns, kW, kW, kC);
        CPPUNIT_ASSERT((f.paramsOf(1) == std::vector<std::string>{f.key, f.ids[0], f.ids[1], f.ids[2]}));
        CPPUNIT_ASSERT(!r[0].duplicate && !r[1].duplicate && r[2].duplicate);
        CPPUNIT_ASSERT((f.probe.batches[0] == std::vector<std::string>{f.ids[0], f.ids[1]}));
    }

    /// A deadlock in the handler's statement: InnoDB may have rolled back
    /// part of it, so all of it is rolled back and run again from BEGIN.
    void testDeadlockRollsBackAndRunsTheBatchAgain() {
        Fixture f;
        f.db.fail(kWrite, err::kDeadlock, 1, 1); // the second write of the first round
        std::vector<TaskResult> r;
        CPPUNIT_ASSERT(f.run(f.tasks({"a", "b"}), r) == BatchResult::Committed);
        ASSERT_SEQUENCE(f.db, kB, kIns, kW, kW, kR, kB, kIns, kW, kW, kC);
        CPPUNIT_ASSERT_EQUAL(err::kDeadlock, f.db.log()[3].failedWith);
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), f.probe.batches.size());
        CPPUNIT_ASSERT_EQUAL(0, r[0].code);
        CPPUNIT_ASSERT_EQUAL(0, r[1].code);
    }

    /// Lock wait timeouts every round: rerun up to the one retry policy's
    /// bound, then the tasks fail (nothing committed) and stay pending.
    void testLockConflictsGiveUpAfterTheRetryPolicy() {
        Fixture f;
        f.db.fail(kWrite, err::kLockWaitTimeout, -1);
        std::vector<TaskResult> r;
        CPPUNIT_ASSERT(f.run(f.tasks({"a"}), r) == BatchResult::GaveUp);
        std::vector<std::string> round = {kB, kIns, kW, kR}, expected;
        // (the round is the same as in every other test: one entry)
        for (int i = 0; i < dora::pools::LockConflictRetry::kMaxAttempts; ++i)
            expected.insert(expected.end(), round.begin(), round.end());
        CPPUNIT_ASSERT_EQUAL(join(expected), join(kinds(f.db)));
        CPPUNIT_ASSERT_EQUAL(int(code::kHandlerFailed), r[0].code);
        CPPUNIT_ASSERT(r[0].msg.find("lock conflict") != std::string::npos);
    }

    /// A COMMIT that lost a deadlock has rolled back: the whole batch runs again.
    void testFailedCommitIsRunAgainWhole() {
        Fixture f;
        f.db.fail(FakeSqlSessions::kCommit, err::kDeadlock);
        std::vector<TaskResult> r;
        CPPUNIT_ASSERT(f.run(f.tasks({"a"}), r) == BatchResult::Committed);
        ASSERT_SEQUENCE(f.db, kB, kIns, kW, kC, kR, kB, kIns, kW, kC);
        CPPUNIT_ASSERT_EQUAL(err::kDeadlock, f.db.log()[3].failedWith);
    }

    /// The batch handler fails as a whole: nothing of it is committed, then
    /// each task runs alone in its own transaction, so only the poison task
    /// fails.
    void testHandlerFailureIsolatesEachTask() {
        Fixture f;
        auto ts = f.tasks({"a", "poison", "c"});
        std::vector<TaskResult> r;
        CPPUNIT_ASSERT(f.run(ts, r) == BatchResult::RanOneByOne);
        // Each call alone is a replay of the entry (the one before may have
        // committed its row): looked up first. The fake has no rows to
        // answer, so each records the row and marks its own call.
        ASSERT_SEQUENCE(f.db, kB, kIns, kW, kR,             // the batch: undone
                        kB, kLook, kIns, kW, kMark, kC,     // a alone
                        kB, kLook, kIns, kR,                // poison alone: undone
                        kB, kLook, kIns, kW, kMark, kC);    // c alone
        CPPUNIT_ASSERT((f.paramsOf(8) == std::vector<std::string>{"100", f.key}));
        CPPUNIT_ASSERT((f.paramsOf(18) == std::vector<std::string>{"001", f.key}));
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), r.size());
        CPPUNIT_ASSERT_EQUAL(0, r[0].code);
        CPPUNIT_ASSERT_EQUAL(int(code::kHandlerFailed), r[1].code);
        CPPUNIT_ASSERT_EQUAL(0, r[2].code);
        CPPUNIT_ASSERT_EQUAL(std::size_t(4), f.probe.batches.size());
    }

    /// The database away (server gone): roll back, wait, go again; the
    /// batch commits once it is back.
    void testDatabaseAwayIsWaitedFor() {
        Fixture f;
        f.db.fail(kWrite, err::kServerLost);
        std::vector<TaskResult> r;
        CPPUNIT_ASSERT(f.run(f.tasks({"a"}), r) == BatchResult::Committed);
        ASSERT_SEQUENCE(f.db, kB, kIns, kW, kR, kB, kIns, kW, kC);
        CPPUNIT_ASSERT_EQUAL(0, r[0].code);
    }

    /// Away for good: the runner keeps waiting until the host stops, then
    /// gives the batch up (kDatabaseDown; the tasks stay in the stream).
    void testDatabaseAwayGivesUpWhenStopping() {
        Fixture f;
        f.db.fail("", err::kServerGone, -1);
        int begins = 0;
        f.db.onStatement([&](const std::string& sql) {
            if (sql == kB && ++begins == 2) f.stopping = true;
        });
        std::vector<TaskResult> r;
        CPPUNIT_ASSERT(f.run(f.tasks({"a", "b"}), r) == BatchResult::GaveUp);
        ASSERT_SEQUENCE(f.db, kB, kR, kB, kR); // waited once, then the host stopped
        CPPUNIT_ASSERT(f.probe.batches.empty());
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), r.size());
        for (const auto& t : r)
            CPPUNIT_ASSERT_EQUAL(int(code::kDatabaseDown), t.code);
    }

    /// A database without the ledger table (new, or dropped): created once,
    /// then the batch runs again.
    void testMissingLedgerIsCreatedThenRetried() {
        Fixture f;
        f.db.fail("INSERT INTO dora_processed_tasks", err::kNoSuchTable);
        std::vector<TaskResult> r;
        CPPUNIT_ASSERT(f.run(f.tasks({"a"}), r) == BatchResult::Committed);
        ASSERT_SEQUENCE(f.db, kB, kIns, kR, kCreate, kAlter, kB, kIns, kW, kC);
        // Only once: still missing after that is a failure like any other.
        Fixture g;
        g.db.fail("INSERT INTO dora_processed_tasks", err::kNoSuchTable, -1);
        CPPUNIT_ASSERT(g.run(g.tasks({"a"}), r) == BatchResult::GaveUp);
        ASSERT_SEQUENCE(g.db, kB, kIns, kR, kCreate, kAlter, kB, kIns, kR, kB, kIns, kR, kB, kIns, kR);
        CPPUNIT_ASSERT_EQUAL(int(code::kHandlerFailed), r[0].code);
        // A table of an older host (no `applied` column) is brought up to
        // date the same way.
        Fixture h;
        h.db.fail("INSERT INTO dora_processed_tasks", err::kBadField);
        CPPUNIT_ASSERT(h.run(h.tasks({"a"}), r) == BatchResult::Committed);
        ASSERT_SEQUENCE(h.db, kB, kIns, kR, kCreate, kAlter, kB, kIns, kW, kC);
        CPPUNIT_ASSERT_EQUAL(0, r[0].code);
    }

    /// Neither a lock conflict nor the database away (here the ledger
    /// insert refused for a bad value): three rounds, then give up.
    void testOtherErrorsGiveUpAfterThreeRounds() {
        Fixture f;
        f.db.fail("INSERT INTO dora_processed_tasks", 1366, -1); // ER_TRUNCATED_WRONG_VALUE_FOR_FIELD
        std::vector<TaskResult> r;
        CPPUNIT_ASSERT(f.run(f.tasks({"a"}), r) == BatchResult::GaveUp);
        ASSERT_SEQUENCE(f.db, kB, kIns, kR, kB, kIns, kR, kB, kIns, kR);
        CPPUNIT_ASSERT(f.probe.batches.empty());
        CPPUNIT_ASSERT(r[0].msg.find("batch failed: fake: errno 1366") == 0);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(BatchRunnerTest);
