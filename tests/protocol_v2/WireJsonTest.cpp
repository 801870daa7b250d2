// JSON-body frames (our extension for clients without PHP serialize): the
// same framing, a JSON body, answered in JSON with the v1 field order.
#include "protocol_v2/PhpWire.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

using namespace dora::test;
using namespace dora::test::php;

namespace {

std::string jsonRequest(const std::string& guid, const std::string& type, const std::string& api) {
    return "{\"guid\":\"" + guid + "\",\"type\":\"" + type + "\",\"api\":" + api + "}";
}

std::string one(const std::string& name, const std::string& param) {
    return "{\"one\":{\"name\":\"" + name + "\",\"param\":" + param + "}}";
}

const std::string kParam =
    R"({"name":"carol","n":-7,"f":0.25,"ok":true,"none":null,"list":[1,"二",[]],"map":{"7":"seven"}})";

std::string roundTrip(WireClient& c, const std::string& body, bool sign = false) {
    c.sendRaw(v1Packet(body, sign));
    return c.readFrame();
}

} // namespace

class WireJsonTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(WireJsonTest);
    CPPUNIT_TEST(testJsonSssExactBytes);
    CPPUNIT_TEST(testJsonWmExactBytes);
    CPPUNIT_TEST(testJsonAnsAcceptedExactBytes);
    CPPUNIT_TEST(testJsonAmsAcceptedThenPushedResult);
    CPPUNIT_TEST(testJsonScGetStat);
    CPPUNIT_TEST(testJsonSignedExactBytes);
    CPPUNIT_TEST(testJsonBadBodyRefusedConnectionKept);
    CPPUNIT_TEST_SUITE_END();

public:
    void testJsonSssExactBytes() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        CPPUNIT_ASSERT_EQUAL("{\"code\":0,\"msg\":\"OK\",\"data\":" + kParam + ",\"guid\":\"" + g +
                                 "\"}",
                             roundTrip(c, jsonRequest(g, "SSS", one("echo", kParam))));
    }

    void testJsonWmExactBytes() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        std::string api = R"({"a":{"name":"echo","param":)" + kParam + R"(},"b":{"name":"nope"}})";
        CPPUNIT_ASSERT_EQUAL(
            "{\"code\":0,\"msg\":\"OK\",\"data\":{\"a\":" + kParam +
                R"(,"b":{"code":100200,"msg":"no such route: 'nope'","data":[]}},"guid":")" + g +
                "\"}",
            roundTrip(c, jsonRequest(g, "W_M", api)));
    }

    void testJsonAnsAcceptedExactBytes() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        CPPUNIT_ASSERT_EQUAL("{\"code\":100001,\"msg\":\"" + kAccepted +
                                 "\",\"data\":[],\"guid\":\"" + g + "\"}",
                             roundTrip(c, jsonRequest(g, "AN_S", one("echo", kParam))));
    }

    void testJsonAmsAcceptedThenPushedResult() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        CPPUNIT_ASSERT_EQUAL("{\"code\":100001,\"msg\":\"" + kAccepted +
                                 "\",\"data\":[],\"guid\":\"" + g + "\"}",
                             roundTrip(c, jsonRequest(g, "AM_S", one("echo", kParam))));
        CPPUNIT_ASSERT_EQUAL("{\"code\":0,\"msg\":\"OK\",\"data\":" + kParam + ",\"guid\":\"" + g +
                                 "\",\"isresult\":1}",
                             c.readFrame());
    }

    void testJsonScGetStat() {
        WireClient c(host("plain").port());
        std::string g = newGuid();
        std::string a = roundTrip(c, jsonRequest(g, "SC", R"({"cmd":{"name":"getStat"}})"));
        std::string head = R"({"code":0,"msg":"OK","data":{"server":{)";
        std::string tail = ",\"guid\":\"" + g + "\"}";
        CPPUNIT_ASSERT_EQUAL(head, a.substr(0, head.size()));
        CPPUNIT_ASSERT(a.find("\"uptime_sec\":") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(tail, a.substr(a.size() - tail.size()));
    }

    void testJsonSignedExactBytes() {
        WireClient c(host("signed").port());
        std::string g = newGuid();
        std::string body =
            "{\"code\":0,\"msg\":\"OK\",\"data\":" + kParam + ",\"guid\":\"" + g + "\"}";
        CPPUNIT_ASSERT_EQUAL(packN(crc32(body + kSalt)) + body,
                             roundTrip(c, jsonRequest(g, "SSS", one("echo", kParam)), true));
        std::string bad = v1Packet(jsonRequest(g, "SSS", one("echo", kParam)), true);
        bad[4] = static_cast<char>(bad[4] ^ 0x80);
        c.sendRaw(bad);
        std::string refused = R"({"code":100010,"msg":"Signed check error!","data":[],"guid":""})";
        CPPUNIT_ASSERT_EQUAL(packN(crc32(refused + kSalt)) + refused, c.readFrame());
    }

    void testJsonBadBodyRefusedConnectionKept() {
        WireClient c(host("plain").port());
        std::string a = roundTrip(c, "{\"guid\":\"x\",\"type\":\"SSS\",");
        CPPUNIT_ASSERT_EQUAL(std::string("{\"code\":100006,"), a.substr(0, 15));
        std::string g = newGuid();
        CPPUNIT_ASSERT_EQUAL("{\"code\":0,\"msg\":\"OK\",\"data\":" + kParam + ",\"guid\":\"" + g +
                                 "\"}",
                             roundTrip(c, jsonRequest(g, "SSS", one("echo", kParam))));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(WireJsonTest);
