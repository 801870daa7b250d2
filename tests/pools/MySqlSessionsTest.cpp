// tests/pools/MySqlSessionsTest.cpp — the MySQL side of host/pools that needs no
// server: the error classification and the one lock-conflict retry policy
// (MySqlErrors.h), the parameter decoding a handler's sql_exec goes through
// (ParamList, paramsOf), and the pool with no server reachable: a clean
// dbDown failure, then "down" at once for every slot without a new connect
// per call. Statements against a real server: tests/queue/BatchSqlTest.
#include "pools/MySqlSessions.h"
#include "pools/MySqlErrors.h"

#include <dora/sdk/serialize.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

using dora::pools::MySqlSessions;
using dora::pools::ParamList;
using dora::pools::SqlFailure;
using dora::pools::SqlValue;
namespace mysqlerr = dora::pools::mysqlerr;

namespace {

/// A loopback port nobody listens on: bound, never listened, then closed.
std::uint16_t refusedPort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        throw std::runtime_error("cannot find a free port");
    ::close(fd);
    return ntohs(a.sin_port);
}

} // namespace

class MySqlSessionsTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(MySqlSessionsTest);
    CPPUNIT_TEST(testErrorClassification);
    CPPUNIT_TEST(testLockConflictRetryIsBounded);
    CPPUNIT_TEST(testParamsFastPath);
    CPPUNIT_TEST(testParamsGeneralPathAndRefusals);
    CPPUNIT_TEST(testNoServerIsDbDownThenDownAtOnce);
    CPPUNIT_TEST_SUITE_END();

