// tests/queue/LedgerTest.cpp — the exactly-once ledger (queue/Ledger) and
// the batch runner that writes it (queue/BatchRunner), on the host's own
// MySqlSessions against the test MariaDB, in a database of its own
// (DORA_TEST_MYSQL_DATABASE=dorahost_test_ledger):
//  * pruning removes the rows older than the retention and only those, in
//    slices of 10,000, and a pruned row is no longer seen while a kept one
//    still is;
//  * a batch writes one row per entry, whatever routes its calls take, in
//    the transaction of their effects; a failed call is marked not applied
//    and a replay runs only it; an applied entry is skipped whole; rows of
//    the pre-1.3 shape (one per call) are honoured; an old table gets the
//    new column.
// The routes are hand-built (RouteTable::add) around the test's own batch
// handler, which writes one row per call into ledger_probe through the
// host's SQL API, so "applied once" is counted in MariaDB.
#include "common/TestSupport.h"
#include "plugins/HostApi.h"
#include "pools/MySqlSessions.h"
#include "protocol/Codes.h"
#include "queue/BatchRunner.h"
#include "queue/Ledger.h"
#include "stats/Stats.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <memory>
#include <string>
#include <atomic>
#include <optional>
#include <unordered_map>
#include <vector>

using dora::pools::MySqlSessions;
using dora::pools::SqlFailure;
using dora::queue::BatchEntry;
using dora::queue::BatchResult;
using dora::queue::BatchRunner;
using dora::queue::BatchTask;
using dora::queue::Ledger;
using dora::queue::TaskResult;
using namespace dora::test;

namespace {

const dora_host_api& api() { return *dora::plugins::hostApi(); }
dora_buf bufOf(const std::string& s) { return dora_buf{s.data(), s.size()}; }
std::string strOf(dora_buf b) { return std::string(b.ptr ? b.ptr : "", b.len); }

/// What the batch handler reads: calls whose params say "fail" fail
/// (without writing) while `failing` is set.
struct Probe {
    bool failing = true;
    int batches = 0;
};

/// Writes one ledger_probe row (the call's task id) per call that does not
/// fail; answers each call.
std::int32_t probeBatch(void* user, dora_ctx* ctx, dora_call* const* calls, std::size_t n) {
    auto& p = *static_cast<Probe*>(user);
    ++p.batches;
    for (std::size_t i = 0; i < n; ++i) {
        const std::string params = strOf(api().call_params(calls[i]));
        if (p.failing && params.find("fail") != std::string::npos) {
            api().call_set_error(calls[i], dora::protocol::code::kBadParam, bufOf(std::string("told to fail")));
            continue;
        }
        const std::string sql = "INSERT INTO ledger_probe(task_id) VALUES (?)";
        const std::string args = "a:1:{i:0;s:" + std::to_string(api().call_task_id(calls[i]).len) + ":\"" +
                                 strOf(api().call_task_id(calls[i])) + "\";}";
        std::uint64_t affected = 0, id = 0;
        if (api().sql_exec(ctx, bufOf(sql), bufOf(args), &affected, &id) != DORA_OK) return DORA_ERR_INTERNAL;
        const std::string ok = "s:2:\"ok\";";
        api().call_set_result(calls[i], bufOf(ok));
    }
    return DORA_OK;
}

const dora_plugin_info kFakeInfo = {
    sizeof(dora_plugin_info), DORA_ABI_MAJOR, DORA_ABI_MINOR, "fake", "test", nullptr, nullptr};

} // namespace

class LedgerTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(LedgerTest);
    CPPUNIT_TEST(testPruneRemovesOnlyRowsOlderThanTheRetention);
    CPPUNIT_TEST(testPruneWorksInSlicesOfTenThousand);
    CPPUNIT_TEST(testOneRowPerEntryAcrossRoutes);
    CPPUNIT_TEST(testFailedCallIsMarkedAndOnlyItRunsAgain);
    CPPUNIT_TEST(testAppliedEntryIsSkippedWhole);
    CPPUNIT_TEST(testPre13RowsAreHonoured);
    CPPUNIT_TEST(testOldTableGetsTheAppliedColumn);
    CPPUNIT_TEST_SUITE_END();

