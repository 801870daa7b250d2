// The v2 generation (DoraRPC 2.x clients: 32-byte guid header, W_*/AN_*/
// AM_* modes, optional signature and gzip, pipelining) against the real
// host, byte for byte.
#include "protocol_v2/PhpWire.h"

#include <dora/sdk/serialize.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <thread>

using namespace dora::test;
using namespace dora::test::php;
using dora::sdk::Value;

namespace {

const std::string kParams = A({{S("name"), S("bob")},
                               {S("n"), I(9007199254740993)},
                               {S("f"), "d:-0.5;"},
                               {S("inf"), "d:INF;"},
                               {S("b"), "b:0;"},
                               {S("z"), "N;"},
                               {S("nested"), A({{I(0), A({{S("deep"), S("ü")}})}})}});

std::string roundTrip(WireClient& c, const std::string& frame) {
    c.sendRaw(frame);
    return c.readFrame();
}

/// guid header + body, the payload of an unsigned, uncompressed v2 answer.
std::string v2Payload(const std::string& guid, const std::string& body) { return guid + body; }

/// [guid, 0, OK, [guid, 0, OK, result]] — a W_S answer.
std::string wsAnswer(const std::string& g, const std::string& result, bool isResult = false) {
    return v2Answer(g, 0, "OK", v2Answer(g, 0, "OK", result), isResult);
}

/// slow_echo params that hold the call until `gate` is opened.
std::string gatedParams(const Gate& gate, int i) {
    return A({{S("until_file"), S(gate.path())}, {S("i"), I(i)}});
}

} // namespace

class WireV2Test : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(WireV2Test);
    CPPUNIT_TEST(testV2WsEchoExactBytes);
    CPPUNIT_TEST(testV2WsHandlerErrorExactBytes);
    CPPUNIT_TEST(testV2WsNoSuchRouteExactBytes);
    CPPUNIT_TEST(testV2WmExactBytes);
    CPPUNIT_TEST(testV2WmWritesMysql);
    CPPUNIT_TEST(testV2SyncWritesAfterAsyncBatchesAreCommitted);
    CPPUNIT_TEST(testV2AnsAcceptedExactBytes);
    CPPUNIT_TEST(testV2AnmAcceptedExactBytes);
    CPPUNIT_TEST(testV2AmsAcceptedThenPushedResult);
    CPPUNIT_TEST(testV2AmmAcceptedThenPushedResult);
    CPPUNIT_TEST(testV2ScGetStat);
    CPPUNIT_TEST(testV2ScUnknownCommandExactBytes);
    CPPUNIT_TEST(testV2UnknownTypeExactBytes);
    CPPUNIT_TEST(testV2V1TypeNamesAnsweredInV2Shape);
    CPPUNIT_TEST(testV2SignedWsExactBytes);
    CPPUNIT_TEST(testV2SignedAmmBothFramesSigned);
    CPPUNIT_TEST(testV2WrongSignatureNeverReachesHandler);
    CPPUNIT_TEST(testV2GzipRequestToPlainHost);
    CPPUNIT_TEST(testV2GzipHostAnswersGzipped);
    CPPUNIT_TEST(testV2SignedGzipExactBytes);
    CPPUNIT_TEST(testV2CorruptGzipRefusedConnectionKept);
    CPPUNIT_TEST(testV2Pipelining200SlowOneLast);
    CPPUNIT_TEST(testV2TooManyCallsExactBytes);
    CPPUNIT_TEST(testV2TooManyInflightExactBytes);
    CPPUNIT_TEST(testV2OversizedFrameRefusedAndClosed);
    CPPUNIT_TEST(testV2IdleConnectionClosed);
    CPPUNIT_TEST(testV2WmTranscript);
    CPPUNIT_TEST_SUITE_END();

