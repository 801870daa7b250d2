// The v1 generation (DoraRPC 1.x clients: SSS/SSM/SRS/SRM/SC, optional
// signature) against the real host, byte for byte.
#include "protocol_v2/PhpWire.h"

#include <dora/sdk/serialize.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>


using namespace dora::test;
using namespace dora::test::php;
using dora::sdk::Value;

namespace {

const std::string kParams = A({{S("name"), S("alice")},
                               {S("n"), I(-42)},
                               {S("f"), "d:0.1;"},
                               {S("big"), "d:1.0E+25;"},
                               {S("t"), "b:1;"},
                               {S("z"), "N;"},
                               {I(7), S(std::string("bin\0\x01\xff", 6))},
                               {S("list"), A({{I(0), I(1)}, {I(1), S("二")}})}});

std::string roundTrip(WireClient& c, const std::string& frame) {
    c.sendRaw(frame);
    return c.readFrame();
}

} // namespace

class WireV1Test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(WireV1Test);
    CPPUNIT_TEST(testV1SssEchoExactBytes);
    CPPUNIT_TEST(testV1SssHandlerErrorExactBytes);
    CPPUNIT_TEST(testV1SssNoSuchRouteExactBytes);
    CPPUNIT_TEST(testV1SsmExactBytes);
    CPPUNIT_TEST(testV1SsmWritesMysql);
    CPPUNIT_TEST(testV1SrsAcceptedExactBytes);
    CPPUNIT_TEST(testV1SrmAcceptedExactBytes);
    CPPUNIT_TEST(testV1ScGetStat);
    CPPUNIT_TEST(testV1ScUnknownCommandExactBytes);
    CPPUNIT_TEST(testV1UnknownTypeExactBytes);
    CPPUNIT_TEST(testV1ApiMissingExactBytes);
    CPPUNIT_TEST(testV1SignedSssExactBytes);
    CPPUNIT_TEST(testV1WrongSignatureNeverReachesHandler);
    CPPUNIT_TEST(testV1UnsignedFrameToSignedHostRefused);
    CPPUNIT_TEST(testV1OnGzipHostStaysPlain);
    CPPUNIT_TEST(testV1TooManyCallsExactBytes);
    CPPUNIT_TEST(testV1OversizedFrameExactBytesAndClose);
    CPPUNIT_TEST(testV1IdleConnectionClosed);
    CPPUNIT_TEST_SUITE_END();

