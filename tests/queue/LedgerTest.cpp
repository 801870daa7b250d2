// tests/queue/LedgerTest.cpp — the exactly-once ledger (queue/Ledger) on
// the host's own MySqlSessions against the test MariaDB, in a database of its
// own (DORA_TEST_MYSQL_DATABASE=dorahost_test_ledger): pruning removes the
// rows older than the retention and only those, in slices of 10,000, and a
// pruned id is no longer seen while a kept one still is.
#include "common/TestSupport.h"
#include "pools/MySqlSessions.h"
#include "queue/Ledger.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

using dora::pools::MySqlSessions;
using dora::pools::SqlFailure;
using dora::queue::Ledger;
using namespace dora::test;

class LedgerTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(LedgerTest);
    CPPUNIT_TEST(testPruneRemovesOnlyRowsOlderThanTheRetention);
    CPPUNIT_TEST(testPruneWorksInSlicesOfTenThousand);
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
    }

    void tearDown() override {
        _ledger.reset();
        _pool.reset();
    }

    void testPruneRemovesOnlyRowsOlderThanTheRetention() {
        // Recorded now, the way a batch records them.
        std::vector<std::string> fresh = {id("1-0", 0), id("1-0", 1), id("2-0", 0)};
        SqlFailure f;
        CPPUNIT_ASSERT_MESSAGE(f.message, _ledger->record(0, views(fresh), f));
        // Aged rows: just past the retention, well past it, and just inside.
        std::vector<std::string> old = {id("3-0", 0), id("4-0", 0)};
        std::string kept = id("5-0", 0);
        Db db;
        db.exec("INSERT INTO dora_processed_tasks VALUES ('" + old[0] +
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
        std::unordered_set<std::string> seen;
        CPPUNIT_ASSERT_MESSAGE(f.message, _ledger->lookup(0, views(all), seen, f));
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
        db.exec("INSERT INTO dora_processed_tasks SELECT CONCAT('old-', seq), NOW() - INTERVAL 30 DAY "
                "FROM seq_1_to_10003");
        db.exec("INSERT INTO dora_processed_tasks VALUES ('recent', NOW())");
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
    std::string id(const std::string& entry, std::size_t call) const {
        return _ledger->taskId(entry, call);
    }
    static std::vector<std::string_view> views(const std::vector<std::string>& v) {
        return std::vector<std::string_view>(v.begin(), v.end());
    }

    std::unique_ptr<MySqlSessions> _pool;
    std::unique_ptr<Ledger> _ledger;
};

CPPUNIT_TEST_SUITE_REGISTRATION(LedgerTest);
