// The client library against the real host (every mode, every
// generation, pipelining, failover, blocklist, persistent connections,
// signatures and gzip), and against fake servers for a wrong guid,
// silence and a connection closed before an async result.
#include "client/FakeServer.h"
#include "common/TestSupport.h"

#include <dora/client/Client.h>
#include <dora/sdk/serialize.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <chrono>
#include <unistd.h>
#include <set>
#include <thread>

using dora::client::Client;
using dora::client::ClientOptions;
using dora::client::Generation;
using dora::client::Mode;
using dora::client::Request;
using dora::client::Result;
using dora::sdk::Value;
using namespace dora::test;
namespace code = dora::client::code;

namespace {

Value obj(std::initializer_list<std::pair<const char*, Value>> kv) {
    Value v = Value::array();
    for (auto& [k, val] : kv)
        v.set(k, val);
    return v;
}

Value call(const char* api, Value param) {
    return obj({{"name", api}, {"param", std::move(param)}});
}

ClientOptions on(std::initializer_list<std::uint16_t> ports, Generation g = Generation::V2) {
    ClientOptions o;
    for (auto p : ports)
        o.servers.push_back({"127.0.0.1", p});
    o.generation = g;
    o.timeoutMs = 10000;
    return o;
}

std::string dump(const Result& r) {
    return std::to_string(r.code) + " " + r.msg + " data=" + dora::sdk::serialize(r.data);
}

const char* genName(Generation g) { return dora::client::generationName(g); }

/// The request type the host counted for one sync call of generation g
/// (getStat's modes): v2 frames carry W_*, v1 and JSON frames SS*.
const char* syncType(Generation g, bool multi) {
    if (g == Generation::V2) return multi ? "W_M" : "W_S";
    return multi ? "SSM" : "SSS";
}

std::int64_t modeRequests(Client& c, const char* type) {
    Result s = c.getStat();
    const Value* m = s.data.find("server");
    m = m ? m->find("modes") : nullptr;
    m = m ? m->find(type) : nullptr;
    m = m ? m->find("requests") : nullptr;
    return m ? m->asInt() : 0;
}

} // namespace

class ClientTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ClientTest);
    CPPUNIT_TEST(testSyncSingleAndMultiEveryGeneration);
    CPPUNIT_TEST(testHandlerAndRouteErrors);
    CPPUNIT_TEST(testAsyncNoResultModes);
    CPPUNIT_TEST(testAsyncResultModes);
    CPPUNIT_TEST(testControlCommands);
    CPPUNIT_TEST(testWritesLand);
    CPPUNIT_TEST(testPipeliningManyOutstandingOnOneConnection);
    CPPUNIT_TEST(testPersistentConnectionAndReconnect);
    CPPUNIT_TEST(testFailoverToSecondServer);
    CPPUNIT_TEST(testBlocklistResetsWhenEveryServerFailed);
    CPPUNIT_TEST(testGuidMismatchDetected);
    CPPUNIT_TEST(testTimeoutAndRetry);
    CPPUNIT_TEST(testClosedBeforeAsyncResult);
    CPPUNIT_TEST(testSignatureAndGzip);
    CPPUNIT_TEST(testRegistryGroupsDrainAndFailover);
    CPPUNIT_TEST_SUITE_END();

