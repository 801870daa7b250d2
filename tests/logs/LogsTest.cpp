// The host's log, read from the real binary: with log_format json every
// line is one JSON object; a refused request, a failed call and a refused
// control command each give one event line with guid, api, code and peer
// (the client's own address:port); a successful call gives none; a flood
// of bad requests is cut at server.log_events_per_sec with a "suppressed"
// line.
#include "common/TestSupport.h"

#include <dora/sdk/value.h>
#include <dora/wire/Json.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <memory>
#include <sstream>

using dora::sdk::Value;
using namespace dora::test;

namespace {

/// "127.0.0.1:port" of the client side of c (what the host sees as peer).
std::string localAddress(const WireClient& c) {
    sockaddr_in a{};
    socklen_t n = sizeof a;
    CPPUNIT_ASSERT_EQUAL(0, ::getsockname(c.fd(), reinterpret_cast<sockaddr*>(&a), &n));
    char ip[INET_ADDRSTRLEN];
    ::inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(ntohs(a.sin_port));
}

/// Every line of the log as JSON; fails on any line that is not.
std::vector<Value> jsonLines(const std::string& log) {
    std::vector<Value> out;
    std::istringstream in(log);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        try {
            Value v = dora::wire::fromJson(line);
            CPPUNIT_ASSERT_MESSAGE(line, v.isArray() && v.find("time") && v.find("level") && v.find("msg"));
            out.push_back(std::move(v));
        } catch (const std::exception& e) {
            CPPUNIT_FAIL("not a JSON log line: " + line + " (" + e.what() + ")");
        }
    }
    return out;
}

std::string field(const Value& v, const char* name) {
    const Value* f = v.find(name);
    if (!f) return {};
    return f->isString() ? f->asString() : f->isInt() ? std::to_string(f->asInt()) : std::string("?");
}

/// The event lines of `guid`.
std::vector<Value> eventsOf(const HostProcess& h, const std::string& guid) {
    std::vector<Value> out;
    for (auto& v : jsonLines(h.log()))
        if (field(v, "guid") == guid) out.push_back(v);
    return out;
}

} // namespace

class LogsTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(LogsTest);
    CPPUNIT_TEST(testRefusalAndFailureAsJsonEvents);
    CPPUNIT_TEST(testFloodIsRateLimited);
    CPPUNIT_TEST_SUITE_END();

public:
    void testRefusalAndFailureAsJsonEvents() {
        HostProcess::Options o;
        o.env["DORAHOST_LOG_FORMAT"] = "json"; // the override; the file says text
        o.serverYaml = "  log_format: text\n";
        o.extraYaml = "control:\n  token: sekrit\n";
        HostProcess h(o);
        WireClient c(h.port());
        const std::string peer = localAddress(c);

        // A refused request: a single call to an api no route serves.
        const std::string refusedGuid = newGuid();
        Value a = callV1(c, "SSS", oneCall("no_such_api", Value::array()), refusedGuid);
        const std::int64_t refusedCode = a.find("code")->asInt();
        CPPUNIT_ASSERT(refusedCode != 0);
        // A failed call: get_user of a name that does not exist (a handler error).
        const std::string failedGuid = newGuid();
        Value p = Value::array();
        p.set("name", "nobody-" + failedGuid);
        Value f = callV1(c, "SSM", oneCall("get_user", p), failedGuid);
        // A successful call: no line at all.
        const std::string okGuid = newGuid();
        Value q = Value::array();
        q.set("name", "log-" + okGuid.substr(0, 12));
        q.set("department", "ops");
        Value ok = callV1(c, "SSS", oneCall("add_user", q), okGuid);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(dora::wire::toJson(ok), std::int64_t(0), ok.find("code")->asInt());
        // A control command without the token.
        const std::string cmdGuid = newGuid();
        Value cmd = Value::array();
        cmd.set("name", "getStat");
        cmd.set("param", Value::array());
        Value capi = Value::array();
        capi.set("cmd", cmd);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(100214), callV1(c, "SC", capi, cmdGuid).find("code")->asInt());

        CPPUNIT_ASSERT(waitUntil([&] { return !eventsOf(h, failedGuid).empty(); }, 20000));
        std::vector<Value> refused = eventsOf(h, refusedGuid);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(h.log(), std::size_t(1), refused.size());
        CPPUNIT_ASSERT_EQUAL(std::string("refused"), field(refused[0], "event"));
        CPPUNIT_ASSERT_EQUAL(std::string("no_such_api"), field(refused[0], "api"));
        CPPUNIT_ASSERT_EQUAL(std::to_string(refusedCode), field(refused[0], "code"));
        CPPUNIT_ASSERT(refused[0].find("code")->isInt()); // a number in JSON
        CPPUNIT_ASSERT_EQUAL(peer, field(refused[0], "peer"));
        CPPUNIT_ASSERT_EQUAL(std::string("dorahost.events"), field(refused[0], "logger"));

        std::vector<Value> failed = eventsOf(h, failedGuid);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(h.log(), std::size_t(1), failed.size());
        CPPUNIT_ASSERT_EQUAL(std::string("failed"), field(failed[0], "event"));
        CPPUNIT_ASSERT_EQUAL(std::string("get_user"), field(failed[0], "api"));
        CPPUNIT_ASSERT_EQUAL(std::to_string(f.find("data")->find("one")->find("code")->asInt()),
                             field(failed[0], "code"));
        CPPUNIT_ASSERT_EQUAL(peer, field(failed[0], "peer"));

        CPPUNIT_ASSERT_MESSAGE(h.log(), eventsOf(h, okGuid).empty());
        // Nothing else names the successful call either.
        CPPUNIT_ASSERT(h.log().find(okGuid) == std::string::npos);

        // The control refusal names the command and the peer (it carries no guid field).
        bool found = false;
        for (auto& v : jsonLines(h.log()))
            found = found || (field(v, "event") == "refused" && field(v, "api") == "getStat" &&
                              field(v, "code") == "100214" && field(v, "peer") == peer);
        CPPUNIT_ASSERT_MESSAGE(h.log(), found);
    }

    void testFloodIsRateLimited() {
        HostProcess::Options o;
        o.serverYaml = "  log_format: json\n  log_events_per_sec: 5\n";
        HostProcess h(o);
        WireClient c(h.port());
        const int kFlood = 200;
        for (int i = 0; i < kFlood; ++i) {
            Value a = callV1(c, "SSS", oneCall("no_such_api", Value::array()), newGuid());
            CPPUNIT_ASSERT(a.find("code")->asInt() != 0);
        }
        // Each event is a line or counted as held back; the count is reported
        // with the first event of a later second, so probe until every bad
        // request of the flood is accounted for.
        std::int64_t probes = 0, refusedLines = 0, held = 0;
        auto tally = [&] {
            refusedLines = 0;
            held = 0;
            for (auto& v : jsonLines(h.log())) {
                if (field(v, "event") == "refused") ++refusedLines;
                if (field(v, "event") == "suppressed") held += v.find("suppressed")->asInt();
            }
        };
        bool accounted = waitUntil(
            [&] {
                callV1(c, "SSS", oneCall("no_such_api", Value::array()), newGuid());
                ++probes;
                tally();
                return refusedLines + held >= kFlood;
            },
            20000);
        CPPUNIT_ASSERT_MESSAGE(h.log(), accounted);
        CPPUNIT_ASSERT_MESSAGE(h.log(), held > 0);
        CPPUNIT_ASSERT_MESSAGE(h.log(), refusedLines < kFlood);
        CPPUNIT_ASSERT_MESSAGE(h.log(), refusedLines + held <= kFlood + probes);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(LogsTest);
