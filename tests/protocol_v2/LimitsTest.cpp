// The limits a route or the host puts on calls, and more than one I/O
// thread, against the real host over v2 frames: a route's timeout_ms
// (100203), its max_concurrency (100202), a full task queue (100202), and
// io_threads 2 and 4 under many concurrent pipelining connections. Calls
// that must be running while the test looks are held at a Gate (the slow
// fixture's until_file), so nothing here bets on how long a sleep lasts.
#include "protocol_v2/PhpWire.h"

#include <dora/sdk/serialize.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

using namespace dora::test;
using namespace dora::test::php;
using dora::sdk::Value;

namespace {

/// The slow fixture with two more routes on its one handler: one with a
/// short timeout_ms, one that runs one call at a time.
const char* kSlowRoutes = R"(plugin: slow
library: libslow.so
routes:
  - api: slow_echo
    mode: sync
    handler: slow_echo
    timeout_ms: 30000
  - api: slow_timeout
    mode: sync
    handler: slow_echo
    timeout_ms: 2000
  - api: slow_limited
    mode: sync
    handler: slow_echo
    timeout_ms: 30000
    max_concurrency: 1
)";

/// A host with the build's plugins, the slow fixture and kSlowRoutes.
struct LimitsHost {
    explicit LimitsHost(const std::string& serverYaml = "", int workers = 4)
        : dirs(std::vector<std::string>{"slow"}) {
        std::ofstream(dirs.routes() + "/slow.yaml") << kSlowRoutes;
        HostProcess::Options o;
        o.pluginsDir = dirs.plugins();
        o.routesDir = dirs.routes();
        o.serverYaml = serverYaml;
        o.taskWorkers = workers;
        host = std::make_unique<HostProcess>(o);
    }
    ~LimitsHost() { host.reset(); } // the host goes before its folders

    FixtureDirs dirs;
    std::unique_ptr<HostProcess> host;
};

std::string roundTrip(WireClient& c, const std::string& frame) {
    c.sendRaw(frame);
    return c.readFrame();
}

/// getStat's server part, over v2.
Value stats(WireClient& c) {
    std::string g = newGuid();
    std::string a =
        roundTrip(c, v2Packet(g, v2Req(g, "SC", A({{S("cmd"), call("getStat", kEmpty)}}))));
    return at(dora::sdk::unserialize(a.substr(32)), {"data", "server"});
}

std::int64_t statInt(WireClient& c, const char* key) { return at(stats(c), {key}).asInt(); }

/// A W_S answer whose one call failed with code/msg.
std::string wsError(const std::string& g, int code, const std::string& msg) {
    return g + v2Answer(g, 0, "OK", v2Answer(g, code, msg, kEmpty));
}

std::string wsOk(const std::string& g, const std::string& result) {
    return g + v2Answer(g, 0, "OK", v2Answer(g, 0, "OK", result));
}

std::string gated(const Gate& gate, int i) {
    return A({{S("until_file"), S(gate.path())}, {S("i"), I(i)}});
}

} // namespace

class LimitsTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(LimitsTest);
    CPPUNIT_TEST(testV2RouteTimeoutAnswers100203);
    CPPUNIT_TEST(testV2RouteMaxConcurrencyAnswers100202);
    CPPUNIT_TEST(testV2FullTaskQueueAnswers100202);
    CPPUNIT_TEST(testV2IoThreads2And4ConcurrentPipelining);
    CPPUNIT_TEST_SUITE_END();