public:
    void testV2WsEchoExactBytes() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        std::string a = roundTrip(c, v2Packet(g, v2Req(g, "W_S", apiOne("echo", kParams))));
        CPPUNIT_ASSERT_EQUAL(v2Payload(g, wsAnswer(g, kParams)), a);
    }

    void testV2WsHandlerErrorExactBytes() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        std::string nobody = uniqueName("nobody");
        std::string a = roundTrip(
            c, v2Packet(g, v2Req(g, "W_S", apiOne("get_user", A({{S("name"), S(nobody)}})))));
        // Two levels: transport OK outside, the handler's error inside.
        CPPUNIT_ASSERT_EQUAL(
            v2Payload(g, v2Answer(g, 0, "OK",
                                  v2Answer(g, 100211, "user '" + nobody + "' not found", kEmpty))),
            a);
    }

    void testV2WsNoSuchRouteExactBytes() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        CPPUNIT_ASSERT_EQUAL(v2Payload(g, v2Answer(g, 100200, "no such route: 'nope'", kEmpty)),
                             roundTrip(c, v2Packet(g, v2Req(g, "W_S", apiOne("nope", kEmpty)))));
    }

    void testV2WmExactBytes() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        std::string p2 = A({{I(0), S("x")}, {I(1), S("y")}});
        std::string zed = uniqueName("zed");
        std::string api = A({{S("a"), call("echo", kParams)},
                             {S("b"), call("echo", p2)},
                             {S("c"), call("nope", kEmpty)},
                             {S("d"), call("get_user", A({{S("name"), S(zed)}}))}});
        std::string a = roundTrip(c, v2Packet(g, v2Req(g, "W_M", api)));
        std::string data =
            A({{S("a"), v2Answer(g, 0, "OK", kParams)},
               {S("b"), v2Answer(g, 0, "OK", p2)},
               {S("c"), v2Answer(g, 100200, "no such route: 'nope'", kEmpty)},
               {S("d"), v2Answer(g, 100211, "user '" + zed + "' not found", kEmpty)}});
        CPPUNIT_ASSERT_EQUAL(v2Payload(g, v2Answer(g, 0, "OK", data)), a);
    }

    void testV2WmWritesMysql() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        std::string prefix = uniqueName("v2u");
        std::vector<std::pair<std::string, std::string>> calls;
        for (int i = 0; i < 4; ++i)
            calls.emplace_back(S("k" + std::to_string(i)),
                               call("insert_user", A({{S("name"), S(prefix + std::to_string(i))},
                                                      {S("department"), S("ops")}})));
        std::string a = roundTrip(c, v2Packet(g, v2Req(g, "W_M", A(calls))));
        CPPUNIT_ASSERT_EQUAL(g, a.substr(0, 32));
        Value r = dora::sdk::unserialize(a.substr(32));
        CPPUNIT_ASSERT_EQUAL(g, at(r, {"guid"}).asString());
        for (int i = 0; i < 4; ++i) {
            const Value& inner = at(r, {"data", "k" + std::to_string(i)});
            CPPUNIT_ASSERT_EQUAL(std::int64_t(0), at(inner, {"code"}).asInt());
            CPPUNIT_ASSERT_EQUAL(g, at(inner, {"guid"}).asString());
            CPPUNIT_ASSERT_EQUAL(prefix + std::to_string(i),
                                 at(inner, {"data", "name"}).asString());
        }
        // Committed: another session sees all four.
        CPPUNIT_ASSERT_EQUAL(
            std::int64_t(4),
            Db().scalar("SELECT COUNT(*) FROM users WHERE name LIKE '" + prefix + "%'"));
    }

    void testV2SyncWritesAfterAsyncBatchesAreCommitted() {
        // The queue runs its batches in transactions on the workers' MySQL
        // sessions; a sync call on the same session afterwards must still
        // be committed on its own.
        HostProcess& h = host("plain");
        WireClient c(h.port());
        auto applied = [&] {
            std::string g = newGuid();
            std::string a =
                roundTrip(c, v2Packet(g, v2Req(g, "SC", A({{S("cmd"), call("getStat", kEmpty)}}))));
            return at(dora::sdk::unserialize(a.substr(32)), {"data", "server", "queue", "applied"})
                .asInt();
        };
        std::int64_t before = applied();
        for (int i = 0; i < 8; ++i) {
            std::string g = newGuid();
            CPPUNIT_ASSERT_EQUAL(v2Payload(g, v2Answer(g, 100001, kAccepted, kEmpty)),
                                 roundTrip(c, v2Packet(g, v2Req(g, "AN_S", apiOne("echo", I(i))))));
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        CPPUNIT_ASSERT(waitUntil([&] { return applied() >= before + 8; }));
        std::string prefix = uniqueName("after_async");
        std::vector<std::pair<std::string, std::string>> calls;
        for (int i = 0; i < 8; ++i)
            calls.emplace_back(I(i), call("add_user", A({{S("name"), S(prefix + std::to_string(i))},
                                                         {S("department"), S("q")}})));
        std::string g = newGuid();
        Value r =
            dora::sdk::unserialize(roundTrip(c, v2Packet(g, v2Req(g, "W_M", A(calls)))).substr(32));
        for (int i = 0; i < 8; ++i)
            CPPUNIT_ASSERT_EQUAL(std::int64_t(0), at(r, {"data", i, "code"}).asInt());
        CPPUNIT_ASSERT_EQUAL(
            std::int64_t(8),
            Db().scalar("SELECT COUNT(*) FROM users WHERE name LIKE '" + prefix + "%'"));
    }

    void testV2AnsAcceptedExactBytes() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        CPPUNIT_ASSERT_EQUAL(v2Payload(g, v2Answer(g, 100001, kAccepted, kEmpty)),
                             roundTrip(c, v2Packet(g, v2Req(g, "AN_S", apiOne("echo", kParams)))));
    }

    void testV2AnmAcceptedExactBytes() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        std::string api = A({{S("a"), call("echo", kParams)}, {S("b"), call("version", kEmpty)}});
        CPPUNIT_ASSERT_EQUAL(v2Payload(g, v2Answer(g, 100001, kAccepted, kEmpty)),
                             roundTrip(c, v2Packet(g, v2Req(g, "AN_M", api))));
        // A call that cannot run async: nothing is stored, the request is refused.
        g = newGuid();
        api = A({{S("a"), call("echo", kParams)}, {S("b"), call("nope", kEmpty)}});
        std::string a = roundTrip(c, v2Packet(g, v2Req(g, "AN_M", api)));
        Value r = dora::sdk::unserialize(a.substr(32));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(100200), at(r, {"code"}).asInt());
    }

    void testV2AmsAcceptedThenPushedResult() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        c.sendRaw(v2Packet(g, v2Req(g, "AM_S", apiOne("echo", kParams))));
        CPPUNIT_ASSERT_EQUAL(v2Payload(g, v2Answer(g, 100001, kAccepted, kEmpty)), c.readFrame());
        CPPUNIT_ASSERT_EQUAL(v2Payload(g, wsAnswer(g, kParams, true)), c.readFrame());
    }

    void testV2AmmAcceptedThenPushedResult() {
        HostProcess& h = host("plain");
        WireClient c(h.port());
        Gate gate(h.dir());
        std::string g = newGuid();
        std::string slow = gatedParams(gate, 1);
        std::string api =
            A({{S("slow"), call("slow_echo", slow)}, {S("fast"), call("echo", kParams)}});
        c.sendRaw(v2Packet(g, v2Req(g, "AM_M", api)));
        // "accepted" while the slow call is still held in its handler: at
        // once, not after the calls...
        CPPUNIT_ASSERT_EQUAL(v2Payload(g, v2Answer(g, 100001, kAccepted, kEmpty)), c.readFrame());
        CPPUNIT_ASSERT_MESSAGE("the pushed result came before the slow call could finish",
                               !c.readable());
        gate.open();
        // ...then one pushed frame with every result, isresult => 1.
        std::string data = A(
            {{S("slow"), v2Answer(g, 0, "OK", slow)}, {S("fast"), v2Answer(g, 0, "OK", kParams)}});
        CPPUNIT_ASSERT_EQUAL(v2Payload(g, v2Answer(g, 0, "OK", data, true)), c.readFrame());
    }

    void testV2ScGetStat() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        std::string a =
            roundTrip(c, v2Packet(g, v2Req(g, "SC", A({{S("cmd"), call("getStat", kEmpty)}}))));
        CPPUNIT_ASSERT_EQUAL(g, a.substr(0, 32));
        Value r = dora::sdk::unserialize(a.substr(32));
        // v2 order: guid first.
        CPPUNIT_ASSERT_EQUAL(std::string("guid"), r.asArray().begin()->key.toString());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), at(r, {"code"}).asInt());
        const Value& s = at(r, {"data", "server"});
        CPPUNIT_ASSERT(s.find("request_count") && s.find("modes") && s.find("routes"));
        CPPUNIT_ASSERT(at(s, {"routes"}).find("echo"));
    }

    void testV2ScUnknownCommandExactBytes() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        CPPUNIT_ASSERT_EQUAL(
            v2Payload(g, v2Answer(g, 100011, "unknow cmd", kEmpty)),
            roundTrip(c, v2Packet(g, v2Req(g, "SC", A({{S("cmd"), call("nuke", kEmpty)}})))));
    }

    void testV2UnknownTypeExactBytes() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        CPPUNIT_ASSERT_EQUAL(
            v2Payload(g, v2Answer(g, 100002, "unknow task type.未知类型任务", kEmpty)),
            roundTrip(c, v2Packet(g, v2Req(g, "W_X", apiOne("echo", kEmpty)))));
    }

    void testV2V1TypeNamesAnsweredInV2Shape() {
        // The frame's generation decides the answer's shape, not the type name.
        WireClient c(host("plain").port());
        std::string g = newGuid();
        CPPUNIT_ASSERT_EQUAL(v2Payload(g, wsAnswer(g, kParams)),
                             roundTrip(c, v2Packet(g, v2Req(g, "SSS", apiOne("echo", kParams)))));
    }

    void testV2SignedWsExactBytes() {
        WireClient c(host("signed").port());
        std::string g = newGuid();
        std::string a = roundTrip(c, v2Packet(g, v2Req(g, "W_S", apiOne("echo", kParams)), true));
        std::string body = wsAnswer(g, kParams);
        // sig . guid . body, the CRC over the body only.
        CPPUNIT_ASSERT_EQUAL(packN(crc32(body + kSalt)) + g + body, a);
    }

    void testV2SignedAmmBothFramesSigned() {
        WireClient c(host("signed").port());
        std::string g = newGuid();
        std::string api = A({{S("x"), call("echo", kParams)}});
        c.sendRaw(v2Packet(g, v2Req(g, "AM_M", api), true));
        std::string accepted = v2Answer(g, 100001, kAccepted, kEmpty);
        CPPUNIT_ASSERT_EQUAL(packN(crc32(accepted + kSalt)) + g + accepted, c.readFrame());
        std::string result =
            v2Answer(g, 0, "OK", A({{S("x"), v2Answer(g, 0, "OK", kParams)}}), true);
        CPPUNIT_ASSERT_EQUAL(packN(crc32(result + kSalt)) + g + result, c.readFrame());
    }

    void testV2WrongSignatureNeverReachesHandler() {
        WireClient c(host("signed").port());
        std::string g = newGuid();
        std::string trudy = uniqueName("trudy");
        std::string api =
            A({{S("a"), call("add_user", A({{S("name"), S(trudy)}, {S("department"), S("x")}}))}});
        std::string frame = v2Packet(g, v2Req(g, "W_M", api), true);
        frame[4] = static_cast<char>(frame[4] ^ 1);
        std::string expect = v2Answer(g, 100005, "Signed check error!", kEmpty);
        CPPUNIT_ASSERT_EQUAL(packN(crc32(expect + kSalt)) + g + expect, roundTrip(c, frame));
        // Signed with another salt: refused as well.
        frame = v2Packet(g, v2Req(g, "AM_M", api), true, false, "another salt");
        CPPUNIT_ASSERT_EQUAL(packN(crc32(expect + kSalt)) + g + expect, roundTrip(c, frame));
        // Same connection, right signature: served. Its write, answered after
        // the refusals, is the barrier: a refused frame that had reached a
        // handler anyway would have been dispatched before it.
        std::string ok = uniqueName("ok");
        Value r = dora::sdk::unserialize(
            roundTrip(c, v2Packet(g,
                                  v2Req(g, "W_S",
                                        apiOne("add_user", A({{S("name"), S(ok)},
                                                              {S("department"), S("x")}}))),
                                  true))
                .substr(4 + 32));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), at(r, {"data", "code"}).asInt());
        Db db;
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1),
                             db.scalar("SELECT COUNT(*) FROM users WHERE name = '" + ok + "'"));
        CPPUNIT_ASSERT_EQUAL(
            std::int64_t(0), db.scalar("SELECT COUNT(*) FROM users WHERE name = '" + trudy + "'"));
    }

    void testV2GzipRequestToPlainHost() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        std::string a =
            roundTrip(c, v2Packet(g, v2Req(g, "W_S", apiOne("echo", kParams)), false, true));
        CPPUNIT_ASSERT_EQUAL(v2Payload(g, wsAnswer(g, kParams)), a);
    }

    void testV2GzipHostAnswersGzipped() {
        WireClient c(host("gzip").port());
        std::string g = newGuid();
        std::string body = wsAnswer(g, kParams);
        for (bool gzipRequest : {true, false}) {
            std::string a = roundTrip(
                c, v2Packet(g, v2Req(g, "W_S", apiOne("echo", kParams)), false, gzipRequest));
            CPPUNIT_ASSERT_EQUAL(g, a.substr(0, 32));
            CPPUNIT_ASSERT_EQUAL(std::string("\x1f\x8b"), a.substr(32, 2));
            CPPUNIT_ASSERT_EQUAL(body, gzdecode(a.substr(32)));
            // gzencode($body, 4), byte for byte.
            CPPUNIT_ASSERT_EQUAL(g + gzencode(body, 4), a);
        }
    }

    void testV2SignedGzipExactBytes() {
        WireClient c(host("signed_gzip").port());
        std::string g = newGuid();
        std::string a =
            roundTrip(c, v2Packet(g, v2Req(g, "W_S", apiOne("echo", kParams)), true, true));
        std::string gz = gzencode(wsAnswer(g, kParams), 4);
        // The CRC covers the compressed body, as the client checks it.
        CPPUNIT_ASSERT_EQUAL(packN(crc32(gz + kSalt)) + g + gz, a);
        // A bad signature on a gzip body: 100005, gzipped too.
        std::string frame = v2Packet(g, v2Req(g, "W_S", apiOne("echo", kParams)), true, true);
        frame[6] = static_cast<char>(frame[6] ^ 0x10);
        std::string refused = gzencode(v2Answer(g, 100005, "Signed check error!", kEmpty), 4);
        CPPUNIT_ASSERT_EQUAL(packN(crc32(refused + kSalt)) + g + refused, roundTrip(c, frame));
    }

    void testV2CorruptGzipRefusedConnectionKept() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        std::string gz = gzencode(v2Req(g, "W_S", apiOne("echo", kParams)));
        gz.resize(gz.size() - 6); // truncated stream
        std::string a = roundTrip(c, packN(static_cast<std::uint32_t>(gz.size() + 32)) + g + gz);
        CPPUNIT_ASSERT_EQUAL(g, a.substr(0, 32));
        Value r = dora::sdk::unserialize(a.substr(32));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(100006), at(r, {"code"}).asInt());
        CPPUNIT_ASSERT_EQUAL(v2Payload(g, wsAnswer(g, kParams)),
                             roundTrip(c, v2Packet(g, v2Req(g, "W_S", apiOne("echo", kParams)))));
    }

    void testV2Pipelining200SlowOneLast() {
        HostProcess& h = host("plain");
        WireClient c(h.port());
        Gate gate(h.dir());
        // 200 requests in one write: #0 is held in its handler until the
        // gate opens, the others are fast W_S and W_M calls. Each answer is
        // matched by its guid.
        std::map<std::string, std::string> expected; // guid -> payload
        std::string slowGuid;
        std::string wire;
        for (int i = 0; i < 200; ++i) {
            std::string g = newGuid();
            if (i == 0) {
                slowGuid = g;
                std::string p = gatedParams(gate, 0);
                wire += v2Packet(g, v2Req(g, "W_S", apiOne("slow_echo", p)));
                expected[g] = v2Payload(g, wsAnswer(g, p));
            } else if (i % 2) {
                std::string p = A({{S("i"), I(i)}});
                wire += v2Packet(g, v2Req(g, "W_S", apiOne("echo", p)));
                expected[g] = v2Payload(g, wsAnswer(g, p));
            } else {
                std::string p = A({{S("i"), I(i)}}), q = A({{S("j"), I(-i)}});
                wire += v2Packet(
                    g, v2Req(g, "W_M", A({{S("p"), call("echo", p)}, {S("q"), call("echo", q)}})));
                expected[g] = v2Payload(g, v2Answer(g, 0, "OK",
                                                    A({{S("p"), v2Answer(g, 0, "OK", p)},
                                                       {S("q"), v2Answer(g, 0, "OK", q)}})));
            }
        }
        CPPUNIT_ASSERT_EQUAL(std::size_t(200), expected.size());
        c.sendRaw(wire);
        auto take = [&] {
            std::string a = c.readFrame(30000);
            std::string g = a.substr(0, 32);
            auto it = expected.find(g);
            CPPUNIT_ASSERT_MESSAGE("answer for an unknown or repeated guid " + g,
                                   it != expected.end());
            CPPUNIT_ASSERT_EQUAL(it->second, a);
            expected.erase(it);
            return g;
        };
        // The 199 fast ones are all answered while the first is still held:
        // none waits behind it.
        for (int i = 0; i < 199; ++i)
            CPPUNIT_ASSERT_MESSAGE("the held call was answered before the gate opened",
                                   take() != slowGuid);
        CPPUNIT_ASSERT(!c.readable());
        gate.open();
        CPPUNIT_ASSERT_EQUAL(slowGuid, take());
        CPPUNIT_ASSERT(expected.empty());
    }

    void testV2TooManyCallsExactBytes() {
        WireClient c(host("limits").port());
        std::string g = newGuid();
        std::string api = A({{S("a"), call("echo", kEmpty)},
                             {S("b"), call("echo", kEmpty)},
                             {S("c"), call("echo", kEmpty)},
                             {S("d"), call("echo", kEmpty)}});
        for (const char* type : {"W_M", "AN_M", "AM_M"})
            CPPUNIT_ASSERT_EQUAL(
                v2Payload(
                    g, v2Answer(g, 100205, "too many calls in one request: 4 (limit 3)", kEmpty)),
                roundTrip(c, v2Packet(g, v2Req(g, type, api))));
    }

    void testV2TooManyInflightExactBytes() {
        HostProcess& h = host("limits");
        WireClient c(h.port());
        Gate gate(h.dir());
        std::string g1 = newGuid(), g2 = newGuid(), g3 = newGuid(), g4 = newGuid();
        std::string p = gatedParams(gate, 1); // both held until the refusal was read
        c.sendRaw(v2Packet(g1, v2Req(g1, "W_S", apiOne("slow_echo", p))) +
                  v2Packet(g2, v2Req(g2, "AM_S", apiOne("slow_echo", p))) +
                  v2Packet(g3, v2Req(g3, "W_S", apiOne("slow_echo", p))));
        // max_inflight_per_connection 2: the third is refused at once...
        std::string first = c.readFrame();
        if (first.substr(0, 32) == g2) { // AM_S's "accepted" may come first
            CPPUNIT_ASSERT_EQUAL(v2Payload(g2, v2Answer(g2, 100001, kAccepted, kEmpty)), first);
            first = c.readFrame();
        }
        CPPUNIT_ASSERT_EQUAL(
            v2Payload(g3,
                      v2Answer(g3, 100206,
                               "too many requests in flight on this connection (limit 2)", kEmpty)),
            first);
        gate.open();
        // ...the two in flight are answered...
        std::map<std::string, std::string> rest;
        while (rest.size() < 2) {
            std::string a = c.readFrame();
            if (a.substr(0, 32) == g2 &&
                a == v2Payload(g2, v2Answer(g2, 100001, kAccepted, kEmpty)))
                continue;
            rest[a.substr(0, 32)] = a;
        }
        CPPUNIT_ASSERT_EQUAL(v2Payload(g1, wsAnswer(g1, p)), rest[g1]);
        CPPUNIT_ASSERT_EQUAL(v2Payload(g2, wsAnswer(g2, p, true)), rest[g2]);
        // ...and then there is room again.
        CPPUNIT_ASSERT_EQUAL(v2Payload(g4, wsAnswer(g4, kParams)),
                             roundTrip(c, v2Packet(g4, v2Req(g4, "W_S", apiOne("echo", kParams)))));
    }

    void testV2OversizedFrameRefusedAndClosed() {
        WireClient c(host("limits").port());
        std::string g = newGuid();
        // Length says 5000 (> max_frame_bytes 4096); only the guid follows.
        c.sendRaw(packN(5000) + g);
        CPPUNIT_ASSERT_EQUAL(
            v1Answer(100007, "packet length invalid 包长度非法: frame larger than 4096 bytes",
                     kEmpty, ""),
            c.readFrame());
        CPPUNIT_ASSERT(c.closedByPeer(3000));
        // A frame just under the limit is served.
        WireClient d(host("limits").port());
        std::string big = A({{S("blob"), S(std::string(3700, 'x'))}});
        std::string frame = v2Packet(g, v2Req(g, "W_S", apiOne("echo", big)));
        CPPUNIT_ASSERT(frame.size() - 4 <= 4096);
        CPPUNIT_ASSERT_EQUAL(v2Payload(g, wsAnswer(g, big)).size(), roundTrip(d, frame).size());
    }

    void testV2IdleConnectionClosed() {
        HostProcess& h = host("idle");
        WireClient idle(h.port());
        std::string g = newGuid();
        CPPUNIT_ASSERT_EQUAL(
            v2Payload(g, wsAnswer(g, kParams)),
            roundTrip(idle, v2Packet(g, v2Req(g, "W_S", apiOne("echo", kParams)))));
        // A connection waiting for a slow call is not idle: it stays open,
        // silent, for longer than idle_timeout_sec while its call is held.
        WireClient waiting(h.port());
        Gate gate(h.dir());
        std::string p = gatedParams(gate, 2);
        waiting.sendRaw(v2Packet(g, v2Req(g, "W_S", apiOne("slow_echo", p))));
        // idle_timeout_sec 1: the idle one is closed (however slowly the box runs)...
        CPPUNIT_ASSERT(idle.closedByPeer(30000));
        // ...and so is one opened after the slow call was sent: `waiting` has
        // now been silent at least as long as a connection that was closed.
        WireClient later(h.port());
        CPPUNIT_ASSERT(later.closedByPeer(30000));
        CPPUNIT_ASSERT_MESSAGE("the connection waiting for its call was closed or answered early",
                               !waiting.readable());
        gate.open();
        CPPUNIT_ASSERT_EQUAL(v2Payload(g, wsAnswer(g, p)), waiting.readFrame());
    }

    void testV2WmTranscript() {
        // A transcript of one v2 W_M call, as a PHP client sends it.
        WireClient c(host("plain").port());
        std::string g = "6f1ed002ab5595859014ebf0951522d9"; // md5("hello")
        std::string ann = uniqueName("ann");
        std::string api =
            A({{S("user"),
                call("insert_user", A({{S("name"), S(ann)}, {S("department"), S("eng")}}))},
               {S("echo"), call("echo", A({{S("say"), S("hi")}, {S("n"), I(1)}}))}});
        std::string req = v2Packet(g, v2Req(g, "W_M", api));
        std::string ans = framed(roundTrip(c, req));
        auto show = [](const std::string& frame) {
            // pack('N') as hex, then the guid header and body as text.
            std::string hex;
            for (int i = 0; i < 4; ++i) {
                char b[4];
                std::snprintf(b, sizeof b, "%02x ", static_cast<unsigned char>(frame[i]));
                hex += b;
            }
            std::uint32_t len = (std::uint32_t(static_cast<unsigned char>(frame[0])) << 24) |
                                (std::uint32_t(static_cast<unsigned char>(frame[1])) << 16) |
                                (std::uint32_t(static_cast<unsigned char>(frame[2])) << 8) |
                                static_cast<unsigned char>(frame[3]);
            return "length " + hex + "(" + std::to_string(len) + ")\nguid   " +
                   frame.substr(4, 32) + "\nbody   " + printable(frame.substr(36));
        };
        std::cout << "\n--- v2 W_M request (" << req.size() << " bytes) ---\n"
                  << show(req) << "\n--- answer (" << ans.size() << " bytes) ---\n"
                  << show(ans) << "\n---" << std::endl;
        Value a = dora::sdk::unserialize(ans.substr(4 + 32));
        CPPUNIT_ASSERT_EQUAL(ann, at(a, {"data", "user", "data", "name"}).asString());
        CPPUNIT_ASSERT_EQUAL(std::string("hi"), at(a, {"data", "echo", "data", "say"}).asString());
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(WireV2Test);
