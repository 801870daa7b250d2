// The DoraRPC v2 registry (PROTOCOL.md §7): the member and heartbeat key
// byte for byte as a DoraRPC server writes them, then real hosts in the
// private Redis: registered with their groups and a heartbeat that
// expires, marked draining on SIGTERM (time 0, which the DoraRPC monitor
// drops as stale), gone after a stop, and a host killed with -9 removed by
// a live one once its heartbeat has expired.
#include "cluster/ClusterSupport.h"

#include <dora/wire/Registry.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <signal.h>

#include <ctime>
#include <memory>
#include <set>

using dora::sdk::Value;
using namespace dora::test;
using namespace dora::test::queue;
using namespace dora::test::cluster;
namespace reg = dora::wire::registry;

namespace {

std::set<std::string> members(RedisClient& r) {
    std::set<std::string> out;
    auto rep = r.command({"SMEMBERS", "dora.serverlist"});
    for (std::size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; ++i)
        out.emplace(rep->element[i]->str, rep->element[i]->len);
    return out;
}

/// GET of a key; "(nil)" when it is absent.
std::string get(RedisClient& r, const std::string& key) {
    auto rep = r.command({"GET", key});
    return rep->type == REDIS_REPLY_STRING ? std::string(rep->str, rep->len) : std::string("(nil)");
}

std::string member(std::uint16_t port, std::vector<std::string> groups, bool draining = false) {
    reg::Node n;
    n.ip = "127.0.0.1";
    n.port = port;
    n.groups = std::move(groups);
    n.draining = draining;
    return reg::member(n);
}

/// Members naming port (any groups, any state).
std::size_t membersFor(RedisClient& r, std::uint16_t port) {
    std::size_t n = 0;
    for (const auto& m : members(r)) {
        reg::Node node;
        if (reg::parseMember(m, node) && node.port == port) ++n;
    }
    return n;
}

} // namespace

class RegistryTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(RegistryTest);
    CPPUNIT_TEST(testWireFormatIsDoraRpcs);
    CPPUNIT_TEST(testRegisterDrainDeregister);
    CPPUNIT_TEST(testDeadHostExpiresAndIsSwept);
    CPPUNIT_TEST_SUITE_END();