public:
    void setUp() override {
        prepareTestDatabase();
        Db().exec("DELETE FROM users");
    }

    void testSyncSingleAndMultiEveryGeneration() {
        HostProcess host;
        for (Generation g : {Generation::V1, Generation::V2, Generation::Json}) {
            Client c(on({host.port()}, g));
            std::int64_t singles = modeRequests(c, syncType(g, false));
            std::int64_t multis = modeRequests(c, syncType(g, true));
            Value p = obj({{"text", "héllo"}, {"n", 42}, {"list", Value::array().push(1).push(2)}});
            Result r = c.call("echo", p);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(genName(g) + dump(r), 0, r.code);
            CPPUNIT_ASSERT(r.ok());
            CPPUNIT_ASSERT_EQUAL(std::size_t(1), r.calls.size());
            CPPUNIT_ASSERT(r.calls[0].data == p);
            CPPUNIT_ASSERT_EQUAL(std::size_t(32), r.guid.size());
            // The host saw this generation's request type, once.
            CPPUNIT_ASSERT_EQUAL_MESSAGE(genName(g), singles + 1,
                                         modeRequests(c, syncType(g, false)));

            Value calls = obj({{"a", call("echo", obj({{"k", "A"}}))},
                               {"b", call("echo", obj({{"k", "B"}}))},
                               {"c", call("version", Value::array())}});
            r = c.multi(calls);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(genName(g) + dump(r), 0, r.code);
            CPPUNIT_ASSERT_EQUAL(std::size_t(3), r.calls.size());
            CPPUNIT_ASSERT_EQUAL(std::string("a"), r.calls[0].key.toString());
            CPPUNIT_ASSERT(r.calls[0].data == obj({{"k", "A"}}));
            CPPUNIT_ASSERT(r.calls[1].data == obj({{"k", "B"}}));
            CPPUNIT_ASSERT_EQUAL(std::string("c"), r.calls[2].key.toString());
            CPPUNIT_ASSERT_EQUAL(0, r.calls[2].code);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(genName(g), multis + 1,
                                         modeRequests(c, syncType(g, true)));
        }
    }

    void testHandlerAndRouteErrors() {
        HostProcess host;
        for (Generation g : {Generation::V1, Generation::V2, Generation::Json}) {
            Client c(on({host.port()}, g));
            Result r = c.call("get_user", obj({{"name", "nobody"}}));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(genName(g), 0, r.code);
            CPPUNIT_ASSERT(!r.ok());
            CPPUNIT_ASSERT_EQUAL(100211, r.calls.at(0).code);
            CPPUNIT_ASSERT_EQUAL(100211, r.errorCode());
            CPPUNIT_ASSERT(r.errorText().find("nobody") != std::string::npos);

            r = c.call("no_such_api", Value::array());
            CPPUNIT_ASSERT_EQUAL_MESSAGE(genName(g) + dump(r), 100200, r.errorCode());

            Value calls = obj({{"ok", call("echo", obj({{"x", 1}}))},
                               {"missing", call("get_user", obj({{"name", "nobody"}}))},
                               {"bad", call("add_user", obj({{"department", "d"}}))}});
            r = c.multi(calls);
            CPPUNIT_ASSERT_EQUAL(0, r.code);
            CPPUNIT_ASSERT_EQUAL(std::size_t(3), r.calls.size());
            CPPUNIT_ASSERT_EQUAL(0, r.calls[0].code);
            CPPUNIT_ASSERT_EQUAL(100211, r.calls[1].code);
            CPPUNIT_ASSERT_EQUAL(100210, r.calls[2].code);
            CPPUNIT_ASSERT_EQUAL(100211, r.errorCode());
        }
    }

    void testAsyncNoResultModes() {
        // The test scripts always start Redis: the durable queue takes them.
        requireRedis();
        HostProcess host;
        const int want = code::kAccepted;
        for (Generation g : {Generation::V1, Generation::V2, Generation::Json}) {
            Client c(on({host.port()}, g));
            Result r = c.call("echo", obj({{"x", 1}}), Mode::Async);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(genName(g) + dump(r), want, r.code);
            CPPUNIT_ASSERT(r.calls.empty());
            r = c.multi(
                obj({{"a", call("echo", obj({{"x", 1}}))}, {"b", call("echo", Value::array())}}),
                Mode::Async);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(genName(g) + dump(r), want, r.code);
            CPPUNIT_ASSERT(r.ok());
            // The connection stays usable after an async answer.
            CPPUNIT_ASSERT_EQUAL(0, c.call("echo", Value::array()).code);
        }
    }

    void testAsyncResultModes() {
        HostProcess host;
        for (Generation g : {Generation::V2, Generation::Json, Generation::V1}) {
            Client c(on({host.port()}, g));
            // AM_* runs on the task pool and pushes its result on this
            // connection: it never needs the durable queue, so it is always accepted.
            Result a = c.call("echo", obj({{"n", 1}}), Mode::AsyncResult);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(genName(g) + dump(a), code::kAccepted, a.code);
            Result m = c.multi(obj({{"x", call("echo", obj({{"n", 2}}))},
                                    {"y", call("get_user", obj({{"name", "nobody"}}))}}),
                               Mode::AsyncResult);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(dump(m), code::kAccepted, m.code);
            // A sync call in between: pushed results arriving meanwhile are kept.
            CPPUNIT_ASSERT_EQUAL(0, c.call("echo", Value::array()).code);
            auto results = c.asyncResults(10000);
            CPPUNIT_ASSERT_EQUAL(std::size_t(2), results.size());
            CPPUNIT_ASSERT_EQUAL(std::size_t(0), c.asyncPending());
            const Result& ra = results.at(a.guid);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(dump(ra), 0, ra.code);
            CPPUNIT_ASSERT(ra.isResult);
            CPPUNIT_ASSERT(ra.calls.at(0).data == obj({{"n", 1}}));
            const Result& rm = results.at(m.guid);
            CPPUNIT_ASSERT_EQUAL(std::size_t(2), rm.calls.size());
            CPPUNIT_ASSERT(rm.calls[0].data == obj({{"n", 2}}));
            CPPUNIT_ASSERT_EQUAL(100211, rm.calls[1].code);
        }
    }

    void testControlCommands() {
        HostProcess host;
        for (Generation g : {Generation::V1, Generation::V2, Generation::Json}) {
            Client c(on({host.port()}, g));
            Result s = c.getStat();
            CPPUNIT_ASSERT_EQUAL_MESSAGE(dump(s), 0, s.code);
            const Value* server = s.data.find("server");
            CPPUNIT_ASSERT(server && server->isArray());
            CPPUNIT_ASSERT(server->find("request_count"));
            Result r = c.reloadTask();
            CPPUNIT_ASSERT_EQUAL_MESSAGE(dump(r), 0, r.code);
        }
    }

    void testWritesLand() {
        HostProcess host;
        Db db;
        Client c(on({host.port()}));
        Result r = c.call("add_user", obj({{"name", "carol"}, {"department", "eng"}}));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(dump(r), true, r.ok());
        std::int64_t id = r.calls.at(0).data.find("id")->asInt();
        CPPUNIT_ASSERT_EQUAL(id, db.scalar("SELECT id FROM users WHERE name='carol'"));
        r = c.call("add_user", obj({{"name", "carol"}, {"department", "eng"}}));
        CPPUNIT_ASSERT_EQUAL(100212, r.errorCode());
        r = c.multi(
            obj({{"p1", call("plus_user", obj({{"name", "dan"}}))},
                 {"p2", call("insert_user", obj({{"name", "erin"}, {"department", "x"}}))}}));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(dump(r), true, r.ok());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1),
                             db.scalar("SELECT visits FROM users WHERE name='dan'"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1),
                             db.scalar("SELECT COUNT(*) FROM users WHERE name='erin'"));
    }

    void testPipeliningManyOutstandingOnOneConnection() {
        HostProcess host;
        for (Generation g : {Generation::V2, Generation::V1, Generation::Json}) {
            Client c(on({host.port()}, g));
            std::vector<Request> reqs;
            for (int i = 0; i < 300; ++i) {
                if (i % 3 == 0)
                    reqs.push_back(Request::single("echo", obj({{"i", i}})));
                else if (i % 3 == 1)
                    reqs.push_back(Request::multiple(obj({{"a", call("echo", obj({{"i", i}}))},
                                                          {"b", call("echo", obj({{"j", i}}))}})));
                else
                    reqs.push_back(Request::single("echo", obj({{"i", i}}), Mode::AsyncResult));
            }
            auto out = c.pipeline(reqs);
            CPPUNIT_ASSERT_EQUAL(reqs.size(), out.size());
            std::set<std::string> guids;
            for (int i = 0; i < 300; ++i) {
                const Result& r = out[static_cast<std::size_t>(i)];
                guids.insert(r.guid);
                if (i % 3 == 2) {
                    CPPUNIT_ASSERT_EQUAL_MESSAGE(dump(r), code::kAccepted, r.code);
                    continue;
                }
                CPPUNIT_ASSERT_EQUAL_MESSAGE(
                    std::string(genName(g)) + " #" + std::to_string(i) + " " + dump(r), 0, r.code);
                CPPUNIT_ASSERT(r.calls.at(0).data.find("i")->asInt() == i);
                if (i % 3 == 1) CPPUNIT_ASSERT(r.calls.at(1).data.find("j")->asInt() == i);
            }
            CPPUNIT_ASSERT_EQUAL(std::size_t(300), guids.size());
            CPPUNIT_ASSERT_EQUAL(std::size_t(1), c.openConnections());
            auto pushed = c.asyncResults(10000);
            CPPUNIT_ASSERT_EQUAL(std::size_t(100), pushed.size());
            for (int i = 2; i < 300; i += 3) {
                const Result& r = pushed.at(out[static_cast<std::size_t>(i)].guid);
                CPPUNIT_ASSERT_EQUAL_MESSAGE(dump(r), 0, r.code);
                CPPUNIT_ASSERT(r.isResult);
                CPPUNIT_ASSERT_EQUAL(std::int64_t(i), r.calls.at(0).data.find("i")->asInt());
            }
        }
    }

    void testPersistentConnectionAndReconnect() {
        std::uint16_t port = freePort();
        HostProcess::Options opt;
        opt.port = port;
        auto host = std::make_unique<HostProcess>(opt);
        Client c(on({port}));
        std::int64_t accepts0 = c.getStat().data.find("server")->find("accept_count")->asInt();
        for (int i = 0; i < 20; ++i)
            CPPUNIT_ASSERT_EQUAL(0, c.call("echo", obj({{"i", i}})).code);
        std::int64_t accepts1 = c.getStat().data.find("server")->find("accept_count")->asInt();
        CPPUNIT_ASSERT_EQUAL(accepts0, accepts1); // one connection for everything
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), c.openConnections());

        // The server goes away and comes back: the stale connection is noticed
        // and replaced without failing the call.
        host.reset();
        host = std::make_unique<HostProcess>(opt);
        Result r = c.call("echo", obj({{"after", "restart"}}));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(dump(r), 0, r.code);
    }

    void testFailoverToSecondServer() {
        HostProcess host;
        std::uint16_t closed = freePort();
        Client c(on({closed, host.port()}));
        for (int i = 0; i < 20; ++i) {
            Result r = c.call("echo", obj({{"i", i}}));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(dump(r), 0, r.code);
            CPPUNIT_ASSERT_EQUAL("127.0.0.1:" + std::to_string(host.port()), r.server);
        }
        auto blocked = c.blockedServers();
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), blocked.size());
        CPPUNIT_ASSERT_EQUAL(closed, blocked[0].port);

        // The working server dies: the client reports no server, then the
        // blocklist starts afresh.
        host.stop();
        Result r = c.call("echo", Value::array());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(dump(r), code::kNoServer, r.code);
        CPPUNIT_ASSERT(r.server.empty());
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), c.blockedServers().size());
    }

    void testBlocklistResetsWhenEveryServerFailed() {
        std::uint16_t a = freePort();
        std::uint16_t b = freePort();
        while (b == a)
            b = freePort();
        Client c(on({a, b}));
        Result r = c.call("echo", Value::array());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(dump(r), code::kNoServer, r.code);
        CPPUNIT_ASSERT(r.msg.find(std::to_string(a)) != std::string::npos);
        CPPUNIT_ASSERT(r.msg.find(std::to_string(b)) != std::string::npos);
        // Both failed, so both are allowed again ...
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), c.blockedServers().size());
        // ... and a server coming back on either port is used at once.
        HostProcess::Options opt;
        opt.port = a;
        HostProcess host(opt);
        r = c.call("echo", obj({{"back", 1}}));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(dump(r), 0, r.code);
        CPPUNIT_ASSERT_EQUAL("127.0.0.1:" + std::to_string(a), r.server);
    }

    void testGuidMismatchDetected() {
        FakeServer fake(FakeServer::Behavior::WrongGuid);
        for (Generation g : {Generation::V1, Generation::V2, Generation::Json}) {
            Client c(on({fake.port()}, g));
            Result r = c.call("echo", Value::array());
            CPPUNIT_ASSERT_EQUAL_MESSAGE(genName(g) + dump(r), code::kGuidMismatch, r.code);
            CPPUNIT_ASSERT(r.msg.find("ffffffff") != std::string::npos);
            CPPUNIT_ASSERT_EQUAL(std::size_t(0), c.openConnections()); // the stream is out of step
            auto out = c.pipeline(
                {Request::single("echo", Value::array()), Request::single("echo", Value::array())});
            CPPUNIT_ASSERT_EQUAL(code::kGuidMismatch, out[0].code);
            CPPUNIT_ASSERT_EQUAL(code::kGuidMismatch, out[1].code);
        }
        // The same fake with the right guid is accepted: the check is the guid.
        FakeServer good(FakeServer::Behavior::Answer);
        Client c(on({good.port()}));
        Result r = c.call("echo", Value::array());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(dump(r), 0, r.code);
        CPPUNIT_ASSERT(r.calls.at(0).data == Value("fake"));
    }

    void testTimeoutAndRetry() {
        FakeServer silent(FakeServer::Behavior::Silent);
        ClientOptions o = on({silent.port()});
        o.timeoutMs = 300;
        Client c(o);
        auto t0 = std::chrono::steady_clock::now();
        Result r = c.call("echo", Value::array());
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - t0)
                      .count();
        CPPUNIT_ASSERT_EQUAL_MESSAGE(dump(r), code::kTimeout, r.code);
        // Never before the timeout; the upper bound only catches a hang.
        CPPUNIT_ASSERT_MESSAGE(std::to_string(ms), ms >= 290 && ms < 30000);

        // A timeout may mean the call ran: it is sent again only when the
        // caller says the call is idempotent.
        o.retry = 2;
        Client careful(o);
        int first = silent.requests();
        r = careful.call("echo", Value::array());
        CPPUNIT_ASSERT_EQUAL(code::kTimeout, r.code);
        o.retryUnsafe = true;
        Client again(o);
        int before = silent.requests();
        t0 = std::chrono::steady_clock::now();
        r = again.call("echo", Value::array());
        ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - t0)
                 .count();
        CPPUNIT_ASSERT_EQUAL(code::kTimeout, r.code);
        CPPUNIT_ASSERT_MESSAGE(std::to_string(ms), ms >= 870 && ms < 60000);
        // Three attempts reached the server (the fake counts frames it read).
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (silent.requests() - before < 3 && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        CPPUNIT_ASSERT_EQUAL(3, silent.requests() - before);
        // ... and the careful client's call reached it once.
        CPPUNIT_ASSERT_EQUAL(4, silent.requests() - first);
    }

    void testRegistryGroupsDrainAndFailover() {
        // Three hosts in the test Redis's registry: two serve group <g>,
        // one another group. The client reads the registry, calls only
        // the group's hosts, and moves to the other one when one drains.
        const std::string g = "cg" + std::to_string(::getpid());
        HostProcess::Options in, out;
        in.extraYaml = "registry:\n  groups: [" + g + ", shared]\n  interval_sec: 1\n";
        out.extraYaml = "registry:\n  groups: [" + g + "-other]\n  interval_sec: 1\n";
        auto a = std::make_unique<HostProcess>(in);
        HostProcess b(in);
        HostProcess other(out);
        const std::string aAddr = "127.0.0.1:" + std::to_string(a->port());
        const std::string bAddr = "127.0.0.1:" + std::to_string(b.port());
        ClientOptions o;
        o.registry = "unix:" + requireRedis();
        o.group = g;
        o.retry = 3;
        // Registered right after each listener opens.
        CPPUNIT_ASSERT(waitUntil([&] {
            try {
                return Client(o).options().servers.size() == 2;
            } catch (const std::exception&) {
                return false;
            }
        }, 20000));
        Client c(o);
        std::set<std::string> seen;
        for (int i = 0; i < 60; ++i) {
            Result r = c.call("echo", obj({{"i", i}}));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(dump(r), 0, r.code);
            seen.insert(r.server);
        }
        CPPUNIT_ASSERT(seen == (std::set<std::string>{aAddr, bAddr}));

        // A drains and goes: every call still succeeds, on B.
        CPPUNIT_ASSERT_EQUAL(0, a->stop());
        for (int i = 0; i < 30; ++i) {
            Result r = c.call("echo", obj({{"i", i}}));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(dump(r), 0, r.code);
            CPPUNIT_ASSERT_EQUAL(bAddr, r.server);
        }
        // A new client finds only B: A removed itself.
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), Client(o).options().servers.size());
        CPPUNIT_ASSERT_EQUAL(b.port(), Client(o).options().servers[0].port);

        // A group nobody serves: a clear error, not a hang.
        ClientOptions none = o;
        none.group = g + "-nobody";
        try {
            Client x(none);
            CPPUNIT_FAIL("a client was made for an empty group");
        } catch (const std::runtime_error& e) {
            CPPUNIT_ASSERT_MESSAGE(e.what(), std::string(e.what()).find("no live server of group") != std::string::npos);
        }
        ClientOptions bad = o;
        bad.registry = "unix:/nonexistent/redis.sock";
        CPPUNIT_ASSERT_THROW(Client x(bad), std::runtime_error);
    }

    void testClosedBeforeAsyncResult() {
        FakeServer fake(FakeServer::Behavior::AcceptThenClose);
        Client c(on({fake.port()}));
        Result a = c.call("echo", Value::array(), Mode::AsyncResult);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(dump(a), code::kAccepted, a.code);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), c.asyncPending());
        auto results = c.asyncResults(3000);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), results.size());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(dump(results.at(a.guid)), code::kClosedEarly,
                                     results.at(a.guid).code);
    }

    void testSignatureAndGzip() {
        HostProcess::Options opt;
        opt.extraYaml = "protocol:\n  signature: true\n  gzip: true\n";
        HostProcess host(opt);
        for (Generation g : {Generation::V1, Generation::V2, Generation::Json}) {
            ClientOptions o = on({host.port()}, g);
            o.wire.signature = true;
            o.wire.gzip = g == Generation::V2;
            Client c(o);
            Value big = Value::array();
            for (int i = 0; i < 200; ++i)
                big.push("item number " + std::to_string(i));
            Result r = c.call("echo", big);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(genName(g) + dump(r), 0, r.code);
            CPPUNIT_ASSERT(r.calls.at(0).data == big);
        }
        // A wrong salt is refused by the host and never reaches a handler.
        // The host answers 100005 signed with its own salt, which this client
        // cannot verify: it reports a bad answer, naming the signature.
        ClientOptions o = on({host.port()}, Generation::V2);
        o.wire.signature = true;
        o.wire.salt = "not-the-salt";
        Client wrong(o);
        Result r = wrong.call("add_user", obj({{"name", "wrongsalt"}, {"department", "x"}}));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(dump(r), code::kBadAnswer, r.code);
        CPPUNIT_ASSERT_MESSAGE(dump(r), r.msg.find("signature check failed") != std::string::npos);
        // The refusal was answered, so the host is done with the request: nothing landed.
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0),
                             Db().scalar("SELECT COUNT(*) FROM users WHERE name='wrongsalt'"));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ClientTest);
