// tests/cluster/RegistrySeamTest.cpp — cluster::Registry against the
// scripted fake Redis of tests/pools: the commands of a heartbeat, of
// draining, of stop and of a sweep, byte for byte in the DoraRPC v2 format
// (wire/Registry.h). No real Redis; the registry's own thread beats only in
// the sweep test (interval 1 s, waited for as a condition).
#include "cluster/Registry.h"
#include "pools/FakeRedis.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <chrono>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using dora::cluster::Registry;
using dora::cluster::RegistrySettings;
using dora::test::FakeRedis;
namespace resp = dora::test::resp;
using Argv = std::vector<std::string>;

namespace {

/// The replies a registry needs; EXISTS answers `exists` in turn (the last repeats).
FakeRedis::Script script(std::vector<long long> exists = {1}, std::vector<std::string> members = {},
                         std::string setReply = resp::status("OK")) {
    auto used = std::make_shared<std::size_t>(0);
    auto m = std::make_shared<std::mutex>();
    return [=](const Argv& argv) -> std::optional<std::string> {
        const std::string& c = argv.at(0);
        if (c == "SET") return setReply;
        if (c == "SADD" || c == "SREM" || c == "DEL") return resp::integer(1);
        if (c == "EXISTS") {
            std::lock_guard<std::mutex> lock(*m);
            return resp::integer(exists[std::min((*used)++, exists.size() - 1)]);
        }
        if (c == "SMEMBERS") {
            std::vector<std::string> b;
            for (const auto& x : members)
                b.push_back(resp::bulk(x));
            return resp::array(b);
        }
        return std::nullopt;
    };
}

RegistrySettings node(int intervalSec = 3600) {
    RegistrySettings s;
    s.node.ip = "10.0.0.5";
    s.node.port = 9567;
    s.node.groups = {"default", "web"};
    s.intervalSec = intervalSec; // 3600: the thread never beats during a test
    return s;
}

dora::pools::RedisSettings at(const FakeRedis& f) {
    dora::pools::RedisSettings s;
    s.socket = f.socketPath();
    return s;
}

const std::string kLive = R"({"node":{"ip":"10.0.0.5","port":9567},"group":["default","web"]})";
const std::string kDraining =
    R"({"node":{"ip":"10.0.0.5","port":9567},"group":["default","web"],"state":"draining"})";
const std::string kTimeKey = "dora.servertime.10.0.0.5.9567.time";

bool waitFor(const std::function<bool()>& cond, int ms = 10000) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!cond()) {
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
}

} // namespace

class RegistrySeamTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(RegistrySeamTest);
    CPPUNIT_TEST(testStartRegistersAtOnceAndStopRemoves);
    CPPUNIT_TEST(testDrainingIsMarkedWithTimeZero);
    CPPUNIT_TEST(testRefusedHeartbeatIsNotFatal);
    CPPUNIT_TEST(testRedisAwayIsNotFatal);
    CPPUNIT_TEST(testSweepRemovesDeadNodesAndOurOutdatedEntry);
    CPPUNIT_TEST_SUITE_END();

