// tests/queue/BatchSqlTest.cpp — the SQL a queue batch runs, on the host's
// own MySqlSessions against the test MariaDB ($DORAHOST_MYSQL_*): batches of any
// size work, and a lock conflict met while a locking read streams its rows
// keeps MySQL's errno.
//
// Regression (issue 10): with batch_size 512, async_user's
// `SELECT ... WHERE name IN (?,...) FOR UPDATE` failed as "mysql_stmt_fetch
// error", errno 0. The cause was not the size: Poco::Data read rows
// unbuffered, and a deadlock or lock wait timeout hitting the locking read
// after its first rows were sent arrived as an error packet in
// mysql_stmt_fetch, which libmariadb reports on the MYSQL handle, not the
// statement. Errno 0 is not a lock conflict, so the queue took it for a
// failed batch and ran every task alone. Bigger batches only made such
// conflicts (and results longer than one network buffer) common.
#include "pools/MySqlErrors.h"
#include "pools/MySqlSessions.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <cstdlib>
#include <string>

namespace {

using dora::pools::MySqlSessions;
using dora::pools::SqlFailure;
using dora::sdk::Value;

std::string env(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

dora::pools::MySqlSettings settings() {
    dora::pools::MySqlSettings s;
    s.host = env("DORAHOST_MYSQL_HOST", "127.0.0.1");
    s.port = static_cast<std::uint16_t>(std::atoi(env("DORAHOST_MYSQL_PORT", "13306").c_str()));
    s.user = env("DORAHOST_MYSQL_USER", "dora");
    s.password = env("DORAHOST_MYSQL_PASSWORD", "dora");
    s.database =
        env("DORA_TEST_MYSQL_DATABASE", env("DORAHOST_MYSQL_DATABASE", "dorahost_test").c_str());
    return s;
}

// Long names: 500 rows of them are several network buffers, so the server
// has sent rows before it meets the locked one.
std::string name(int i) { return "batchsql-" + std::string(48, 'n') + "-" + std::to_string(i); }

std::string placeholders(int n) {
    std::string s;
    for (int i = 0; i < n; ++i)
        s += i ? ",?" : "?";
    return s;
}

Value names(int n) {
    Value v = Value::array();
    for (int i = 0; i < n; ++i)
        v.push(name(i));
    return v;
}

} // namespace

class BatchSqlTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(BatchSqlTest);
    CPPUNIT_TEST(testAnyBatchSizeReads);
    CPPUNIT_TEST(testLockConflictMidResultKeepsErrno);
    CPPUNIT_TEST(testStatementsAreReusedAndErrorsKeepErrno);
    CPPUNIT_TEST_SUITE_END();

public:
    void setUp() override {
        _pool = std::make_unique<MySqlSessions>(settings(), 2);
        exec(0, "CREATE TABLE IF NOT EXISTS batchsql_users (id BIGINT UNSIGNED AUTO_INCREMENT "
                "PRIMARY KEY,"
                " name VARCHAR(64) NOT NULL, visits BIGINT NOT NULL DEFAULT 0, UNIQUE KEY (name))"
                " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
        exec(0, "DELETE FROM batchsql_users");
        Value rows = Value::array();
        std::string values;
        for (int i = 0; i < 1000; ++i) {
            values += i ? ",(?)" : "(?)";
            rows.push(name(i));
        }
        dora::pools::ExecResult r;
        SqlFailure f;
        CPPUNIT_ASSERT_MESSAGE(
            f.message,
            _pool->exec(0, "INSERT INTO batchsql_users (name) VALUES " + values, rows, r, f));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t{1000}, r.affected);
    }

    void tearDown() override {
        exec(0, "DROP TABLE IF EXISTS batchsql_users");
        _pool.reset();
    }

    void testAnyBatchSizeReads() {
        for (int n : {1, 64, 512, 1000}) {
            for (const char* lock : {"", " FOR UPDATE"}) {
                SqlFailure f;
                CPPUNIT_ASSERT(_pool->begin(0, f));
                Value rows;
                bool ok =
                    _pool->query(0,
                                 "SELECT id, name, visits FROM batchsql_users WHERE name IN (" +
                                     placeholders(n) + ")" + lock,
                                 names(n), rows, f);
                CPPUNIT_ASSERT_MESSAGE("batch of " + std::to_string(n) + ": " + f.message, ok);
                CPPUNIT_ASSERT_EQUAL(static_cast<std::size_t>(n), rows.asArray().size());
                CPPUNIT_ASSERT(_pool->commit(0, f));
            }
        }
    }