public:
    void testWireFormatIsDoraRpcs() {
        // What PHP's json_encode(array("node" => array("ip" => $ip, "port" =>
        // $port), "group" => $list)) gives, with port an int.
        reg::Node n;
        n.ip = "10.0.0.5";
        n.port = 9567;
        n.groups = {"default"};
        CPPUNIT_ASSERT_EQUAL(std::string(R"({"node":{"ip":"10.0.0.5","port":9567},"group":["default"]})"),
                             reg::member(n));
        n.groups = {"api", "batch.v2", "x-1"};
        CPPUNIT_ASSERT_EQUAL(
            std::string(R"({"node":{"ip":"10.0.0.5","port":9567},"group":["api","batch.v2","x-1"]})"),
            reg::member(n));
        n.draining = true;
        CPPUNIT_ASSERT_EQUAL(std::string(R"({"node":{"ip":"10.0.0.5","port":9567},"group":["api","batch.v2","x-1"],"state":"draining"})"),
                             reg::member(n));
        CPPUNIT_ASSERT_EQUAL(std::string("dora.servertime.10.0.0.5.9567.time"), reg::timeKey("10.0.0.5", 9567));
        CPPUNIT_ASSERT_EQUAL(std::string("dora.serverlist"), std::string(reg::kServerList));

        reg::Node back;
        CPPUNIT_ASSERT(reg::parseMember(reg::member(n), back));
        CPPUNIT_ASSERT_EQUAL(n.ip, back.ip);
        CPPUNIT_ASSERT_EQUAL(n.port, back.port);
        CPPUNIT_ASSERT(n.groups == back.groups);
        CPPUNIT_ASSERT(back.draining);
        // A PHP server configured with the port as a string, and spaces.
        CPPUNIT_ASSERT(reg::parseMember(R"({ "node": {"ip": "10.0.0.6", "port": "9570"}, "group": ["g"] })", back));
        CPPUNIT_ASSERT_EQUAL(std::uint16_t(9570), back.port);
        CPPUNIT_ASSERT(!back.draining);
        for (const char* bad : {"", "x", "[]", R"({"node":{"ip":"a"},"group":[]})",
                                R"({"node":{"ip":"a","port":0},"group":[]})",
                                R"({"node":{"ip":"a","port":"12x"},"group":[]})",
                                R"({"node":{"ip":"a","port":1},"group":"g"})",
                                R"({"node":{"ip":"a","port":70000},"group":[]})"})
            CPPUNIT_ASSERT_MESSAGE(bad, !reg::parseMember(bad, back));
    }

    void testRegisterDrainDeregister() {
        HostProcess::Options opt;
        opt.extraYaml = "registry:\n  groups: [g1, g2]\n  interval_sec: 1\n";
        opt.pluginsDir = stagedPlugins();
        opt.routesDir = stagedRoutes();
        HostProcess host(opt);
        RedisClient r;
        const std::string key = reg::timeKey("127.0.0.1", host.port());
        const std::string live = member(host.port(), {"g1", "g2"});
        // Registered right after the listener opens.
        if (!waitFor([&] { return members(r).count(live) == 1; }, 10000))
            CPPUNIT_FAIL("not registered:\n" + logTail(host));
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), membersFor(r, host.port()));
        const std::int64_t t = std::stoll(get(r, key));
        CPPUNIT_ASSERT_MESSAGE("heartbeat " + std::to_string(t) + " is not the Unix time",
                               std::llabs(t - static_cast<std::int64_t>(std::time(nullptr))) < 120);
        const std::int64_t ttl = r.integer({"TTL", key});
        CPPUNIT_ASSERT_MESSAGE("TTL " + std::to_string(ttl), ttl > 0 && ttl <= 3);
        // The heartbeat keeps it there beyond its own TTL.
        CPPUNIT_ASSERT(waitFor([&] { return std::stoll(get(r, key)) > t; }, 10000));

        // Draining: marked, time 0 (stale for the DoraRPC monitor).
        Gate gate(host.dir());
        WireClient held(host.port());
        Value slow = Value::array();
        slow.set("until_file", gate.path());
        held.sendRaw(v1Frame(v1Request(newGuid(), "SSS", oneCall("slow_echo", slow))));
        CPPUNIT_ASSERT(gate.waitEntered());
        host.signal(SIGTERM);
        const std::string draining = member(host.port(), {"g1", "g2"}, true);
        if (!waitFor([&] { return members(r).count(draining) == 1; }, 10000))
            CPPUNIT_FAIL("not marked draining:\n" + logTail(host));
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), members(r).count(live));
        CPPUNIT_ASSERT_EQUAL(std::string("0"), get(r, key));
        gate.open();
        CPPUNIT_ASSERT_EQUAL(0, host.waitExit(30000));
        // Stopped: gone.
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), membersFor(r, host.port()));
        CPPUNIT_ASSERT_EQUAL(std::string("(nil)"), get(r, key));
    }

    void testDeadHostExpiresAndIsSwept() {
        HostProcess::Options opt;
        opt.extraYaml = "registry:\n  interval_sec: 1\n";
        auto dead = std::make_unique<HostProcess>(opt);
        const std::uint16_t deadPort = dead->port();
        HostProcess alive(opt);
        RedisClient r;
        CPPUNIT_ASSERT(waitFor([&] { return membersFor(r, deadPort) == 1 && membersFor(r, alive.port()) == 1; },
                               10000));
        dead->signal(SIGKILL);
        dead->waitExit(10000);
        // Its heartbeat expires (3 intervals), then the live host's sweep
        // removes the member.
        if (!waitFor([&] { return membersFor(r, deadPort) == 0; }, 20000))
            CPPUNIT_FAIL("the dead host is still listed:\n" + logTail(alive));
        CPPUNIT_ASSERT_EQUAL(std::string("(nil)"), get(r, reg::timeKey("127.0.0.1", deadPort)));
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), membersFor(r, alive.port()));
        CPPUNIT_ASSERT(alive.log().find("its heartbeat expired") != std::string::npos);
    }

private:
    /// The build's plugins plus the slow fixture, in a folder of the test.
    std::string stagedPlugins() { return staged().plugins(); }
    std::string stagedRoutes() { return staged().routes(); }
    PluginDirs& staged() {
        if (!_stage) _stage = std::make_unique<PluginDirs>(std::initializer_list<const char*>{"slow"});
        return *_stage;
    }

public:
    void tearDown() override {
        _stage.reset();
    }

private:
    std::unique_ptr<PluginDirs> _stage;
};

CPPUNIT_TEST_SUITE_REGISTRATION(RegistryTest);