public:
    void testStartRegistersAtOnceAndStopRemoves() {
        FakeRedis fake(script());
        Registry r(at(fake), node());
        CPPUNIT_ASSERT_EQUAL(3 * 3600, r.ttlSec()); // three intervals
        const std::time_t before = std::time(nullptr);
        r.start();
        const std::time_t after = std::time(nullptr);
        auto got = fake.received(); // listed when start returns
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), got.size());
        // The time first: a sweeping host that sees the member sees its time.
        CPPUNIT_ASSERT_EQUAL(std::string("SET"), got[0][0]);
        CPPUNIT_ASSERT_EQUAL(kTimeKey, got[0][1]);
        const long long t = std::stoll(got[0][2]);
        CPPUNIT_ASSERT(t >= before && t <= after);
        CPPUNIT_ASSERT((Argv(got[0].begin() + 3, got[0].end()) == Argv{"EX", "10800"}));
        CPPUNIT_ASSERT((got[1] == Argv{"SADD", "dora.serverlist", kLive}));
        CPPUNIT_ASSERT((got[2] == Argv{"SREM", "dora.serverlist", kDraining}));
        r.stop();
        got = fake.received();
        CPPUNIT_ASSERT_EQUAL(std::size_t(5), got.size());
        CPPUNIT_ASSERT((got[3] == Argv{"SREM", "dora.serverlist", kLive, kDraining}));
        CPPUNIT_ASSERT((got[4] == Argv{"DEL", kTimeKey}));
        r.stop(); // idempotent: nothing more is sent
        CPPUNIT_ASSERT_EQUAL(std::size_t(5), fake.received().size());
    }

    void testDrainingIsMarkedWithTimeZero() {
        FakeRedis fake(script());
        Registry r(at(fake), node());
        r.start();
        r.markDraining();
        r.markDraining(); // once
        auto got = fake.received();
        CPPUNIT_ASSERT_EQUAL(std::size_t(6), got.size());
        CPPUNIT_ASSERT((got[3] == Argv{"SET", kTimeKey, "0", "EX", "10800"}));
        CPPUNIT_ASSERT((got[4] == Argv{"SADD", "dora.serverlist", kDraining}));
        CPPUNIT_ASSERT((got[5] == Argv{"SREM", "dora.serverlist", kLive}));
        r.stop();
        CPPUNIT_ASSERT(
            (fake.received().at(6) == Argv{"SREM", "dora.serverlist", kLive, kDraining}));
    }

    /// A refused heartbeat (a replica after a failover) is logged, not
    /// fatal: draining and stop are still sent, on the same connection
    /// (it is not broken, so it is kept).
    void testRefusedHeartbeatIsNotFatal() {
        FakeRedis fake(
            script({1}, {}, resp::error("READONLY You can't write against a read only replica.")));
        Registry r(at(fake), node());
        r.start();
        r.markDraining();
        r.stop();
        auto got = fake.received();
        CPPUNIT_ASSERT_EQUAL(std::size_t(8), got.size());
        CPPUNIT_ASSERT((got[3] == Argv{"SET", kTimeKey, "0", "EX", "10800"}));
        CPPUNIT_ASSERT((got[6] == Argv{"SREM", "dora.serverlist", kLive, kDraining}));
        CPPUNIT_ASSERT((got[7] == Argv{"DEL", kTimeKey}));
        CPPUNIT_ASSERT_EQUAL(1, fake.accepted());
    }

    void testRedisAwayIsNotFatal() {
        dora::pools::RedisSettings none;
        none.socket = "/nonexistent/dora-registry.sock";
        Registry r(none, node());
        r.start();
        r.markDraining();
        r.stop();
        CPPUNIT_ASSERT_EQUAL(std::string("10.0.0.5:9567"), r.node().address());
    }

    /// After a beat, the registry thread looks at every member: ours is
    /// skipped, ours from before a restart (other groups) removed, a node
    /// whose heartbeat key is gone removed, a live one and what is not a
    /// node's JSON left alone.
    void testSweepRemovesDeadNodesAndOurOutdatedEntry() {
        const std::string outdated = R"({"node":{"ip":"10.0.0.5","port":9567},"group":["old"]})";
        const std::string dead = R"({"node":{"ip":"10.0.0.6","port":9567},"group":["default"]})";
        const std::string live = R"({"node":{"ip":"10.0.0.7","port":9567},"group":["default"]})";
        FakeRedis fake(script({0, 1}, {kLive, outdated, dead, "not json", live}));
        Registry r(at(fake), node(1));
        r.start();
        auto swept = [&] {
            for (const auto& a : fake.received())
                if (a == Argv{"SREM", "dora.serverlist", dead}) return true;
            return false;
        };
        CPPUNIT_ASSERT(waitFor(swept));
        r.stop();
        auto got = fake.received();
        std::size_t i = 0;
        while (i < got.size() && got[i][0] != "SMEMBERS")
            ++i;
        CPPUNIT_ASSERT(i >= 6); // two beats first: start's and the thread's
        CPPUNIT_ASSERT(i + 4 < got.size());
        CPPUNIT_ASSERT((got[i] == Argv{"SMEMBERS", "dora.serverlist"}));
        CPPUNIT_ASSERT((got[i + 1] == Argv{"SREM", "dora.serverlist", outdated}));
        CPPUNIT_ASSERT((got[i + 2] == Argv{"EXISTS", "dora.servertime.10.0.0.6.9567.time"}));
        CPPUNIT_ASSERT((got[i + 3] == Argv{"EXISTS", "dora.servertime.10.0.0.7.9567.time"}));
        CPPUNIT_ASSERT((got[i + 4] == Argv{"SREM", "dora.serverlist", dead}));
        for (const auto& a : got)
            CPPUNIT_ASSERT(!(a.size() == 3 && a[0] == "SREM" && a[2] == live));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(RegistrySeamTest);