public:
    /// A call still in its handler at the route's timeout_ms is answered
    /// 100203; its late result is dropped, the connection stays in step.
    void testV2RouteTimeoutAnswers100203() {
        LimitsHost lh;
        HostProcess& h = *lh.host;
        WireClient c(h.port());
        std::string g = newGuid();
        std::string quick = A({{S("i"), I(1)}});
        CPPUNIT_ASSERT_EQUAL(wsOk(g, quick),
                             roundTrip(c, v2Packet(g, v2Req(g, "W_S", apiOne("slow_timeout", quick)))));
        {
            Gate gate(h.dir()); // opened only after the deadline passed
            g = newGuid();
            CPPUNIT_ASSERT_EQUAL(
                wsError(g, 100203, "call to 'slow_timeout' timed out after 2000 ms"),
                roundTrip(c, v2Packet(g, v2Req(g, "W_S", apiOne("slow_timeout", gated(gate, 2))))));
            CPPUNIT_ASSERT(gate.waitEntered(0)); // it was in its handler all along
            gate.open();
            // The handler returns; its late result goes nowhere: the next
            // answers on this connection are the next requests'.
            CPPUNIT_ASSERT(gate.waitLeft());
        }
        for (int i = 0; i < 2; ++i) {
            g = newGuid();
            CPPUNIT_ASSERT_EQUAL(wsOk(g, kEmpty),
                                 roundTrip(c, v2Packet(g, v2Req(g, "W_S", apiOne("echo", kEmpty)))));
        }
        // In a multi request only the late call times out.
        {
            Gate gate(h.dir());
            g = newGuid();
            std::string api = A({{S("late"), call("slow_timeout", gated(gate, 3))},
                                 {S("fast"), call("echo", quick)}});
            std::string data =
                A({{S("late"), v2Answer(g, 100203, "call to 'slow_timeout' timed out after 2000 ms",
                                        kEmpty)},
                   {S("fast"), v2Answer(g, 0, "OK", quick)}});
            CPPUNIT_ASSERT_EQUAL(g + v2Answer(g, 0, "OK", data),
                                 roundTrip(c, v2Packet(g, v2Req(g, "W_M", api))));
        }
    }

    /// max_concurrency 1: while one call runs, the next is refused at once
    /// with 100202; when it has returned, the route takes calls again.
    void testV2RouteMaxConcurrencyAnswers100202() {
        LimitsHost lh;
        HostProcess& h = *lh.host;
        WireClient held(h.port()), c(h.port());
        Gate gate(h.dir());
        std::string gh = newGuid();
        std::string hp = gated(gate, 1);
        held.sendRaw(v2Packet(gh, v2Req(gh, "W_S", apiOne("slow_limited", hp))));
        CPPUNIT_ASSERT(gate.waitEntered());

        std::string busy = "route 'slow_limited' is at its concurrency limit (1), try again";
        std::string p = A({{S("i"), I(2)}});
        for (int i = 0; i < 3; ++i) {
            std::string g = newGuid();
            CPPUNIT_ASSERT_EQUAL(wsError(g, 100202, busy),
                                 roundTrip(c, v2Packet(g, v2Req(g, "W_S", apiOne("slow_limited", p)))));
        }
        // Other routes are not limited by it.
        std::string g = newGuid();
        CPPUNIT_ASSERT_EQUAL(wsOk(g, p), roundTrip(c, v2Packet(g, v2Req(g, "W_S", apiOne("slow_echo", p)))));
        CPPUNIT_ASSERT(!held.readable());

        gate.open();
        CPPUNIT_ASSERT_EQUAL(wsOk(gh, hp), held.readFrame());
        g = newGuid();
        CPPUNIT_ASSERT_EQUAL(wsOk(g, p), roundTrip(c, v2Packet(g, v2Req(g, "W_S", apiOne("slow_limited", p)))));
    }

    /// One worker, max_queued_tasks 2: with the worker held, a multi request
    /// of four calls gets two queued and two refused 100202 in its answer.
    void testV2FullTaskQueueAnswers100202() {
        LimitsHost lh("  max_queued_tasks: 2\n", 1);
        HostProcess& h = *lh.host;
        WireClient held(h.port()), c(h.port()), ctl(h.port());
        Gate gate(h.dir());
        std::string gh = newGuid();
        std::string hp = gated(gate, 0);
        held.sendRaw(v2Packet(gh, v2Req(gh, "W_S", apiOne("slow_echo", hp))));
        CPPUNIT_ASSERT(gate.waitEntered());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), statInt(ctl, "task_queue_num"));

        std::string g = newGuid();
        std::vector<std::pair<std::string, std::string>> calls, answers;
        for (int i = 0; i < 4; ++i) {
            std::string p = A({{S("i"), I(i)}});
            calls.emplace_back(S("c" + std::to_string(i)), call("slow_echo", p));
            answers.emplace_back(
                S("c" + std::to_string(i)),
                i < 2 ? v2Answer(g, 0, "OK", p)
                      : v2Answer(g, 100202, "server busy: the task queue is full, try again", kEmpty));
        }
        c.sendRaw(v2Packet(g, v2Req(g, "W_M", A(calls))));
        CPPUNIT_ASSERT(waitUntil([&] { return statInt(ctl, "task_queue_num") == 2; }));
        CPPUNIT_ASSERT(!c.readable());
        gate.open();
        CPPUNIT_ASSERT_EQUAL(wsOk(gh, hp), held.readFrame());
        CPPUNIT_ASSERT_EQUAL(g + v2Answer(g, 0, "OK", A(answers)), c.readFrame());
        // Room again once the queue drained.
        g = newGuid();
        CPPUNIT_ASSERT_EQUAL(wsOk(g, kEmpty), roundTrip(c, v2Packet(g, v2Req(g, "W_S", apiOne("echo", kEmpty)))));
    }

    /// io_threads 2 and 4: 16 connections at once (spread over the loops),
    /// each pipelining 60
    /// W_S, W_M and AM_S requests in one write, while one call per
    /// connection is held at a gate; every answer exact, matched by guid,
    /// the fast ones all before the gate opens.
    void testV2IoThreads2And4ConcurrentPipelining() {
        for (int io : {2, 4}) {
            constexpr int kConns = 16, kPerConn = 60;
            // A worker for each held call and four for the rest.
            LimitsHost lh("  io_threads: " + std::to_string(io) + "\n", kConns + 4);
            HostProcess& h = *lh.host;
            WireClient ctl(h.port());
            CPPUNIT_ASSERT_EQUAL(std::int64_t(io), statInt(ctl, "io_threads"));
            const std::int64_t accepts = statInt(ctl, "accept_count");
            Gate gate(h.dir());
            std::atomic<int> fastDone{0}, slowDone{0};
            std::mutex errMutex;
            std::string firstError;
            auto fail = [&](const std::string& e) {
                std::lock_guard<std::mutex> lock(errMutex);
                if (firstError.empty()) firstError = e;
            };
            auto client = [&](int id) {
                try {
                    WireClient c(h.port());
                    std::map<std::string, std::string> expected;
                    std::string wire, slowGuid = newGuid(), slow = gated(gate, id);
                    wire += v2Packet(slowGuid, v2Req(slowGuid, "W_S", apiOne("slow_echo", slow)));
                    std::string slowAnswer = wsOk(slowGuid, slow);
                    for (int i = 0; i < kPerConn; ++i) {
                        std::string g = newGuid();
                        std::string p = A({{S("c"), I(id)}, {S("i"), I(i)}});
                        if (i % 3 == 0) {
                            wire += v2Packet(g, v2Req(g, "W_S", apiOne("echo", p)));
                            expected[g] = wsOk(g, p);
                        } else if (i % 3 == 1) {
                            wire += v2Packet(g, v2Req(g, "W_M", A({{S("a"), call("echo", p)},
                                                                   {S("b"), call("version", kEmpty)}})));
                            expected[g] = g + v2Answer(g, 0, "OK",
                                                       A({{S("a"), v2Answer(g, 0, "OK", p)},
                                                          {S("b"), v2Answer(g, 0, "OK", S("1.0.0"))}}));
                        } else {
                            // AM_S: "accepted", then the pushed result.
                            wire += v2Packet(g, v2Req(g, "AM_S", apiOne("echo", p)));
                            expected[g] = g + v2Answer(g, 100001, kAccepted, kEmpty);
                            expected[g + "+"] = g + v2Answer(g, 0, "OK", v2Answer(g, 0, "OK", p), true);
                        }
                    }
                    c.sendRaw(wire);
                    std::size_t fast = expected.size();
                    for (std::size_t n = 0; n < fast; ++n) {
                        std::string a = c.readFrame(30000);
                        std::string g = a.substr(0, 32);
                        auto it = expected.find(g);
                        if (it == expected.end() || it->second != a) it = expected.find(g + "+");
                        if (it == expected.end() || it->second != a) {
                            fail("io_threads " + std::to_string(io) + ", connection " +
                                 std::to_string(id) + ": unexpected answer " + printable(a));
                            return;
                        }
                        expected.erase(it);
                    }
                    ++fastDone;
                    std::string a = c.readFrame(60000);
                    if (a != slowAnswer) {
                        fail("held call answered " + printable(a));
                        return;
                    }
                    ++slowDone;
                } catch (const std::exception& e) {
                    fail(std::string("connection ") + std::to_string(id) + ": " + e.what());
                }
            };
            std::vector<std::thread> threads;
            for (int i = 0; i < kConns; ++i)
                threads.emplace_back(client, i);
            // Every connection's fast answers arrive while its first call is
            // held; only then does the gate open.
            bool allFast = waitUntil([&] { return fastDone == kConns || !firstError.empty(); }, 60000);
            CPPUNIT_ASSERT_EQUAL(0, slowDone.load());
            gate.open();
            for (auto& t : threads)
                t.join();
            CPPUNIT_ASSERT_MESSAGE(firstError, firstError.empty());
            CPPUNIT_ASSERT(allFast);
            CPPUNIT_ASSERT_EQUAL(kConns, slowDone.load());
            Value s = stats(ctl);
            CPPUNIT_ASSERT_EQUAL(accepts + kConns, at(s, {"accept_count"}).asInt());
        }
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(LimitsTest);
