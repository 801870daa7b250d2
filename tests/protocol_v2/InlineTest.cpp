// Inline routes (`inline: true`) against the real host over v2 frames: the
// call runs on the I/O thread, so it answers while every task worker is
// held in a pooled call, and its answer overtakes a slower pooled call
// pipelined before it on the same connection; SQL from an inline handler
// is refused with a message that names the route, and writes nothing.
#include "protocol_v2/PhpWire.h"

#include <dora/sdk/serialize.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <fstream>
#include <memory>

using namespace dora::test;
using namespace dora::test::php;
using dora::sdk::Value;

namespace {

/// The build's routes (echo inline), the slow fixture (pooled), and
/// sync_user with one more route: add_user's handler, inline.
struct InlineHost {
    InlineHost() : dirs(std::vector<std::string>{"slow"}) {
        std::ofstream(dirs.routes() + "/sync_user.yaml", std::ios::app) << R"(
  - api: add_user_inline
    mode: sync
    handler: add_user
    inline: true
)";
        HostProcess::Options o;
        o.pluginsDir = dirs.plugins();
        o.routesDir = dirs.routes();
        o.taskWorkers = 1; // one held call takes the whole pool
        host = std::make_unique<HostProcess>(o);
    }
    ~InlineHost() { host.reset(); }

    FixtureDirs dirs;
    std::unique_ptr<HostProcess> host;
};

std::string wsOk(const std::string& g, const std::string& result) {
    return g + v2Answer(g, 0, "OK", v2Answer(g, 0, "OK", result));
}

} // namespace

class InlineTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(InlineTest);
    CPPUNIT_TEST(testInlineAnswersWhileThePoolIsHeld);
    CPPUNIT_TEST(testSqlFromAnInlineHandlerIsRefused);
    CPPUNIT_TEST_SUITE_END();

public:
    void testInlineAnswersWhileThePoolIsHeld() {
        InlineHost ih;
        HostProcess& h = *ih.host;
        WireClient c(h.port());
        Gate gate(h.dir());
        // A pooled call holds the only worker...
        std::string gs = newGuid();
        std::string held = A({{S("until_file"), S(gate.path())}, {S("i"), I(1)}});
        c.sendRaw(v2Packet(gs, v2Req(gs, "W_S", apiOne("slow_echo", held))));
        CPPUNIT_ASSERT(gate.waitEntered());
        // ...and inline calls pipelined behind it on the same connection are
        // answered first, in order, while it is still in its handler.
        for (int i = 0; i < 3; ++i) {
            std::string g = newGuid();
            std::string p = A({{S("msg"), S("inline " + std::to_string(i))}});
            c.sendRaw(v2Packet(g, v2Req(g, "W_S", apiOne("echo", p))));
            CPPUNIT_ASSERT_EQUAL(wsOk(g, p), c.readFrame());
        }
        CPPUNIT_ASSERT(!gate.waitLeft(0)); // still held: the answers did not wait for it
        gate.open();
        CPPUNIT_ASSERT_EQUAL(wsOk(gs, held), c.readFrame());
    }

    void testSqlFromAnInlineHandlerIsRefused() {
        InlineHost ih;
        HostProcess& h = *ih.host;
        WireClient c(h.port());
        std::string name = uniqueName("inl");
        std::string p = A({{S("name"), S(name)}});
        std::string g = newGuid();
        c.sendRaw(v2Packet(g, v2Req(g, "W_S", apiOne("add_user_inline", p))));
        Value a = dora::sdk::unserialize(c.readFrame().substr(32));
        const Value* callAnswer = a.find("data");
        CPPUNIT_ASSERT(callAnswer && callAnswer->isArray());
        CPPUNIT_ASSERT(callAnswer->find("code")->asInt() != 0);
        std::string msg = callAnswer->find("msg")->asString();
        CPPUNIT_ASSERT_MESSAGE(msg, msg.find("route 'add_user_inline' is inline") != std::string::npos);
        // Nothing was written: the pooled route does not find the user.
        g = newGuid();
        c.sendRaw(v2Packet(g, v2Req(g, "W_S", apiOne("get_user", p))));
        Value got = dora::sdk::unserialize(c.readFrame().substr(32));
        CPPUNIT_ASSERT_EQUAL(std::string("user '" + name + "' not found"),
                             got.find("data")->find("msg")->asString());
        // The same handler on its pooled route writes.
        g = newGuid();
        c.sendRaw(v2Packet(g, v2Req(g, "W_S", apiOne("add_user", p))));
        Value added = dora::sdk::unserialize(c.readFrame().substr(32));
        CPPUNIT_ASSERT_EQUAL(0LL, static_cast<long long>(added.find("data")->find("code")->asInt()));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(InlineTest);
