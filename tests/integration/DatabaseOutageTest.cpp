// Sync calls while the real MariaDB is away, and after it is back: the
// real host, the real libsync_user.so, the private MariaDB of this checkout
// stopped (connections refused) or frozen with SIGSTOP (it accepts TCP
// connections and answers nothing: a hung or unreachable server). Either
// way a call must learn "database unavailable" (100208) without waiting
// for the server — not the route's timeout (100203) — and calls must work
// again once the server is back, without restarting the host.
//
// RUN_SERIAL (CMakeLists.txt): these tests take the shared test MariaDB
// away from every other suite while they run.
#include "common/TestSupport.h"

#include <dora/sdk/serialize.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <string>
#include <vector>

using dora::sdk::Value;
using namespace dora::test;

namespace {

constexpr std::int64_t kNotFound = 100211;
constexpr std::int64_t kDatabaseDown = 100208;
constexpr std::int64_t kTimeout = 100203;

Value params(std::initializer_list<std::pair<const char*, Value>> kv) {
    Value v = Value::array();
    for (auto& [k, val] : kv) v.set(k, val);
    return v;
}

/// The code of a single call's outcome: the handler's (data.code) when the
/// request itself was answered, else the request's.
std::int64_t outcomeCode(const Value& answer) {
    const Value* code = answer.find("code");
    if (!code) throw std::runtime_error("answer without a code: " + dora::sdk::serialize(answer));
    const Value* data = answer.find("data");
    if (code->asInt() == 0 && data && data->isArray() && data->find("code"))
        return data->find("code")->asInt();
    return code->asInt();
}

std::int64_t getUser(WireClient& c, const std::string& name) {
    return outcomeCode(callV1(c, "SSS", oneCall("get_user", params({{"name", Value(name)}}))));
}

std::int64_t addUser(WireClient& c, const std::string& name) {
    return outcomeCode(
        callV1(c, "SSS", oneCall("add_user", params({{"name", Value(name)}, {"department", "ops"}}))));
}

std::string codes(const std::vector<std::int64_t>& v) {
    std::string s;
    for (auto c : v) s += (s.empty() ? "" : " ") + std::to_string(c);
    return s;
}

} // namespace

class DatabaseOutageTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(DatabaseOutageTest);
    CPPUNIT_TEST(testStoppedServerAnswers100208AndRecovers);
    CPPUNIT_TEST(testFrozenServerAnswers100208WithoutWaitingAndRecovers);
    CPPUNIT_TEST(testHostStartedWhileDatabaseStopped);
    CPPUNIT_TEST_SUITE_END();

public:
    void setUp() override {
        prepareTestDatabase();
        Db().exec("DELETE FROM users WHERE name LIKE 'outage\\_%'");
    }

    /// Every call during the outage answers 100208, a multi request in
    /// every call; once the server is back, reads and writes work again on
    /// the same host and the same client connection.
    void testStoppedServerAnswers100208AndRecovers() {
        HostProcess::Options o;
        o.taskWorkers = 2;
        HostProcess host(o);
        WireClient c(host.port());
        CPPUNIT_ASSERT_EQUAL(kNotFound, getUser(c, "outage_nobody")); // a connection is open
        {
            ServiceDown mysql("mysql");
            for (int i = 0; i < 20; ++i)
                CPPUNIT_ASSERT_EQUAL(kDatabaseDown, getUser(c, "outage_nobody"));
            CPPUNIT_ASSERT_EQUAL(kDatabaseDown, addUser(c, "outage_lost"));
            Value api = Value::array();
            for (int k = 0; k < 4; ++k) {
                Value call = Value::array();
                call.set("name", "get_user");
                call.set("param", params({{"name", "outage_nobody"}}));
                api.set(k, call);
            }
            Value r = callV1(c, "SSM", api);
            CPPUNIT_ASSERT_EQUAL(std::int64_t(0), r.find("code")->asInt());
            for (int k = 0; k < 4; ++k)
                CPPUNIT_ASSERT_EQUAL(kDatabaseDown, r.find("data")->find(k)->find("code")->asInt());
            mysql.start();
        }
        assertRecovers(c, "outage_stopped");
        Db db;
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), db.scalar("SELECT COUNT(*) FROM users WHERE name='outage_lost'"));
    }

    /// A frozen server holds the host's connections and answers nothing.
    /// The calls that meet it first may wait for the read and connect
    /// timeouts; after that the host knows the database is away and every
    /// call answers 100208 at once. The connect timeout (5 s, the default)
    /// is longer than get_user's timeout_ms (2000), so a call that waited
    /// for a connect would answer 100203 instead. One worker, connected
    /// before the freeze: without a read timeout it would hang in its read
    /// for as long as the server is frozen, and every call with it.
    void testFrozenServerAnswers100208WithoutWaitingAndRecovers() {
        HostProcess::Options o;
        o.taskWorkers = 1;
        o.mysqlYaml = "  read_timeout_sec: 1\n  write_timeout_sec: 1\n";
        HostProcess host(o);
        WireClient c(host.port());
        CPPUNIT_ASSERT_EQUAL(kNotFound, getUser(c, "outage_nobody"));
        {
            ServiceDown mysql("mysql", ServiceDown::How::Freeze);
            std::vector<std::int64_t> first;
            bool learned = waitUntil(
                [&] {
                    first.push_back(getUser(c, "outage_nobody"));
                    return first.back() == kDatabaseDown;
                },
                60000);
            CPPUNIT_ASSERT_MESSAGE("answers while frozen: " + codes(first), learned);
            for (auto code : first)
                CPPUNIT_ASSERT_MESSAGE(codes(first), code == kTimeout || code == kDatabaseDown);
            std::vector<std::int64_t> after;
            for (int i = 0; i < 20; ++i) after.push_back(getUser(c, "outage_nobody"));
            after.push_back(addUser(c, "outage_lost"));
            CPPUNIT_ASSERT_EQUAL(std::string(codes(std::vector<std::int64_t>(21, kDatabaseDown))), codes(after));
            mysql.start();
        }
        assertRecovers(c, "outage_frozen");
        Db db;
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), db.scalar("SELECT COUNT(*) FROM users WHERE name='outage_lost'"));
    }

    /// A host started while MariaDB is down starts, answers 100208, and
    /// serves once the server is up.
    void testHostStartedWhileDatabaseStopped() {
        ServiceDown mysql("mysql");
        HostProcess::Options o;
        o.taskWorkers = 2;
        HostProcess host(o);
        WireClient c(host.port());
        CPPUNIT_ASSERT_EQUAL(kDatabaseDown, getUser(c, "outage_nobody"));
        CPPUNIT_ASSERT_EQUAL(kDatabaseDown, addUser(c, "outage_early"));
        mysql.start();
        assertRecovers(c, "outage_started");
    }

private:
    /// The server is back: within a bounded wait a read reaches it, then a
    /// write lands exactly once.
    void assertRecovers(WireClient& c, const std::string& name) {
        std::vector<std::int64_t> seen;
        bool back = waitUntil(
            [&] {
                seen.push_back(getUser(c, "outage_nobody"));
                return seen.back() == kNotFound;
            },
            60000);
        CPPUNIT_ASSERT_MESSAGE("answers after the restart: " + codes(seen), back);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), addUser(c, name));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1),
                             Db().scalar("SELECT COUNT(*) FROM users WHERE name='" + name + "'"));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(DatabaseOutageTest);
