// Shared async work: two real hosts consume one stream group. One is
// killed with -9 while it holds entries it has read and not acknowledged;
// the other takes them over after queue.claim_idle_ms and applies them.
// Every accepted call is applied exactly once, nothing the dead host held
// stays pending, and calls whose answer was lost with the connection are
// applied at most once.
#include "cluster/ClusterSupport.h"

#include <dora/sdk/serialize.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <random>

using dora::sdk::Value;
using namespace dora::test;
using namespace dora::test::queue;
using namespace dora::test::cluster;

namespace {

std::string queueName(const std::string& test) {
    return "cl" + std::to_string(::getpid()) + "-" + test;
}

} // namespace

class TakeoverTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(TakeoverTest);
    CPPUNIT_TEST(testKilledHostsTasksTakenOverExactlyOnce);
    CPPUNIT_TEST_SUITE_END();

public:
    void setUp() override {
        Db db;
        db.exec("DELETE FROM users WHERE name LIKE 'cl\\_%'");
    }

    void testKilledHostsTasksTakenOverExactlyOnce() {
        const std::string q = queueName("takeover");
        StreamCleanup cleanup(q);
        HostProcess::Options opt;
        opt.queueName = q;
        opt.queueYaml = "  claim_idle_ms: 1000\n";
        opt.nodeId = "take-a";
        auto a = std::make_unique<HostProcess>(opt);
        opt.nodeId = "take-b";
        HostProcess b(opt);
        std::atomic<std::uint16_t> portA{a->port()};
        const std::uint16_t portB = b.port();

        constexpr std::size_t kCalls = 20000;
        auto pick = [&]() -> std::uint16_t {
            static thread_local std::mt19937 rng(std::random_device{}());
            std::uint16_t pa = portA.load();
            return pa && rng() % 2 ? pa : portB;
        };
        Load load(
            kCalls,
            [](std::size_t i) { return CallSpec{"SRS", "plus_user", userParam("cl_t" + std::to_string(i))}; },
            4, 64, pick, true);
        load.start();

        RedisClient redis;
        const std::string stream = tasksStream(q);
        // Kill it while it holds entries it has read and not acknowledged
        // (each may pack up to queue.tasks_per_entry requests: a few entries
        // are a few hundred requests under this load).
        bool holding = waitFor(
            [&] { return load.count(Seen::Accepted) >= 4000 && pendingOf(redis, stream, "take-a") >= 4; },
            60000);
        a->signal(SIGKILL);
        a->waitExit(10000);
        auto killedAt = Clock::now();
        portA = 0;
        const std::int64_t heldByA = pendingOf(redis, stream, "take-a");
        CPPUNIT_ASSERT_MESSAGE("host A never held entries under load", holding);
        CPPUNIT_ASSERT_MESSAGE("host A held nothing when it died: nothing to take over", heldByA > 0);

        if (!waitFor([&] { return pendingOf(redis, stream, "take-a") == 0; }, 60000))
            CPPUNIT_FAIL("the survivor did not take over A's entries:\n" + logTail(b));
        const double takeoverSec = secondsSince(killedAt);
        load.join();
        if (!waitFor([&] { return redis.integer({"XLEN", stream}) == 0 && redis.pending(stream) == 0; },
                     120000))
            CPPUNIT_FAIL("stream not drained:\n" + logTail(b));
        const std::string log = b.log();
        if (log.find("from an idle consumer") == std::string::npos)
            CPPUNIT_FAIL("the survivor never logged a takeover:\n" + logTail(b));

        Db db;
        auto rows = visitsByName(db, "cl\\_t");
        std::size_t acked = 0, applied = 0, lost = 0, twice = 0, unknown = 0, unknownTwice = 0,
                    unsent = 0;
        for (std::size_t i = 0; i < load.size(); ++i) {
            auto it = rows.find(load.spec(i).param.find("name")->asString());
            std::int64_t visits = it == rows.end() ? 0 : it->second;
            switch (load.seen(i)) {
            case Seen::Accepted:
                ++acked;
                if (visits == 0) ++lost;
                if (visits == 1) ++applied;
                if (visits > 1) ++twice;
                break;
            case Seen::NoAnswer: ++unknown; if (visits > 1) ++unknownTwice; break;
            case Seen::Unsent: ++unsent; if (visits) ++unknownTwice; break;
            default: CPPUNIT_FAIL("call answered " + std::to_string(load.code(i)));
            }
        }
        Value qs = queueStat(portB);
        std::printf("\n[takeover] %zu calls: %zu acked, %zu applied once, %zu lost, %zu twice, %zu "
                    "unanswered (connection to the killed host), %zu unsent; A held %lld entries at "
                    "the kill, all taken over %.1f s later (claim_idle_ms 1000); survivor: %lld "
                    "applied, %lld duplicates skipped\n",
                    load.size(), acked, applied, lost, twice, unknown, unsent,
                    static_cast<long long>(heldByA), takeoverSec,
                    static_cast<long long>(statInt(qs, "applied")),
                    static_cast<long long>(statInt(qs, "duplicates_skipped")));
        CPPUNIT_ASSERT_EQUAL_MESSAGE("acked calls lost", std::size_t(0), lost);
        CPPUNIT_ASSERT_EQUAL_MESSAGE("acked calls applied twice", std::size_t(0), twice);
        CPPUNIT_ASSERT_EQUAL_MESSAGE("unanswered calls applied twice", std::size_t(0), unknownTwice);
        CPPUNIT_ASSERT_EQUAL(acked, applied);
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), unsent);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(TakeoverTest);
