// tests/queue/LedgerSqlTest.cpp — queue::Ledger's statements on a fake SQL
// session: the exact SQL and parameters it sends, what it makes of the
// rows, the ledger key and task id formats, the applied marks, pruning, and
// ensureLedger. (LedgerTest runs
// the same SQL against MariaDB.)
#include "common/FakeSqlSessions.h"
#include "pools/MySqlErrors.h"
#include "queue/Ledger.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <stdexcept>
#include <string>
#include <optional>
#include <unordered_map>
#include <vector>

using dora::queue::Ledger;
using dora::queue::ledgerPrefix;
using dora::test::FakeSqlSessions;

class LedgerSqlTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(LedgerSqlTest);
    CPPUNIT_TEST(testTaskIdIsStreamHashEntryAndIndex);
    CPPUNIT_TEST(testRecordIsOneMultiRowInsert);
    CPPUNIT_TEST(testLookupReadsWhichIdsAreRecorded);
    CPPUNIT_TEST(testSetAppliedWritesTheMarksOrNull);
    CPPUNIT_TEST(testLockingLookupIsForUpdate);
    CPPUNIT_TEST(testAppliedCallsMarks);
    CPPUNIT_TEST(testNoIdsNoStatement);
    CPPUNIT_TEST(testFailureKeepsItsErrno);
    CPPUNIT_TEST(testPruneDeletesOldRowsInBoundedChunks);
    CPPUNIT_TEST(testEnsureLedgerCreatesTheTableOrThrows);
    CPPUNIT_TEST_SUITE_END();

