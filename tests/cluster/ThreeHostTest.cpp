// The cluster run: three real hosts on one private Redis and
// MariaDB, 100,000 mixed calls through the client library found via the
// registry (sync add_user / get_user, async plus_user on unique names).
// At one third a host is killed with -9, at two thirds another gets
// SIGTERM. Then: every acked async call applied exactly once (the dead
// host's pending entries by the survivor), every sync add_user answered OK
// has its row, the client errors are only calls that were on the killed
// host's connections or on a connection the drained host closed under them
// (sent after its last read: never run), the drained host exited 0 with
// nothing pending of its own, and the registry holds exactly the survivor.
#include "cluster/ClusterSupport.h"

#include <dora/client/Client.h>
#include <dora/wire/Registry.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <set>

using dora::sdk::Value;
using namespace dora::test;
using namespace dora::test::queue;
using namespace dora::test::cluster;
namespace client = dora::client;
namespace reg = dora::wire::registry;

class ThreeHostTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ThreeHostTest);
    CPPUNIT_TEST(testKillOneDrainOneLoseNothing);
    CPPUNIT_TEST_SUITE_END();

public:
    void setUp() override {
        Db db;
        db.exec("DELETE FROM users WHERE name LIKE 'cl\\_%'");
    }

    void testKillOneDrainOneLoseNothing() {
        const std::string q = "cl" + std::to_string(::getpid()) + "-three";
        const std::string group = "three" + std::to_string(::getpid());
        struct Cleanup {
            std::string q;
            ~Cleanup() {
                try {
                    RedisClient r;
                    r.command({"DEL", tasksStream(q), deadStream(q)});
                } catch (...) { // NOLINT(bugprone-empty-catch): best effort
                }
            }
        } cleanup{q};
        HostProcess::Options opt;
        opt.queueName = q;
        opt.queueYaml = "  claim_idle_ms: 1000\n";
        opt.extraYaml = "registry:\n  groups: [" + group + "]\n  interval_sec: 1\n";
        opt.nodeId = "three-a";
        auto killed = std::make_unique<HostProcess>(opt);
        opt.nodeId = "three-b";
        auto drained = std::make_unique<HostProcess>(opt);
        opt.nodeId = "three-c";
        HostProcess survivor(opt);
        const std::uint16_t killedPort = killed->port(), drainedPort = drained->port();

        client::ClientOptions co;
        co.registry = "unix:" + requireRedis();
        co.group = group;
        co.retry = 5;
        co.timeoutMs = 20000;
        CPPUNIT_ASSERT(waitFor([&] {
            try {
                return client::Client(co).options().servers.size() == 3;
            } catch (const std::exception&) {
                return false;
            }
        }, 20000));

        constexpr std::size_t kCalls = 100000, kThreads = 8;
        enum : std::int8_t { kNone, kOk, kAcked, kHandlerError, kClientError };
        std::unique_ptr<std::atomic<std::int8_t>[]> seen(new std::atomic<std::int8_t>[kCalls]);
        for (std::size_t i = 0; i < kCalls; ++i) seen[i] = kNone;
        std::atomic<std::size_t> done{0};
        struct ClientError {
            std::size_t call;
            std::string text; ///< code and message
        };
        std::vector<ClientError> errors;
        std::mutex errorsMutex;
        auto name = [](std::size_t i) { return "cl_h" + std::to_string(i); };
        auto t0 = Clock::now();
        std::vector<std::thread> threads;
        for (std::size_t t = 0; t < kThreads; ++t) {
            threads.emplace_back([&, t] {
                client::Client c(co);
                for (std::size_t i = t; i < kCalls; i += kThreads) {
                    client::Result r;
                    if (i % 3 == 2) {
                        r = c.call("plus_user", userParam(name(i)), client::Mode::Async);
                    } else if (i % 3 == 0) {
                        r = c.call("add_user", userParam(name(i), "d"));
                    } else {
                        // Another thread's add_user: found, or "not found"
                        // if it has not run yet (a handler answer either way).
                        r = c.call("get_user", userParam(name(i - 1)));
                    }
                    std::int8_t s = r.code == client::code::kAccepted ? kAcked
                                    : r.code == 0 ? (r.ok() ? kOk : kHandlerError)
                                                  : kClientError;
                    if (s == kClientError) {
                        std::lock_guard<std::mutex> lock(errorsMutex);
                        errors.push_back({i, std::to_string(r.code) + " " + r.msg});
                    }
                    seen[i] = s;
                    ++done;
                }
            });
        }
        CPPUNIT_ASSERT(waitFor([&] { return done.load() >= kCalls / 3; }, 300000));
        killed->signal(SIGKILL);
        killed->waitExit(10000);
        auto killedAt = Clock::now();
        RedisClient redis;
        const std::int64_t heldByKilled = pendingOf(redis, tasksStream(q), "three-a");
        CPPUNIT_ASSERT(waitFor([&] { return done.load() >= 2 * kCalls / 3; }, 300000));
        drained->signal(SIGTERM);
        const int drainedStatus = drained->waitExit(60000);
        for (auto& th : threads) th.join();
        const double runSec = secondsSince(t0);

        if (!waitFor([&] { return pendingOf(redis, tasksStream(q), "three-a") == 0; }, 60000))
            CPPUNIT_FAIL("the killed host's entries were not taken over:\n" + logTail(survivor));
        const double takeoverSec = secondsSince(killedAt);
        if (!waitFor([&] { return redis.integer({"XLEN", tasksStream(q)}) == 0 && redis.pending(tasksStream(q)) == 0; },
                     180000))
            CPPUNIT_FAIL("stream not drained:\n" + logTail(survivor));
        // The registry: the drained host removed itself, the killed one's
        // heartbeat expired and the survivor swept it.
        auto listed = [&] {
            std::set<std::uint16_t> ports;
            auto rep = redis.command({"SMEMBERS", "dora.serverlist"});
            for (std::size_t i = 0; i < rep->elements; ++i) {
                reg::Node n;
                if (reg::parseMember(std::string(rep->element[i]->str, rep->element[i]->len), n) &&
                    std::find(n.groups.begin(), n.groups.end(), group) != n.groups.end())
                    ports.insert(n.port);
            }
            return ports;
        };
        if (!waitFor([&] { return listed() == std::set<std::uint16_t>{survivor.port()}; }, 20000))
            CPPUNIT_FAIL("the registry does not hold exactly the survivor");

        Db db;
        auto rows = visitsByName(db, "cl\\_h");
        std::size_t acked = 0, applied = 0, lost = 0, twice = 0, syncOk = 0, syncMissing = 0,
                    clientErrors = 0, handlerErrors = 0, unknownTwice = 0;
        for (std::size_t i = 0; i < kCalls; ++i) {
            auto it = rows.find(name(i));
            std::int64_t visits = it == rows.end() ? -1 : it->second;
            switch (seen[i].load()) {
            case kAcked:
                ++acked;
                if (visits < 1) ++lost;
                if (visits == 1) ++applied;
                if (visits > 1) ++twice;
                break;
            case kOk:
                ++syncOk;
                if (i % 3 == 0 && visits < 0) ++syncMissing;
                break;
            case kHandlerError: ++handlerErrors; break;
            case kClientError:
                ++clientErrors;
                if (i % 3 == 2 && visits > 1) ++unknownTwice;
                break;
            default: CPPUNIT_FAIL("call " + std::to_string(i) + " never finished");
            }
        }
        std::string errorList;
        for (const auto& e : errors)
            errorList += "\n  " + e.text;
        std::printf("\n[three hosts] %zu calls in %.1f s: %zu sync ok, %zu handler errors, %zu async "
                    "acked, %zu applied once, %zu lost, %zu twice, %zu client errors; killed host held "
                    "%lld entries, none pending %.1f s after the kill (checked once the load ended); drained host exit %d%s\n",
                    kCalls, runSec, syncOk, handlerErrors, acked, applied, lost, twice, clientErrors,
                    static_cast<long long>(heldByKilled), takeoverSec, drainedStatus, errorList.c_str());
        CPPUNIT_ASSERT_EQUAL(0, drainedStatus);
        CPPUNIT_ASSERT_EQUAL_MESSAGE("entries left by the drained host", std::int64_t(0),
                                     pendingOf(redis, tasksStream(q), "three-b"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE("acked calls lost", std::size_t(0), lost);
        CPPUNIT_ASSERT_EQUAL_MESSAGE("acked calls applied twice", std::size_t(0), twice);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), unknownTwice);
        CPPUNIT_ASSERT_EQUAL(acked, applied);
        CPPUNIT_ASSERT_EQUAL_MESSAGE("sync add_user answered OK without a row", std::size_t(0), syncMissing);
        // Only calls on the killed host's connections may fail (those in
        // flight there when it died). How many depends on timing (one per
        // thread was seen, and nine on 8 threads under a loaded CI run): the
        // host each names is the check. The drain answers every request it
        // read; one a client sent after the drained host's last read (as it
        // closed its connections) is never read and never runs, and its
        // connection closes under it: TCP leaves that window, however short
        // (a loaded machine can stop the host inside it). Such a call is
        // allowed only as a lost connection on the drained host, and it must
        // not have run.
        CPPUNIT_ASSERT_EQUAL(clientErrors, errors.size());
        const std::string killedAddr = ":" + std::to_string(killedPort) + ")";
        const std::string drainedAddr = ":" + std::to_string(drainedPort) + ")";
        std::size_t closedByDrain = 0, closedByDrainRan = 0;
        for (const auto& e : errors) {
            if (e.text.find(killedAddr) != std::string::npos) continue;
            const bool lostConnection =
                e.text.find("connection closed by the server") != std::string::npos ||
                e.text.find("receive failed: ") != std::string::npos ||
                e.text.find("send failed: ") != std::string::npos;
            CPPUNIT_ASSERT_MESSAGE(
                "a client error neither on the killed host nor a connection the drained "
                "host closed:" +
                    errorList,
                lostConnection && e.text.find(drainedAddr) != std::string::npos);
            ++closedByDrain;
            // add_user and plus_user write their own name's row; get_user none.
            if (e.call % 3 != 1 && rows.count(name(e.call)) > 0) ++closedByDrainRan;
        }
        std::printf("[three hosts] %zu client errors on connections the drained host closed\n",
                    closedByDrain);
        CPPUNIT_ASSERT_EQUAL_MESSAGE("calls on connections the drained host closed that ran",
                                     std::size_t(0), closedByDrainRan);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ThreeHostTest);