public:
    void testErrorClassification() {
        for (int e : {mysqlerr::kServerGone, mysqlerr::kServerLost, mysqlerr::kConnHostError,
                      mysqlerr::kConnectionError, mysqlerr::kServerLostExtended,
                      mysqlerr::kConnectionKilled, mysqlerr::kServerShutdown}) {
            CPPUNIT_ASSERT_MESSAGE(std::to_string(e), mysqlerr::isConnectionError(e));
            CPPUNIT_ASSERT(!mysqlerr::isLockConflict(e));
        }
        CPPUNIT_ASSERT(mysqlerr::isLockConflict(1213));
        CPPUNIT_ASSERT(mysqlerr::isLockConflict(1205));
        // A statement the server refused is neither: the call fails, nothing is retried or
        // reconnected.
        for (int e : {0, mysqlerr::kDuplicateKey, mysqlerr::kNoSuchTable, mysqlerr::kBadField,
                      mysqlerr::kNeedReprepare, mysqlerr::kTooManyPrepared, 1064 /* syntax */}) {
            CPPUNIT_ASSERT_MESSAGE(std::to_string(e), !mysqlerr::isConnectionError(e));
            CPPUNIT_ASSERT_MESSAGE(std::to_string(e), !mysqlerr::isLockConflict(e));
        }
        // The numbers the server and the client library use (mysqld_error.h, errmsg.h).
        CPPUNIT_ASSERT_EQUAL(1062, mysqlerr::kDuplicateKey);
        CPPUNIT_ASSERT_EQUAL(2006, mysqlerr::kServerGone);
        CPPUNIT_ASSERT_EQUAL(2013, mysqlerr::kServerLost);
    }

    void testLockConflictRetryIsBounded() {
        using dora::pools::LockConflictRetry;
        int attempts = 1;
        while (LockConflictRetry::shouldRetry(attempts)) {
            LockConflictRetry::pause(attempts);
            ++attempts;
            CPPUNIT_ASSERT(attempts <= 100);
        }
        CPPUNIT_ASSERT_EQUAL(LockConflictRetry::kMaxAttempts, attempts);
        CPPUNIT_ASSERT(LockConflictRetry::kMaxAttempts > 1);
    }

    /// The SDK's own list encoding is read without a Value tree; strings
    /// view the caller's bytes.
    void testParamsFastPath() {
        const std::string bytes = "a:5:{i:0;i:-42;i:1;s:5:\"h\"llo\";i:2;N;i:3;b:1;i:4;b:0;}";
        ParamList p(bytes);
        const auto& v = p.params();
        CPPUNIT_ASSERT_EQUAL(std::size_t(5), v.size());
        CPPUNIT_ASSERT(v[0].kind == SqlValue::Kind::Int && v[0].i == -42);
        CPPUNIT_ASSERT(v[1].kind == SqlValue::Kind::String && v[1].s == "h\"llo");
        CPPUNIT_ASSERT(v[1].s.data() >= bytes.data() &&
                       v[1].s.data() < bytes.data() + bytes.size());
        CPPUNIT_ASSERT(v[2].kind == SqlValue::Kind::Null);
        CPPUNIT_ASSERT(v[3].kind == SqlValue::Kind::Int && v[3].i == 1);
        CPPUNIT_ASSERT(v[4].kind == SqlValue::Kind::Int && v[4].i == 0);
        CPPUNIT_ASSERT(ParamList("N;").params().empty());
        CPPUNIT_ASSERT(ParamList("").params().empty());
        CPPUNIT_ASSERT(ParamList("a:0:{}").params().empty());
    }

    void testParamsGeneralPathAndRefusals() {
        // A float, and string keys, go through the general decoder, with the same result shape.
        ParamList p("a:2:{s:1:\"x\";d:1.5;s:1:\"y\";s:2:\"ok\";}");
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), p.params().size());
        CPPUNIT_ASSERT(p.params()[0].kind == SqlValue::Kind::Float && p.params()[0].d == 1.5);
        CPPUNIT_ASSERT(p.params()[1].kind == SqlValue::Kind::String && p.params()[1].s == "ok");
        // An array as a parameter: refused; so is a value that is not a list.
        CPPUNIT_ASSERT_THROW(ParamList("a:1:{i:0;a:0:{}}"), std::invalid_argument);
        CPPUNIT_ASSERT_THROW(ParamList("i:5;"), std::invalid_argument);
        // Bytes that are not PHP-serialize at all: the decoder's own error.
        CPPUNIT_ASSERT_THROW(ParamList("a:1:{i:0;i:5"), dora::sdk::DecodeError);
        dora::sdk::Value list = dora::sdk::Value::array();
        list.push(7);
        list.push("seven");
        auto direct = dora::pools::paramsOf(list);
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), direct.size());
        CPPUNIT_ASSERT(direct[0].kind == SqlValue::Kind::Int && direct[0].i == 7);
        CPPUNIT_ASSERT(direct[1].kind == SqlValue::Kind::String && direct[1].s == "seven");
        CPPUNIT_ASSERT(dora::pools::paramsOf(dora::sdk::Value()).empty());
    }

    /// Nothing listens: the first statement fails with dbDown (a client
    /// error from the connect), the pool is down, and the next statement on
    /// any slot fails at once, without another connect attempt.
    void testNoServerIsDbDownThenDownAtOnce() {
        dora::pools::MySqlSettings s;
        s.host = "127.0.0.1";
        s.port = refusedPort();
        s.user = "nobody";
        s.connectTimeoutSec = 2;
        MySqlSessions pool(s, 2);
        CPPUNIT_ASSERT(!pool.down());
        CPPUNIT_ASSERT(pool.describe().find("127.0.0.1:" + std::to_string(s.port)) !=
                       std::string::npos);
        dora::pools::ExecResult r;
        SqlFailure f;
        CPPUNIT_ASSERT(!pool.exec(0, "SELECT 1", dora::pools::SqlParams{}, r, f));
        CPPUNIT_ASSERT(f.dbDown);
        CPPUNIT_ASSERT(f.mysqlErrno >= mysqlerr::kFirstClientError);
        CPPUNIT_ASSERT(f.message.find("database unavailable") != std::string::npos);
        CPPUNIT_ASSERT(pool.down());
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), pool.connectFailures());
        SqlFailure g;
        CPPUNIT_ASSERT(!pool.begin(1, g));
        CPPUNIT_ASSERT(g.dbDown);
        CPPUNIT_ASSERT(g.message.find("not retried until a probe reaches it") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), pool.connectFailures()); // no connect of its own
        CPPUNIT_ASSERT(!pool.inTransaction(1));
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), pool.connectionsHeld());
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), pool.connects());
        auto errors = pool.errorsByErrno();
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), errors[f.mysqlErrno]);
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), errors[0]);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(MySqlSessionsTest);