public:
    void setUp() override {
        prepareTestDatabase();
        DbSettings db = testDb();
        dora::pools::MySqlSettings s;
        s.host = db.host;
        s.port = db.port;
        s.user = db.user;
        s.password = db.password;
        s.database = db.database;
        _pool = std::make_unique<MySqlSessions>(s, 1);
        dora::queue::ensureLedger(*_pool, 0);
        Db().exec("DELETE FROM dora_processed_tasks");
        _ledger = std::make_unique<Ledger>(*_pool, "dora:ledgertest:tasks");
        Db().exec("CREATE TABLE IF NOT EXISTS ledger_probe (task_id VARCHAR(100) NOT NULL)");
        Db().exec("DELETE FROM ledger_probe");
        _plugin = std::make_shared<dora::plugins::LoadedPlugin>("(test)", nullptr, &kFakeInfo, -1);
        for (const char* name : {"probe_a", "probe_b"}) {
            auto r = std::make_unique<dora::plugins::Route>();
            r->spec.api = name;
            r->spec.handler = name;
            r->handler = dora::plugins::Handler{nullptr, probeBatch, &_probe};
            r->plugin = _plugin;
            r->routeFile = "(test)";
            r->counter = _stats.route(name);
            _routes.push_back(std::move(r));
        }
    }

    void tearDown() override {
        _routes.clear();
        _plugin.reset();
        _ledger.reset();
        _pool.reset();
    }

    /// Three entries of two calls each, on two routes: one transaction,
    /// one ledger row per entry saying "all applied" (NULL), each call's
    /// effect once.
    void testOneRowPerEntryAcrossRoutes() {
        std::vector<Stored> stored = {entry("10-0", {"a:ok", "b:ok"}), entry("11-0", {"b:ok", "a:ok"}),
                                      entry("12-0", {"a:ok", "b:ok"})};
        std::vector<std::vector<TaskResult>> results;
        CPPUNIT_ASSERT(BatchResult::Committed == run(stored, results));
        for (const auto& r : results)
            for (const auto& t : r) CPPUNIT_ASSERT_EQUAL_MESSAGE(t.msg, 0, t.code);
        CPPUNIT_ASSERT_EQUAL(2, _probe.batches); // one handler run per route
        Db db;
        CPPUNIT_ASSERT_EQUAL(std::int64_t(3), db.scalar("SELECT COUNT(*) FROM dora_processed_tasks"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(3),
                             db.scalar("SELECT COUNT(*) FROM dora_processed_tasks WHERE applied IS NULL AND "
                                       "task_id NOT LIKE '%#%'"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(6), db.scalar("SELECT COUNT(DISTINCT task_id) FROM ledger_probe"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(6), db.scalar("SELECT COUNT(*) FROM ledger_probe"));
    }

    /// A call that fails is not applied: its entry's row marks it '0', the
    /// others' effects commit. Run again (a retry), only it runs; then the
    /// row says "all".
    void testFailedCallIsMarkedAndOnlyItRunsAgain() {
        std::vector<Stored> stored = {entry("20-0", {"a:ok", "b:fail", "a:ok"})};
        std::vector<std::vector<TaskResult>> results;
        CPPUNIT_ASSERT(BatchResult::Committed == run(stored, results));
        CPPUNIT_ASSERT_EQUAL(0, results[0][0].code);
        CPPUNIT_ASSERT_EQUAL(dora::protocol::code::kBadParam, results[0][1].code);
        CPPUNIT_ASSERT_EQUAL(0, results[0][2].code);
        Db db;
        auto rows = db.query("SELECT applied FROM dora_processed_tasks WHERE task_id = '" + key("20-0") + "'");
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), rows.size());
        CPPUNIT_ASSERT_EQUAL(std::string("101"), rows[0].find("applied")->asString());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2), db.scalar("SELECT COUNT(*) FROM ledger_probe"));

        _probe.failing = false;
        stored[0].entry.replay = true; // a retry
        CPPUNIT_ASSERT(BatchResult::Committed == run(stored, results));
        CPPUNIT_ASSERT(results[0][0].duplicate);
        CPPUNIT_ASSERT(!results[0][1].duplicate);
        CPPUNIT_ASSERT_EQUAL(0, results[0][1].code);
        CPPUNIT_ASSERT(results[0][2].duplicate);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(3), db.scalar("SELECT COUNT(*) FROM ledger_probe"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(3), db.scalar("SELECT COUNT(DISTINCT task_id) FROM ledger_probe"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), db.scalar("SELECT COUNT(*) FROM dora_processed_tasks WHERE task_id = '" +
                                                        key("20-0") + "' AND applied IS NULL"));
    }

    /// An entry applied already is skipped whole: as a replay (looked up
    /// first) and as a new read (its insert meets the duplicate key).
    void testAppliedEntryIsSkippedWhole() {
        std::vector<Stored> stored = {entry("30-0", {"a:ok", "b:ok"}), entry("31-0", {"a:ok"})};
        std::vector<std::vector<TaskResult>> results;
        CPPUNIT_ASSERT(BatchResult::Committed == run(stored, results));
        Db db;
        CPPUNIT_ASSERT_EQUAL(std::int64_t(3), db.scalar("SELECT COUNT(*) FROM ledger_probe"));
        for (bool replay : {true, false}) {
            // Entry 32-0 is new, beside the two applied ones.
            std::vector<Stored> again = {entry("30-0", {"a:ok", "b:ok"}), entry("32-0", {"b:ok"}),
                                         entry("31-0", {"a:ok"})};
            if (!replay) again[1] = entry("33-0", {"b:ok"});
            for (auto& s : again) s.entry.replay = replay;
            CPPUNIT_ASSERT(BatchResult::Committed == run(again, results));
            CPPUNIT_ASSERT(results[0][0].duplicate && results[0][1].duplicate && results[2][0].duplicate);
            CPPUNIT_ASSERT(!results[1][0].duplicate);
            CPPUNIT_ASSERT_EQUAL(0, results[1][0].code);
        }
        CPPUNIT_ASSERT_EQUAL(std::int64_t(5), db.scalar("SELECT COUNT(*) FROM ledger_probe"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(5), db.scalar("SELECT COUNT(DISTINCT task_id) FROM ledger_probe"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(4), db.scalar("SELECT COUNT(*) FROM dora_processed_tasks"));
    }

    /// A ledger written before 1.3 holds one row per call
    /// (`<entry key>#<index>`): a replay of such an entry skips those calls.
    void testPre13RowsAreHonoured() {
        Db db;
        db.exec("INSERT INTO dora_processed_tasks(task_id) VALUES ('" + _ledger->taskId("40-0", 0) + "'), ('" +
                _ledger->taskId("40-0", 2) + "')");
        std::vector<Stored> stored = {entry("40-0", {"a:ok", "b:ok", "a:ok"})};
        stored[0].entry.replay = true;
        std::vector<std::vector<TaskResult>> results;
        CPPUNIT_ASSERT(BatchResult::Committed == run(stored, results));
        CPPUNIT_ASSERT(results[0][0].duplicate);
        CPPUNIT_ASSERT(!results[0][1].duplicate);
        CPPUNIT_ASSERT(results[0][2].duplicate);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), db.scalar("SELECT COUNT(*) FROM ledger_probe"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), db.scalar("SELECT COUNT(*) FROM ledger_probe WHERE task_id = '" +
                                                        _ledger->taskId("40-0", 1) + "'"));
        // Now its own row says all three are applied.
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), db.scalar("SELECT COUNT(*) FROM dora_processed_tasks WHERE task_id = '" +
                                                        key("40-0") + "' AND applied IS NULL"));
    }

    /// A table made by a host before 1.3 (no `applied` column) gets it;
    /// its rows stay.
    void testOldTableGetsTheAppliedColumn() {
        Db db;
        db.exec("DROP TABLE dora_processed_tasks");
        db.exec("CREATE TABLE dora_processed_tasks (task_id VARBINARY(80) NOT NULL PRIMARY KEY, processed_at "
                "TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB");
        db.exec("INSERT INTO dora_processed_tasks(task_id) VALUES ('" + _ledger->taskId("50-0", 0) + "')");
        dora::queue::ensureLedger(*_pool, 0);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1),
                             db.scalar("SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                                       "DATABASE() AND TABLE_NAME = 'dora_processed_tasks' AND COLUMN_NAME = "
                                       "'applied'"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), db.scalar("SELECT COUNT(*) FROM dora_processed_tasks"));
        dora::queue::ensureLedger(*_pool, 0); // again: nothing to do, no error
    }

    void testPruneRemovesOnlyRowsOlderThanTheRetention() {
        // Recorded now, the way a batch records them.
        std::vector<std::string> fresh = {key("1-0"), key("2-0"), key("6-0")};
        SqlFailure f;
        CPPUNIT_ASSERT_MESSAGE(f.message, _ledger->record(0, views(fresh), f));
        // Aged rows: just past the retention, well past it, and just inside.
        std::vector<std::string> old = {key("3-0"), key("4-0")};
        std::string kept = key("5-0");
        Db db;
        db.exec("INSERT INTO dora_processed_tasks(task_id, processed_at) VALUES ('" + old[0] +
                "', NOW() - INTERVAL 7 DAY - INTERVAL 1 MINUTE), ('" + old[1] +
                "', NOW() - INTERVAL 400 DAY), ('" + kept +
                "', NOW() - INTERVAL 7 DAY + INTERVAL 1 HOUR)");

        std::uint64_t removed = 99;
        CPPUNIT_ASSERT_MESSAGE(f.message, _ledger->prune(0, 7, removed, f));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(2), removed);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(4), db.scalar("SELECT COUNT(*) FROM dora_processed_tasks"));

        std::vector<std::string> all = fresh;
        all.insert(all.end(), old.begin(), old.end());
        all.push_back(kept);
        std::unordered_map<std::string, std::optional<std::string>> seen;
        CPPUNIT_ASSERT_MESSAGE(f.message, _ledger->lookup(0, views(all), false, seen, f));
        CPPUNIT_ASSERT_EQUAL(std::size_t(4), seen.size());
        for (const auto& i : fresh) CPPUNIT_ASSERT_MESSAGE(i, seen.count(i) == 1);
        CPPUNIT_ASSERT(seen.count(kept) == 1);
        for (const auto& i : old) CPPUNIT_ASSERT_MESSAGE(i, seen.count(i) == 0);

        // Nothing else is old enough: a second prune removes nothing.
        CPPUNIT_ASSERT_MESSAGE(f.message, _ledger->prune(0, 7, removed, f));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), removed);
    }

    /// One prune deletes at most 10,000 rows (a short statement, so it never
    /// holds the ledger's locks for long); the consumer's next rounds take
    /// the rest.
    void testPruneWorksInSlicesOfTenThousand() {
        Db db;
        db.exec("INSERT INTO dora_processed_tasks(task_id, processed_at) SELECT CONCAT('old-', seq), NOW() - "
                "INTERVAL 30 DAY FROM seq_1_to_10003");
        db.exec("INSERT INTO dora_processed_tasks(task_id, processed_at) VALUES ('recent', NOW())");
        SqlFailure f;
        std::uint64_t removed = 0;
        CPPUNIT_ASSERT_MESSAGE(f.message, _ledger->prune(0, 7, removed, f));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(10000), removed);
        CPPUNIT_ASSERT_MESSAGE(f.message, _ledger->prune(0, 7, removed, f));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(3), removed);
        CPPUNIT_ASSERT_MESSAGE(f.message, _ledger->prune(0, 7, removed, f));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), removed);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), db.scalar("SELECT COUNT(*) FROM dora_processed_tasks"));
    }

