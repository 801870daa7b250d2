// control.token on the real host: control commands without the token are
// refused with 100214 on v1, v2 and JSON frames and on HTTP /server/cmd,
// and served with it (param `token`, or a bearer header over HTTP);
// GET /metrics needs the bearer; a refused reloadTask reloads nothing.
#include "common/TestSupport.h"

#include <dora/sdk/serialize.h>
#include <dora/sdk/value.h>
#include <dora/wire/Json.h>

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <memory>

using dora::sdk::Value;
using namespace dora::test;
using Poco::Net::HTTPRequest;
using Poco::Net::HTTPResponse;

namespace {

constexpr std::int64_t kUnauthorized = 100214;
const std::string kToken = "t0ken-for_tests";

HostProcess& host() {
    static std::unique_ptr<HostProcess> h;
    if (!h || !h->running()) {
        HostProcess::Options o;
        o.httpPort = freePort();
        o.extraYaml = "control:\n  token: " + kToken + "\n";
        h = std::make_unique<HostProcess>(o);
    }
    return *h;
}

/// api => ["cmd" => ["name" => name, "param" => [token => ...]]] (no token
/// key when token is null).
Value command(const std::string& name, const char* token) {
    Value param = Value::array();
    if (token) param.set("token", std::string(token));
    Value cmd = Value::array();
    cmd.set("name", name);
    cmd.set("param", param);
    Value api = Value::array();
    api.set("cmd", cmd);
    return api;
}

std::string lengthPrefixed(const std::string& payload) {
    std::string framed = v1Frame(payload); // the length prefix is the same for every generation
    return framed;
}

std::int64_t v1Code(const std::string& name, const char* token) {
    WireClient c(host().port());
    return callV1(c, "SC", command(name, token), newGuid()).find("code")->asInt();
}

std::int64_t v2Code(const std::string& name, const char* token) {
    WireClient c(host().port());
    std::string guid = newGuid();
    Value body = Value::array();
    body.set("guid", guid);
    body.set("type", "SC");
    body.set("api", command(name, token));
    c.sendRaw(lengthPrefixed(guid + dora::sdk::serialize(body)));
    std::string answer = c.readFrame();
    CPPUNIT_ASSERT_EQUAL(guid, answer.substr(0, 32));
    return dora::sdk::unserialize(answer.substr(32)).find("code")->asInt();
}

std::int64_t jsonCode(const std::string& name, const char* token) {
    WireClient c(host().port());
    Value body = Value::array();
    body.set("guid", newGuid());
    body.set("type", "SC");
    body.set("api", command(name, token));
    c.sendRaw(lengthPrefixed(dora::wire::toJson(body)));
    return dora::wire::fromJson(c.readFrame()).find("code")->asInt();
}

struct HttpReply {
    int status = 0;
    std::string body;
    std::string authenticate;
};

HttpReply http(const std::string& method, const std::string& uri, const std::string& body,
               const std::string& authorization) {
    Poco::Net::HTTPClientSession s("127.0.0.1", host().httpPort());
    s.setTimeout(Poco::Timespan(10, 0));
    HTTPRequest req(method, uri, HTTPRequest::HTTP_1_1);
    if (!authorization.empty()) req.set("Authorization", authorization);
    if (!body.empty()) {
        req.setContentType("application/json");
        req.setContentLength(static_cast<std::streamsize>(body.size()));
    }
    s.sendRequest(req) << body;
    HTTPResponse resp;
    std::istream& in = s.receiveResponse(resp);
    HttpReply r;
    r.status = static_cast<int>(resp.getStatus());
    r.authenticate = resp.get("WWW-Authenticate", "");
    Poco::StreamCopier::copyToString(in, r.body);
    return r;
}

std::int64_t httpCode(const std::string& name, const char* paramToken, const std::string& authorization) {
    Value body = Value::array();
    body.set("guid", newGuid());
    body.set("api", command(name, paramToken));
    HttpReply r = http("POST", "/server/cmd", dora::wire::toJson(body), authorization);
    CPPUNIT_ASSERT_EQUAL(200, r.status);
    return dora::wire::fromJson(r.body).find("code")->asInt();
}

std::int64_t reloads() {
    WireClient c(host().port());
    Value a = callV1(c, "SC", command("getStat", kToken.c_str()), newGuid());
    return a.find("data")->find("server")->find("reloads")->asInt();
}

} // namespace

class ControlTokenTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ControlTokenTest);
    CPPUNIT_TEST(testDoraFramesNeedTheToken);
    CPPUNIT_TEST(testHttpNeedsTheToken);
    CPPUNIT_TEST(testRefusedReloadReloadsNothing);
    CPPUNIT_TEST_SUITE_END();

public:
    void testDoraFramesNeedTheToken() {
        const std::string wrong = kToken + "x";
        for (const char* cmd : {"getStat", "reloadTask"}) {
            CPPUNIT_ASSERT_EQUAL(kUnauthorized, v1Code(cmd, nullptr));
            CPPUNIT_ASSERT_EQUAL(kUnauthorized, v1Code(cmd, wrong.c_str()));
            CPPUNIT_ASSERT_EQUAL(kUnauthorized, v1Code(cmd, kToken.substr(1).c_str()));
            CPPUNIT_ASSERT_EQUAL(kUnauthorized, v2Code(cmd, nullptr));
            CPPUNIT_ASSERT_EQUAL(kUnauthorized, jsonCode(cmd, ""));
            CPPUNIT_ASSERT_EQUAL(std::int64_t(0), v1Code(cmd, kToken.c_str()));
            CPPUNIT_ASSERT_EQUAL(std::int64_t(0), v2Code(cmd, kToken.c_str()));
            CPPUNIT_ASSERT_EQUAL(std::int64_t(0), jsonCode(cmd, kToken.c_str()));
        }
        // The refusal says what is missing.
        WireClient c(host().port());
        Value a = callV1(c, "SC", command("getStat", nullptr), newGuid());
        std::string msg = a.find("msg")->asString();
        CPPUNIT_ASSERT_MESSAGE(msg, msg.find("control.token") != std::string::npos);
        CPPUNIT_ASSERT(a.find("data")->find("server") == nullptr);
        // Calls are not control commands: they need no token.
        Value param = Value::array();
        param.set("say", "hi");
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), callV1(c, "SSS", oneCall("echo", param), newGuid()).find("code")->asInt());
    }

    void testHttpNeedsTheToken() {
        CPPUNIT_ASSERT_EQUAL(kUnauthorized, httpCode("getStat", nullptr, ""));
        CPPUNIT_ASSERT_EQUAL(kUnauthorized, httpCode("getStat", nullptr, "Bearer " + kToken + "x"));
        CPPUNIT_ASSERT_EQUAL(kUnauthorized, httpCode("getStat", nullptr, "Basic " + kToken));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), httpCode("getStat", nullptr, "Bearer " + kToken));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), httpCode("getStat", kToken.c_str(), ""));

        HttpReply m = http("GET", "/metrics", "", "");
        CPPUNIT_ASSERT_EQUAL(401, m.status);
        CPPUNIT_ASSERT_EQUAL(std::string("Bearer realm=\"dorahost\""), m.authenticate);
        CPPUNIT_ASSERT_EQUAL(kUnauthorized, dora::wire::fromJson(m.body).find("code")->asInt());
        CPPUNIT_ASSERT_EQUAL(401, http("GET", "/metrics", "", "Bearer nope").status);
        HttpReply ok = http("GET", "/metrics", "", "Bearer " + kToken);
        CPPUNIT_ASSERT_EQUAL(200, ok.status);
        CPPUNIT_ASSERT(ok.body.find("dorahost_build_info{") != std::string::npos);
    }

    void testRefusedReloadReloadsNothing() {
        std::int64_t before = reloads();
        CPPUNIT_ASSERT_EQUAL(kUnauthorized, v1Code("reloadTask", nullptr));
        CPPUNIT_ASSERT_EQUAL(kUnauthorized, httpCode("reloadTask", nullptr, ""));
        CPPUNIT_ASSERT_EQUAL(before, reloads());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), v1Code("reloadTask", kToken.c_str()));
        CPPUNIT_ASSERT_EQUAL(before + 1, reloads());
        // Logged, with the peer.
        std::string log = host().log();
        CPPUNIT_ASSERT_MESSAGE(log, log.find("api=reloadTask code=100214 peer=127.0.0.1:") != std::string::npos);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ControlTokenTest);