    void testLockConflictMidResultKeepsErrno() {
        SqlFailure f;
        // Slot 1 holds row 400; slot 0's locking read of 512 rows reaches it
        // after streaming hundreds of rows and times out there.
        CPPUNIT_ASSERT(_pool->begin(1, f));
        Value held;
        Value one = Value::array();
        one.push(name(400));
        CPPUNIT_ASSERT_MESSAGE(
            f.message, _pool->query(1, "SELECT id FROM batchsql_users WHERE name = ? FOR UPDATE",
                                    one, held, f));
        exec(0, "SET SESSION innodb_lock_wait_timeout = 1");
        CPPUNIT_ASSERT(_pool->begin(0, f));
        Value rows;
        bool ok = _pool->query(0,
                               "SELECT id, name, visits FROM batchsql_users WHERE name IN (" +
                                   placeholders(512) + ") FOR UPDATE",
                               names(512), rows, f);
        CPPUNIT_ASSERT(!ok);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(f.message, dora::pools::mysqlerr::kLockWaitTimeout,
                                     f.mysqlErrno);
        CPPUNIT_ASSERT(!f.dbDown);
        CPPUNIT_ASSERT(_pool->rollback(0, f));
        CPPUNIT_ASSERT(_pool->rollback(1, f));
        // The connection is still good for the next batch.
        CPPUNIT_ASSERT(_pool->begin(0, f));
        CPPUNIT_ASSERT_MESSAGE(
            f.message, _pool->query(0,
                                    "SELECT id, name, visits FROM batchsql_users WHERE name IN (" +
                                        placeholders(512) + ") FOR UPDATE",
                                    names(512), rows, f));
        CPPUNIT_ASSERT_EQUAL(std::size_t{512}, rows.asArray().size());
        CPPUNIT_ASSERT(_pool->commit(0, f));
    }

    void testStatementsAreReusedAndErrorsKeepErrno() {
        dora::pools::ExecResult r;
        SqlFailure f;
        Value p = Value::array();
        p.push(name(1));
        for (int i = 0; i < 3; ++i) {
            CPPUNIT_ASSERT(
                !_pool->exec(0, "INSERT INTO batchsql_users (name) VALUES (?)", p, r, f));
            CPPUNIT_ASSERT_EQUAL(dora::pools::mysqlerr::kDuplicateKey, f.mysqlErrno);
            CPPUNIT_ASSERT(f.message.find("Duplicate") != std::string::npos);
        }
        Value fresh = Value::array();
        fresh.push("batchsql-fresh");
        CPPUNIT_ASSERT_MESSAGE(
            f.message, _pool->exec(0, "INSERT INTO batchsql_users (name) VALUES (?)", fresh, r, f));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t{1}, r.affected);
        CPPUNIT_ASSERT(r.insertId > 1000);
        // Autocommit stayed on: another connection sees the row at once.
        Value rows;
        CPPUNIT_ASSERT(
            _pool->query(1, "SELECT id FROM batchsql_users WHERE name = ?", fresh, rows, f));
        CPPUNIT_ASSERT_EQUAL(std::size_t{1}, rows.asArray().size());
        CPPUNIT_ASSERT_EQUAL(static_cast<std::int64_t>(r.insertId),
                             rows.asArray().begin()->value.find("id")->asInt());
        CPPUNIT_ASSERT_EQUAL(std::size_t{2}, _pool->connectionsHeld());
    }

private:
    void exec(unsigned slot, const std::string& sql) {
        dora::pools::ExecResult r;
        SqlFailure f;
        CPPUNIT_ASSERT_MESSAGE(sql + ": " + f.message, _pool->exec(slot, sql, Value(), r, f));
    }

    std::unique_ptr<MySqlSessions> _pool;
};

CPPUNIT_TEST_SUITE_REGISTRATION(BatchSqlTest);