public:
    /// "<8 hex digits of FNV-1a(stream)>:<entry id>#<index>" (the FNV-1a
    /// values are the published test vectors).
    void testTaskIdIsStreamHashEntryAndIndex() {
        CPPUNIT_ASSERT_EQUAL(std::string("811c9dc5:"), ledgerPrefix(""));
        CPPUNIT_ASSERT_EQUAL(std::string("e40c292c:"), ledgerPrefix("a"));
        FakeSqlSessions db;
        Ledger ledger(db, "a");
        CPPUNIT_ASSERT_EQUAL(std::string("e40c292c:1700000000000-12#0"),
                             ledger.taskId("1700000000000-12", 0));
        CPPUNIT_ASSERT_EQUAL(std::string("e40c292c:1-0#17"), ledger.taskId("1-0", 17));
        // Two streams sharing a database never share ids.
        CPPUNIT_ASSERT(Ledger(db, "s1").taskId("1-0", 0) != Ledger(db, "s2").taskId("1-0", 0));
        CPPUNIT_ASSERT(db.log().empty()); // no SQL for any of that
    }

    void testRecordIsOneMultiRowInsert() {
        FakeSqlSessions db;
        Ledger ledger(db, "a");
        dora::pools::SqlFailure f;
        CPPUNIT_ASSERT(ledger.record(2, {"x", "y", "z"}, f));
        auto log = db.log();
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), log.size());
        CPPUNIT_ASSERT_EQUAL(2u, log[0].slot);
        CPPUNIT_ASSERT_EQUAL(
            std::string("INSERT INTO dora_processed_tasks(task_id) VALUES (?),(?),(?)"),
            log[0].sql);
        CPPUNIT_ASSERT((log[0].params == std::vector<std::string>{"x", "y", "z"}));
        // One row per entry: its key is the prefix and the entry id.
        CPPUNIT_ASSERT_EQUAL(std::string("e40c292c:1-0"), ledger.entryKey("1-0"));
    }

    void testLookupReadsWhichIdsAreRecorded() {
        FakeSqlSessions db;
        db.answer("SELECT", {"task_id", "applied"}, {{"x", "101"}, {"z#3", "1"}});
        Ledger ledger(db, "a");
        dora::pools::SqlFailure f;
        std::unordered_map<std::string, std::optional<std::string>> seen{{"already", std::nullopt}};
        CPPUNIT_ASSERT(ledger.lookup(0, {"x", "y", "z#3"}, false, seen, f));
        auto log = db.log();
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), log.size());
        // A plain read, not FOR UPDATE (Ledger.h says why).
        CPPUNIT_ASSERT_EQUAL(
            std::string("SELECT task_id, applied FROM dora_processed_tasks WHERE task_id IN (?,?,?)"),
            log[0].sql);
        CPPUNIT_ASSERT((log[0].params == std::vector<std::string>{"x", "y", "z#3"}));
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), seen.size());
        CPPUNIT_ASSERT(!seen.at("already"));
        CPPUNIT_ASSERT_EQUAL(std::string("101"), *seen.at("x"));
        CPPUNIT_ASSERT_EQUAL(std::string("1"), *seen.at("z#3"));
    }

    /// Rows known to exist are read again with their locks taken.
    void testLockingLookupIsForUpdate() {
        FakeSqlSessions db;
        Ledger ledger(db, "a");
        dora::pools::SqlFailure f;
        std::unordered_map<std::string, std::optional<std::string>> seen;
        CPPUNIT_ASSERT(ledger.lookup(0, {"x"}, true, seen, f));
        CPPUNIT_ASSERT_EQUAL(
            std::string("SELECT task_id, applied FROM dora_processed_tasks WHERE task_id IN (?) FOR UPDATE"),
            db.log().at(0).sql);
        CPPUNIT_ASSERT(seen.empty());
    }

    /// One mark per call, or NULL for "every call".
    void testSetAppliedWritesTheMarksOrNull() {
        FakeSqlSessions db;
        Ledger ledger(db, "a");
        dora::pools::SqlFailure f;
        auto some = dora::queue::AppliedCalls::none();
        some.add(0);
        some.padTo(3);
        CPPUNIT_ASSERT(ledger.setApplied(1, "x", some, f));
        CPPUNIT_ASSERT(ledger.setApplied(1, "y", dora::queue::AppliedCalls::allCalls(), f));
        auto log = db.log();
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), log.size());
        CPPUNIT_ASSERT_EQUAL(std::string("UPDATE dora_processed_tasks SET applied = ? WHERE task_id = ?"), log[0].sql);
        CPPUNIT_ASSERT((log[0].params == std::vector<std::string>{"100", "x"}));
        CPPUNIT_ASSERT_EQUAL(std::string("NULL"), log[1].params.at(0));
    }

    void testAppliedCallsMarks() {
        using dora::queue::AppliedCalls;
        AppliedCalls a = AppliedCalls::fromColumn(std::string("010"));
        CPPUNIT_ASSERT(!a.has(0) && a.has(1) && !a.has(2) && !a.has(7));
        CPPUNIT_ASSERT(!a.covers(2));
        a.add(0);
        CPPUNIT_ASSERT(a.covers(2) && !a.covers(3));
        CPPUNIT_ASSERT(AppliedCalls::fromColumn(std::nullopt).all());
        AppliedCalls b = AppliedCalls::none();
        b.add(AppliedCalls::fromColumn(std::string("001")));
        b.add(4);
        CPPUNIT_ASSERT_EQUAL(std::string("00101"), b.marks());
        b.add(AppliedCalls::allCalls());
        CPPUNIT_ASSERT(b.all() && b.has(1000));
        CPPUNIT_ASSERT(AppliedCalls::fromColumn(std::string("1")) != AppliedCalls::allCalls());
    }

    void testNoIdsNoStatement() {
        FakeSqlSessions db;
        Ledger ledger(db, "a");
        dora::pools::SqlFailure f;
        std::unordered_map<std::string, std::optional<std::string>> seen;
        CPPUNIT_ASSERT(ledger.record(0, {}, f));
        CPPUNIT_ASSERT(ledger.lookup(0, {}, false, seen, f));
        CPPUNIT_ASSERT(ledger.lookup(0, {}, true, seen, f));
        CPPUNIT_ASSERT(db.log().empty());
    }

    /// The batch runner decides by errno (a duplicate key means a replay).
    void testFailureKeepsItsErrno() {
        FakeSqlSessions db;
        db.fail("INSERT", dora::pools::mysqlerr::kDuplicateKey);
        Ledger ledger(db, "a");
        dora::pools::SqlFailure f;
        CPPUNIT_ASSERT(!ledger.record(0, {"x"}, f));
        CPPUNIT_ASSERT_EQUAL(dora::pools::mysqlerr::kDuplicateKey, f.mysqlErrno);
        CPPUNIT_ASSERT(!f.dbDown);
        db.fail("UPDATE", dora::pools::mysqlerr::kServerGone);
        CPPUNIT_ASSERT(!ledger.setApplied(0, "x", dora::queue::AppliedCalls::allCalls(), f));
        CPPUNIT_ASSERT(f.dbDown);
    }

    void testPruneDeletesOldRowsInBoundedChunks() {
        FakeSqlSessions db;
        db.answer("DELETE", {}, {}, 42);
        Ledger ledger(db, "a");
        dora::pools::SqlFailure f;
        std::uint64_t removed = 0;
        CPPUNIT_ASSERT(ledger.prune(3, 7, removed, f));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(42), removed);
        auto log = db.log();
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), log.size());
        CPPUNIT_ASSERT_EQUAL(3u, log[0].slot);
        CPPUNIT_ASSERT_EQUAL(std::string("DELETE FROM dora_processed_tasks WHERE processed_at < "
                                         "NOW() - INTERVAL 7 DAY LIMIT 10000"),
                             log[0].sql);
        CPPUNIT_ASSERT(log[0].params.empty());
        db.fail("DELETE", dora::pools::mysqlerr::kLockWaitTimeout);
        removed = 99;
        CPPUNIT_ASSERT(!ledger.prune(0, 7, removed, f));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), removed);
        CPPUNIT_ASSERT_EQUAL(dora::pools::mysqlerr::kLockWaitTimeout, f.mysqlErrno);
    }

    void testEnsureLedgerCreatesTheTableOrThrows() {
        FakeSqlSessions db;
        dora::queue::ensureLedger(db, 1);
        auto log = db.log();
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), log.size());
        CPPUNIT_ASSERT_EQUAL(
            std::string("CREATE TABLE IF NOT EXISTS dora_processed_tasks ("
                        " task_id VARBINARY(80) NOT NULL PRIMARY KEY,"
                        " processed_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,"
                        " applied MEDIUMBLOB NULL"
                        ") ENGINE=InnoDB"),
            log[0].sql);
        // A table made before 1.3 gets the column.
        CPPUNIT_ASSERT_EQUAL(
            std::string("ALTER TABLE dora_processed_tasks ADD COLUMN IF NOT EXISTS applied MEDIUMBLOB NULL"),
            log[1].sql);
        db.fail("CREATE", 1142); // ER_TABLEACCESS_DENIED_ERROR
        CPPUNIT_ASSERT_THROW(dora::queue::ensureLedger(db, 1), std::runtime_error);
        db.fail("ALTER", 1142);
        CPPUNIT_ASSERT_THROW(dora::queue::ensureLedger(db, 1), std::runtime_error);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(LedgerSqlTest);