public:
    void testV1SssEchoExactBytes() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        std::string a = roundTrip(c, v1Packet(v1Req(g, "SSS", apiOne("echo", kParams))));
        CPPUNIT_ASSERT_EQUAL(v1Answer(0, "OK", kParams, g), a);
    }

    void testV1SssHandlerErrorExactBytes() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        std::string nobody = uniqueName("nobody");
        std::string a = roundTrip(
            c, v1Packet(v1Req(g, "SSS", apiOne("get_user", A({{S("name"), S(nobody)}})))));
        // v1: the handler's error is itself [code, msg, data] in data; outer code 0.
        std::string err = A({{S("code"), I(100211)},
                             {S("msg"), S("user '" + nobody + "' not found")},
                             {S("data"), kEmpty}});
        CPPUNIT_ASSERT_EQUAL(v1Answer(0, "OK", err, g), a);
    }

    void testV1SssNoSuchRouteExactBytes() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        std::string a = roundTrip(c, v1Packet(v1Req(g, "SSS", apiOne("nope", kEmpty))));
        CPPUNIT_ASSERT_EQUAL(v1Answer(100200, "no such route: 'nope'", kEmpty, g), a);
    }

    void testV1SsmExactBytes() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        std::string p2 = A({{S("k"), S("v")}});
        std::string api = A({{S("a"), call("echo", kParams)},
                             {S("b"), call("echo", p2)},
                             {I(3), call("nope", kEmpty)}});
        std::string a = roundTrip(c, v1Packet(v1Req(g, "SSM", api)));
        std::string nope = A(
            {{S("code"), I(100200)}, {S("msg"), S("no such route: 'nope'")}, {S("data"), kEmpty}});
        CPPUNIT_ASSERT_EQUAL(
            v1Answer(0, "OK", A({{S("a"), kParams}, {S("b"), p2}, {I(3), nope}}), g), a);
    }

    void testV1SsmWritesMysql() {
        WireClient c(host("plain").port());
        std::string prefix = uniqueName("v1u");
        std::vector<std::pair<std::string, std::string>> calls;
        for (int i = 0; i < 5; ++i)
            calls.emplace_back(S("u" + std::to_string(i)),
                               call("add_user", A({{S("name"), S(prefix + std::to_string(i))},
                                                   {S("department"), S("d")}})));
        Value r = dora::sdk::unserialize(roundTrip(c, v1Packet(v1Req(newGuid(), "SSM", A(calls)))));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), at(r, {"code"}).asInt());
        CPPUNIT_ASSERT_EQUAL(std::size_t(5), at(r, {"data"}).asArray().size());
        CPPUNIT_ASSERT_EQUAL(prefix + "3", at(r, {"data", "u3", "name"}).asString());
        // Committed: another session sees all five.
        CPPUNIT_ASSERT_EQUAL(
            std::int64_t(5),
            Db().scalar("SELECT COUNT(*) FROM users WHERE name LIKE '" + prefix + "%'"));
    }

    void testV1SrsAcceptedExactBytes() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        std::string a = roundTrip(c, v1Packet(v1Req(g, "SRS", apiOne("echo", kParams))));
        CPPUNIT_ASSERT_EQUAL(v1Answer(100001, kAccepted, kEmpty, g), a);
    }

    void testV1SrmAcceptedExactBytes() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        std::string api = A({{S("a"), call("echo", kParams)}, {S("b"), call("echo", kEmpty)}});
        std::string a = roundTrip(c, v1Packet(v1Req(g, "SRM", api)));
        CPPUNIT_ASSERT_EQUAL(v1Answer(100001, kAccepted, kEmpty, g), a);
        // Every call of an SRM must be able to run async, or nothing is stored.
        g = newGuid();
        api = A({{S("a"), call("echo", kParams)}, {S("b"), call("slow_echo", kEmpty)}});
        Value r = dora::sdk::unserialize(roundTrip(c, v1Packet(v1Req(g, "SRM", api))));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(100207), at(r, {"code"}).asInt());
    }

    void testV1ScGetStat() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        std::string cmd = A({{S("cmd"), call("getStat", kEmpty)}});
        Value r = dora::sdk::unserialize(roundTrip(c, v1Packet(v1Req(g, "SC", cmd))));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), at(r, {"code"}).asInt());
        CPPUNIT_ASSERT_EQUAL(g, at(r, {"guid"}).asString());
        const Value& s = at(r, {"data", "server"});
        CPPUNIT_ASSERT(s.isArray());
        for (const char* k : {"version", "uptime_sec", "connection_num", "request_count",
                              "tasking_num", "modes", "routes", "queue", "plugins"})
            CPPUNIT_ASSERT_MESSAGE(k, s.find(k));
        CPPUNIT_ASSERT(at(s, {"connection_num"}).asInt() >= 1);
        CPPUNIT_ASSERT_EQUAL(std::string("1.0.0"), at(s, {"plugins", "slow"}).asString());
        CPPUNIT_ASSERT(at(s, {"queue"}).find("dead_letters"));
    }

    void testV1ScUnknownCommandExactBytes() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        std::string cmd = A({{S("cmd"), call("selfDestruct", kEmpty)}});
        CPPUNIT_ASSERT_EQUAL(v1Answer(100011, "unknow cmd", kEmpty, g),
                             roundTrip(c, v1Packet(v1Req(g, "SC", cmd))));
    }

    void testV1UnknownTypeExactBytes() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        CPPUNIT_ASSERT_EQUAL(v1Answer(100002, "unknow task type.未知类型任务", kEmpty, g),
                             roundTrip(c, v1Packet(v1Req(g, "SXS", apiOne("echo", kEmpty)))));
    }

    void testV1ApiMissingExactBytes() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        std::string body = A({{S("guid"), S(g)}, {S("type"), S("SSS")}});
        CPPUNIT_ASSERT_EQUAL(v1Answer(100003, "param api is empty", kEmpty, g),
                             roundTrip(c, v1Packet(body)));
        // The connection stays usable.
        CPPUNIT_ASSERT_EQUAL(v1Answer(0, "OK", kParams, g),
                             roundTrip(c, v1Packet(v1Req(g, "SSS", apiOne("echo", kParams)))));
    }

    void testV1SignedSssExactBytes() {
        WireClient c(host("signed").port());
        std::string g = newGuid();
        std::string a = roundTrip(c, v1Packet(v1Req(g, "SSS", apiOne("echo", kParams)), true));
        std::string body = v1Answer(0, "OK", kParams, g);
        // The answer is signed as the client checks it: crc32(body . salt).
        CPPUNIT_ASSERT_EQUAL(packN(crc32(body + kSalt)) + body, a);
    }

    void testV1WrongSignatureNeverReachesHandler() {
        WireClient c(host("signed").port());
        std::string g = newGuid();
        std::string mallory = uniqueName("mallory");
        std::string body = v1Req(
            g, "SSS", apiOne("add_user", A({{S("name"), S(mallory)}, {S("department"), S("x")}})));
        std::string frame = v1Packet(body, true);
        frame[5] = static_cast<char>(frame[5] ^ 0x40); // corrupt the signature
        std::string expect = v1Answer(100010, "Signed check error!", kEmpty, "");
        CPPUNIT_ASSERT_EQUAL(packN(crc32(expect + kSalt)) + expect, roundTrip(c, frame));
        // A tampered body with the old signature: refused too.
        std::string tampered = v1Packet(body, true);
        tampered[tampered.size() - 10] = 'Z';
        CPPUNIT_ASSERT_EQUAL(packN(crc32(expect + kSalt)) + expect, roundTrip(c, tampered));
        // The connection stays open and a correctly signed call works.
        std::string a = roundTrip(c, v1Packet(v1Req(g, "SSS", apiOne("echo", kParams)), true));
        std::string ok = v1Answer(0, "OK", kParams, g);
        CPPUNIT_ASSERT_EQUAL(packN(crc32(ok + kSalt)) + ok, a);
        // A signed write answered after the refusals is the barrier: a
        // refused frame that had reached a handler would have run before it.
        std::string carol = uniqueName("carol");
        Value w = dora::sdk::unserialize(roundTrip(
            c, v1Packet(v1Req(g, "SSS",
                              apiOne("add_user", A({{S("name"), S(carol)}, {S("department"), S("x")}}))),
                        true))
                   .substr(4));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), at(w, {"code"}).asInt());
        Db db;
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1),
                             db.scalar("SELECT COUNT(*) FROM users WHERE name = '" + carol + "'"));
        CPPUNIT_ASSERT_EQUAL(
            std::int64_t(0), db.scalar("SELECT COUNT(*) FROM users WHERE name = '" + mallory + "'"));
    }

    void testV1UnsignedFrameToSignedHostRefused() {
        WireClient c(host("signed").port());
        std::string g = newGuid();
        std::string eve = uniqueName("eve");
        std::string a = roundTrip(
            c, v1Packet(
                   v1Req(g, "SSS",
                         apiOne("add_user", A({{S("name"), S(eve)}, {S("department"), S("x")}})))));
        // Its first 4 body bytes ("a:3:") are taken for the signature: refused
        // (in whichever codec the rest looks like), never run.
        CPPUNIT_ASSERT(a.find("100010") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0),
                             Db().scalar("SELECT COUNT(*) FROM users WHERE name = '" + eve + "'"));
    }

    void testV1OnGzipHostStaysPlain() {
        // protocol.gzip is a v2 feature: v1 answers are never compressed.
        WireClient c(host("gzip").port());
        std::string g = newGuid();
        CPPUNIT_ASSERT_EQUAL(v1Answer(0, "OK", kParams, g),
                             roundTrip(c, v1Packet(v1Req(g, "SSS", apiOne("echo", kParams)))));
    }

    void testV1TooManyCallsExactBytes() {
        WireClient c(host("limits").port());
        std::string g = newGuid();
        std::string api = A({{I(0), call("echo", kEmpty)},
                             {I(1), call("echo", kEmpty)},
                             {I(2), call("echo", kEmpty)},
                             {I(3), call("echo", kEmpty)}});
        CPPUNIT_ASSERT_EQUAL(
            v1Answer(100205, "too many calls in one request: 4 (limit 3)", kEmpty, g),
            roundTrip(c, v1Packet(v1Req(g, "SSM", api))));
        // Three are fine.
        api = A({{I(0), call("echo", kEmpty)},
                 {I(1), call("echo", kEmpty)},
                 {I(2), call("echo", kEmpty)}});
        CPPUNIT_ASSERT_EQUAL(
            v1Answer(0, "OK", A({{I(0), kEmpty}, {I(1), kEmpty}, {I(2), kEmpty}}), g),
            roundTrip(c, v1Packet(v1Req(g, "SSM", api))));
    }

    void testV1OversizedFrameExactBytesAndClose() {
        WireClient c(host("limits").port());
        // Only the length is sent: the host refuses without waiting for the body.
        c.sendRaw(packN(4097));
        CPPUNIT_ASSERT_EQUAL(
            v1Answer(100007, "packet length invalid 包长度非法: frame larger than 4096 bytes",
                     kEmpty, ""),
            c.readFrame());
        CPPUNIT_ASSERT(c.closedByPeer(3000));
    }

    void testV1IdleConnectionClosed() {
        HostProcess& h = host("idle");
        WireClient idle(h.port());
        WireClient busy(h.port());
        std::string g = newGuid();
        CPPUNIT_ASSERT_EQUAL(v1Answer(0, "OK", kParams, g),
                             roundTrip(idle, v1Packet(v1Req(g, "SSS", apiOne("echo", kParams)))));
        // `busy` talks without pause until the host closes `idle`
        // (idle_timeout_sec 1), and must stay open all along.
        bool closed = waitUntil([&] {
            CPPUNIT_ASSERT_EQUAL(
                v1Answer(0, "OK", kParams, g),
                roundTrip(busy, v1Packet(v1Req(g, "SSS", apiOne("echo", kParams)))));
            return idle.closedByPeer(0);
        });
        CPPUNIT_ASSERT_MESSAGE("the idle connection was never closed", closed);
        CPPUNIT_ASSERT_EQUAL(v1Answer(0, "OK", kParams, g),
                             roundTrip(busy, v1Packet(v1Req(g, "SSS", apiOne("echo", kParams)))));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(WireV1Test);
