// group_commit (the shipped sync_user write routes) against the real host
// and MariaDB over v2 frames. With the only task worker held at a Gate,
// add_user calls queue up (the test waits until topStat counts them all in
// the task pool's queue: sent is not yet read by the host's I/O thread);
// released, the worker takes them as one group: one transaction, one
// commit. Each call still gets its own verdict (a taken name, and the
// second of two calls for one name, fail alone), every other row is there
// afterwards, and getStat counts one committed group.
#include "protocol_v2/PhpWire.h"

#include <dora/sdk/serialize.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <map>
#include <memory>

using namespace dora::test;
using namespace dora::test::php;
using dora::sdk::Value;

namespace {

struct OneWorkerHost {
    OneWorkerHost() : dirs(std::vector<std::string>{"slow"}) {
        HostProcess::Options o;
        o.pluginsDir = dirs.plugins();
        o.routesDir = dirs.routes();
        o.taskWorkers = 1;
        host = std::make_unique<HostProcess>(o);
    }
    ~OneWorkerHost() { host.reset(); }

    FixtureDirs dirs;
    std::unique_ptr<HostProcess> host;
};

Value answerOf(const std::string& frame) { return dora::sdk::unserialize(frame.substr(32)); }

Value groupStats(WireClient& c) {
    std::string g = newGuid();
    c.sendRaw(v2Packet(g, v2Req(g, "SC", A({{S("cmd"), call("getStat", kEmpty)}}))));
    Value a = answerOf(c.readFrame());
    return *a.find("data")->find("server")->find("group_commit");
}

/// Calls waiting in the task pool's queue (topStat's pool.queued).
long long poolQueued(WireClient& c) {
    std::string g = newGuid();
    c.sendRaw(v2Packet(g, v2Req(g, "SC", A({{S("cmd"), call("topStat", kEmpty)}}))));
    Value a = answerOf(c.readFrame());
    return at(a, {"data", "pool", "queued"}).asInt();
}

} // namespace

class GroupCommitTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(GroupCommitTest);
    CPPUNIT_TEST(testQueuedCallsCommitTogetherWithTheirOwnVerdicts);
    CPPUNIT_TEST_SUITE_END();

public:
    void testQueuedCallsCommitTogetherWithTheirOwnVerdicts() {
        OneWorkerHost oh;
        HostProcess& h = *oh.host;
        WireClient c(h.port());
        const std::string taken = uniqueName("gct");
        {
            std::string g = newGuid();
            c.sendRaw(v2Packet(g, v2Req(g, "W_S", apiOne("add_user", A({{S("name"), S(taken)}})))));
            CPPUNIT_ASSERT_EQUAL(0LL, static_cast<long long>(answerOf(c.readFrame()).find("data")->find("code")->asInt()));
        }
        Value before = groupStats(c);

        Gate gate(h.dir());
        std::string gs = newGuid();
        c.sendRaw(v2Packet(gs, v2Req(gs, "W_S", apiOne("slow_echo", A({{S("until_file"), S(gate.path())}})))));
        CPPUNIT_ASSERT(gate.waitEntered());
        // Queued behind the held call: 8 new names, one taken name, and a
        // second call for the first new name.
        std::vector<std::string> fresh;
        std::map<std::string, std::string> nameOf; // guid -> name
        for (int i = 0; i < 8; ++i) fresh.push_back(uniqueName("gc" + std::to_string(i)));
        std::vector<std::string> names = fresh;
        names.push_back(taken);
        names.push_back(fresh.front());
        std::vector<std::string> guids;
        for (const auto& n : names) {
            std::string g = newGuid();
            guids.push_back(g);
            nameOf[g] = n;
            c.sendRaw(v2Packet(g, v2Req(g, "W_S", apiOne("add_user", A({{S("name"), S(n)}})))));
        }
        // Every call must be queued before the worker is free: one the I/O
        // thread reads later (a loaded machine) would make a second group.
        long long queued = -1;
        const bool allQueued = waitUntil(
            [&] { return (queued = poolQueued(c)) == static_cast<long long>(names.size()); });
        CPPUNIT_ASSERT_MESSAGE("calls in the pool's queue: " + std::to_string(queued), allQueued);
        gate.open();
        std::map<std::string, Value> answers;
        for (std::size_t k = 0; k < names.size() + 1; ++k) {
            std::string f = c.readFrame();
            answers[f.substr(0, 32)] = answerOf(f);
        }
        CPPUNIT_ASSERT_EQUAL(names.size() + 1, answers.size());
        std::map<std::string, long long> idOf; // name -> the id its add_user answered
        for (std::size_t k = 0; k < guids.size(); ++k) {
            const Value& callAnswer = *answers.at(guids[k]).find("data");
            const long long code = callAnswer.find("code")->asInt();
            if (k < fresh.size()) {
                CPPUNIT_ASSERT_EQUAL_MESSAGE(names[k], 0LL, code);
                CPPUNIT_ASSERT_EQUAL(names[k], callAnswer.find("data")->find("name")->asString());
                idOf[names[k]] = callAnswer.find("data")->find("id")->asInt();
            } else {
                // The taken name and the repeat: conflicts, alone.
                CPPUNIT_ASSERT_EQUAL_MESSAGE(names[k], 100212LL, code);
                CPPUNIT_ASSERT_EQUAL("user '" + names[k] + "' already exists",
                                     callAnswer.find("msg")->asString());
            }
        }
        // One group took all ten calls, and it was committed.
        Value after = groupStats(c);
        CPPUNIT_ASSERT_EQUAL(1LL, static_cast<long long>(after.find("groups")->asInt() - before.find("groups")->asInt()));
        CPPUNIT_ASSERT_EQUAL(static_cast<long long>(names.size()),
                             static_cast<long long>(after.find("calls")->asInt() - before.find("calls")->asInt()));
        CPPUNIT_ASSERT_EQUAL(0LL, static_cast<long long>(after.find("undone")->asInt() - before.find("undone")->asInt()));
        // Every new row is there for another session, under the id its
        // add_user answered (the group's INSERT returned them: RETURNING).
        for (const auto& n : fresh) {
            std::string g = newGuid();
            c.sendRaw(v2Packet(g, v2Req(g, "W_S", apiOne("get_user", A({{S("name"), S(n)}})))));
            Value got = answerOf(c.readFrame());
            CPPUNIT_ASSERT_EQUAL_MESSAGE(n, 0LL, static_cast<long long>(got.find("data")->find("code")->asInt()));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(n, idOf.at(n),
                                         static_cast<long long>(got.find("data")->find("data")->find("id")->asInt()));
        }
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(GroupCommitTest);