private:
    /// A stored entry: its calls' strings (owned here) and the BatchEntry
    /// that points into them.
    struct Stored {
        std::string key;
        std::vector<std::string> ids, params;
        std::vector<std::size_t> routes; ///< index into _routes per call
        BatchEntry entry;
    };
    /// calls: "a:ok" = route probe_a with params "ok" ("fail" fails).
    Stored entry(const std::string& id, const std::vector<std::string>& calls) {
        Stored s;
        s.key = key(id);
        for (std::size_t i = 0; i < calls.size(); ++i) {
            s.ids.push_back(_ledger->taskId(id, i));
            s.routes.push_back(calls[i][0] == 'a' ? 0 : 1);
            s.params.push_back("s:" + std::to_string(calls[i].size() - 2) + ":\"" + calls[i].substr(2) + "\";");
        }
        return s;
    }
    BatchResult run(std::vector<Stored>& stored, std::vector<std::vector<TaskResult>>& results) {
        std::vector<BatchEntry> entries;
        for (auto& s : stored) {
            BatchEntry e;
            e.key = s.key;
            e.calls = s.ids.size();
            e.replay = s.entry.replay;
            for (std::size_t i = 0; i < s.ids.size(); ++i) {
                BatchTask t;
                t.route = _routes[s.routes[i]].get();
                t.api = t.route->spec.api;
                t.params = s.params[i];
                t.taskId = s.ids[i];
                t.call = i;
                e.tasks.push_back(t);
            }
            entries.push_back(std::move(e));
        }
        BatchRunner runner(*_pool, *_ledger, _stopping);
        return runner.run(0, entries, results);
    }
    std::string key(const std::string& entry) const { return _ledger->entryKey(entry); }
    static std::vector<std::string_view> views(const std::vector<std::string>& v) {
        return std::vector<std::string_view>(v.begin(), v.end());
    }

    std::unique_ptr<MySqlSessions> _pool;
    std::unique_ptr<Ledger> _ledger;
    Probe _probe;
    dora::stats::Stats _stats;
    std::shared_ptr<dora::plugins::LoadedPlugin> _plugin;
    std::vector<std::unique_ptr<dora::plugins::Route>> _routes;
    std::atomic<bool> _stopping{false};
};

CPPUNIT_TEST_SUITE_REGISTRATION(LedgerTest);
