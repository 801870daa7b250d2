// GET /metrics of the real host: a real Prometheus (the private one of
// scripts/services.sh) scrapes it during a short load, and the series it
// stored, read back through Prometheus' HTTP API, match the load exactly;
// promtool finds the exposition clean.
#include "common/TestSupport.h"
#include "lifecycle/LifecycleSupport.h"

#include <dora/sdk/value.h>
#include <dora/wire/Json.h>

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

using dora::sdk::Value;
using namespace dora::test;
using Poco::Net::HTTPRequest;
using Poco::Net::HTTPResponse;
namespace fs = std::filesystem;

namespace {

constexpr int kV1Calls = 120;   ///< echo over v1 SSS frames
constexpr int kHttpRequests = 30; ///< each: one echo call and one add_user with no name (100210)

struct HttpReply {
    int status = 0;
    std::string contentType;
    std::string body;
};

HttpReply http(std::uint16_t port, const std::string& method, const std::string& uri, const std::string& body = "",
               const std::string& contentType = "", const std::string& authorization = "",
               const std::string& host = "127.0.0.1") {
    Poco::Net::HTTPClientSession s(host, port);
    s.setTimeout(Poco::Timespan(10, 0));
    HTTPRequest req(method, uri, HTTPRequest::HTTP_1_1);
    if (!authorization.empty()) req.set("Authorization", authorization);
    if (!body.empty()) {
        req.setContentType(contentType);
        req.setContentLength(static_cast<std::streamsize>(body.size()));
    }
    std::ostream& out = s.sendRequest(req);
    out << body;
    HTTPResponse resp;
    std::istream& in = s.receiveResponse(resp);
    HttpReply r;
    r.status = static_cast<int>(resp.getStatus());
    r.contentType = resp.getContentType();
    Poco::StreamCopier::copyToString(in, r.body);
    return r;
}

/// The private Prometheus of scripts/services.sh; the test fails (never
/// skips) without it.
struct Prometheus {
    std::string host;
    std::uint16_t port = 0;
    std::string targets;

    Prometheus() {
        std::string url = env("DORA_PROMETHEUS_URL");
        targets = env("DORA_PROMETHEUS_TARGETS");
        if (url.empty() || targets.empty())
            throw std::runtime_error("DORA_PROMETHEUS_URL / DORA_PROMETHEUS_TARGETS are not set: run the tests "
                                     "through scripts/test.sh (it starts the private Prometheus)");
        Poco::URI u(url);
        host = u.getHost();
        port = u.getPort();
    }

    /// An instant query's vector result; throws when Prometheus refuses it.
    std::vector<Value> query(const std::string& promql) const {
        std::string q;
        Poco::URI::encode(promql, "&=+;#?/", q);
        HttpReply r = http(port, "GET", "/api/v1/query?query=" + q, "", "", "", host);
        if (r.status != 200) throw std::runtime_error("Prometheus answered " + std::to_string(r.status) + ": " + r.body);
        Value v = dora::wire::fromJson(r.body);
        const Value* status = v.find("status");
        if (!status || status->asString() != "success") throw std::runtime_error("query failed: " + r.body);
        std::vector<Value> out;
        for (const auto& e : v.find("data")->find("result")->asArray()) out.push_back(e.value);
        return out;
    }

    /// The value of a query that yields one sample; -1 when it yields none.
    double scalar(const std::string& promql) const {
        auto result = query(promql);
        if (result.empty()) return -1;
        if (result.size() != 1) throw std::runtime_error(promql + ": " + std::to_string(result.size()) + " series");
        const auto& pair = result.front().find("value")->asArray();
        return std::stod(pair.find(dora::sdk::Key(1))->asString());
    }
};

/// A file_sd target file naming one host; removed when the test ends.
class ScrapeTarget {
public:
    ScrapeTarget(const Prometheus& p, std::uint16_t port, const std::string& label) {
        _path = p.targets + "/test-" + std::to_string(::getpid()) + "-" + std::to_string(port) + ".json";
        std::string tmp = _path + ".tmp";
        {
            std::ofstream f(tmp);
            f << "[{\"targets\":[\"127.0.0.1:" << port << "\"],\"labels\":{\"dora_test\":\"" << label << "\"}}]\n";
        }
        fs::rename(tmp, _path); // Prometheus never reads half a file
    }
    ~ScrapeTarget() {
        std::error_code ec;
        fs::remove(_path, ec);
    }

private:
    std::string _path;
};

std::string multisyncBody(const std::string& guid) {
    return "{\"guid\":\"" + guid +
           "\",\"api\":{\"e\":{\"name\":\"echo\",\"param\":{\"say\":\"hi\"}},"
           "\"u\":{\"name\":\"add_user\",\"param\":{}}}}";
}

/// Runs the load: kV1Calls echo calls over v1 frames, kHttpRequests HTTP
/// requests with one good and one bad call each.
void load(const HostProcess& host) {
    WireClient c(host.port());
    Value param = Value::array();
    param.set("say", "hi");
    for (int i = 0; i < kV1Calls; ++i) {
        Value a = callV1(c, "SSS", oneCall("echo", param), newGuid());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), a.find("code")->asInt());
    }
    for (int i = 0; i < kHttpRequests; ++i) {
        HttpReply r = http(host.httpPort(), "POST", "/api/multisync", multisyncBody(newGuid()), "application/json");
        CPPUNIT_ASSERT_EQUAL(200, r.status);
        Value v = dora::wire::fromJson(r.body);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), v.find("data")->find("e")->find("code")->asInt());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(100210), v.find("data")->find("u")->find("code")->asInt());
    }
}

/// promtool check metrics on an exposition: "" when clean, else what it
/// printed (with its exit status).
std::string promtool(const std::string& dir, const std::string& exposition) {
    std::string file = dir + "/metrics.txt";
    std::ofstream(file) << exposition;
    std::string cmd = "promtool check metrics < '" + file + "' 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    CPPUNIT_ASSERT(p != nullptr);
    std::string out;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int status = ::pclose(p);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) out += "\n(exit status " + std::to_string(status) + ")";
    return out;
}

} // namespace

class MetricsTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(MetricsTest);
    CPPUNIT_TEST(testExpositionCountsTheLoadAndPassesPromtool);
    CPPUNIT_TEST(testPrometheusScrapesTheHost);
    CPPUNIT_TEST(testPluginMetricsAndLoopLag);
    CPPUNIT_TEST_SUITE_END();

public:
    void testExpositionCountsTheLoadAndPassesPromtool() {
        HostProcess::Options o;
        o.httpPort = freePort();
        HostProcess host(o);
        load(host);
        // Five async echo calls through the queue, and a MySQL error: the
        // same user added twice (duplicate key, errno 1062).
        {
            WireClient c(host.port());
            Value param = Value::array();
            param.set("say", "queued");
            for (int i = 0; i < 5; ++i)
                CPPUNIT_ASSERT_EQUAL(std::int64_t(100001),
                                     callV1(c, "SRS", oneCall("echo", param), newGuid()).find("code")->asInt());
            Db().exec("DELETE FROM users WHERE name = 'm_dup'");
            Value user = Value::array();
            user.set("name", "m_dup");
            user.set("department", "ops");
            callV1(c, "SSS", oneCall("add_user", user), newGuid());
            callV1(c, "SSS", oneCall("add_user", user), newGuid());
            Db().exec("DELETE FROM users WHERE name = 'm_dup'");
        }
        HttpReply r;
        CPPUNIT_ASSERT_MESSAGE("the queue never applied the 5 tasks", waitUntil([&] {
            r = http(host.httpPort(), "GET", "/metrics");
            return r.body.find("\ndorahost_queue_applied_total 5\n") != std::string::npos &&
                   r.body.find("\ndorahost_queue_stream_length 0\n") != std::string::npos;
        }));
        CPPUNIT_ASSERT_EQUAL(200, r.status);
        CPPUNIT_ASSERT_EQUAL(std::string("text/plain; version=0.0.4; charset=utf-8"), r.contentType);
        const std::string& m = r.body;
        const std::string calls = std::to_string(kV1Calls + kHttpRequests);
        CPPUNIT_ASSERT_EQUAL(calls, metricSample(m, "dorahost_route_requests_total{route=\"echo\",code=\"0\"}"));
        CPPUNIT_ASSERT_EQUAL(std::to_string(kHttpRequests),
                             metricSample(m, "dorahost_route_requests_total{route=\"add_user\",code=\"100210\"}"));
        CPPUNIT_ASSERT_EQUAL(calls, metricSample(m, "dorahost_route_request_duration_seconds_count{route=\"echo\"}"));
        CPPUNIT_ASSERT_EQUAL(calls,
                             metricSample(m, "dorahost_route_request_duration_seconds_bucket{route=\"echo\",le=\"+Inf\"}"));
        CPPUNIT_ASSERT(std::stod(metricSample(m, "dorahost_route_request_duration_seconds_sum{route=\"echo\"}")) > 0);
        CPPUNIT_ASSERT_EQUAL(std::string("0"), metricSample(m, "dorahost_route_requests_in_flight{route=\"echo\"}"));
        CPPUNIT_ASSERT_EQUAL(std::to_string(kV1Calls + 2), // and the two add_user
                             metricSample(m, "dorahost_requests_total{type=\"SSS\",generation=\"v1\"}"));
        CPPUNIT_ASSERT_EQUAL(std::string("5"), metricSample(m, "dorahost_requests_total{type=\"SRS\",generation=\"v1\"}"));
        CPPUNIT_ASSERT_EQUAL(std::to_string(kHttpRequests),
                             metricSample(m, "dorahost_requests_total{type=\"W_M\",generation=\"http\"}"));
        CPPUNIT_ASSERT_EQUAL(std::string("1"), metricSample(m, "dorahost_queue_redis_up"));
        CPPUNIT_ASSERT_EQUAL(std::string("5"), metricSample(m, "dorahost_queue_accepted_total"));
        CPPUNIT_ASSERT_EQUAL(std::string("0"), metricSample(m, "dorahost_queue_dead_lettered_total"));
        CPPUNIT_ASSERT_EQUAL(std::string("0"), metricSample(m, "dorahost_queue_pending"));
        CPPUNIT_ASSERT_EQUAL(metricSample(m, "dorahost_queue_batches_total"), metricSample(m, "dorahost_queue_batch_tasks_count"));
        CPPUNIT_ASSERT_EQUAL(std::string("5"), metricSample(m, "dorahost_queue_batch_tasks_sum"));
        CPPUNIT_ASSERT_EQUAL(std::string("1"), metricSample(m, "dorahost_mysql_errors_total{errno=\"1062\"}"));
        CPPUNIT_ASSERT_EQUAL(std::string("1"), metricSample(m, "dorahost_route_requests_total{route=\"add_user\",code=\"100212\"}"));
        CPPUNIT_ASSERT_EQUAL(std::string("1"), metricSample(m, "dorahost_plugin_info{plugin=\"sync_user\",version=\"1.1.0\"}"));
        CPPUNIT_ASSERT_EQUAL(std::string("1"), metricSample(m, "dorahost_plugin_reloads_total{outcome=\"ok\"}"));

        // promtool: the format and Prometheus' naming rules (units,
        // _total on counters) hold; it prints nothing when all is clean.
        CPPUNIT_ASSERT_EQUAL(std::string(), promtool(host.dir(), m));
        // The I/O thread handed the pool's calls over: each round counted.
        CPPUNIT_ASSERT(std::stoll(metricSample(m, "dorahost_event_loop_lag_seconds_count")) > 0);

        // Only GET; POST is refused with the methods allowed.
        HttpReply post = http(host.httpPort(), "POST", "/metrics", "{}", "application/json");
        CPPUNIT_ASSERT_EQUAL(405, post.status);
    }

    void testPrometheusScrapesTheHost() {
        Prometheus prom;
        HostProcess::Options o;
        o.httpPort = freePort();
        HostProcess host(o);
        const std::string label = "metrics-" + std::to_string(::getpid()) + "-" + std::to_string(host.httpPort());
        ScrapeTarget target(prom, host.httpPort(), label);
        const std::string sel = "dora_test=\"" + label + "\"";
        // Prometheus found the target and scraped it.
        CPPUNIT_ASSERT_MESSAGE("Prometheus never scraped the host",
                               waitUntil([&] { return prom.scalar("up{" + sel + "}") == 1; }, 30000));
        load(host);
        const double calls = kV1Calls + kHttpRequests;
        // A scrape after the load has the exact counts.
        const std::string echoOk = "dorahost_route_requests_total{" + sel + ",route=\"echo\",code=\"0\"}";
        bool seen = waitUntil([&] { return prom.scalar(echoOk) == calls; }, 30000);
        CPPUNIT_ASSERT_MESSAGE(echoOk + " = " + std::to_string(prom.scalar(echoOk)) + ", expected " +
                                   std::to_string(calls),
                               seen);
        CPPUNIT_ASSERT_EQUAL(double(kHttpRequests),
                             prom.scalar("dorahost_route_requests_total{" + sel + ",route=\"add_user\",code=\"100210\"}"));
        CPPUNIT_ASSERT_EQUAL(calls, prom.scalar("sum(dorahost_route_requests_total{" + sel + ",route=\"echo\"})"));
        CPPUNIT_ASSERT_EQUAL(double(kV1Calls),
                             prom.scalar("dorahost_requests_total{" + sel + ",type=\"SSS\",generation=\"v1\"}"));
        CPPUNIT_ASSERT_EQUAL(double(kHttpRequests),
                             prom.scalar("dorahost_requests_total{" + sel + ",type=\"W_M\",generation=\"http\"}"));
        // The latency histogram: every call in it, a positive sum, and a
        // quantile Prometheus can compute from the buckets.
        CPPUNIT_ASSERT_EQUAL(calls, prom.scalar("dorahost_route_request_duration_seconds_count{" + sel +
                                                ",route=\"echo\"}"));
        CPPUNIT_ASSERT(prom.scalar("dorahost_route_request_duration_seconds_sum{" + sel + ",route=\"echo\"}") > 0);
        double p99 = prom.scalar("histogram_quantile(0.99, dorahost_route_request_duration_seconds_bucket{" + sel +
                                 ",route=\"echo\"})");
        CPPUNIT_ASSERT_MESSAGE("p99 " + std::to_string(p99), p99 > 0 && p99 <= 10);
    }

    /// A plugin's own counters and histograms (the sdk12 fixture's) appear
    /// under its name; the event-loop lag histogram counts one round per
    /// call handed to the pool; promtool finds it all clean.
    void testPluginMetricsAndLoopLag() {
        dora::test::lifecycle::Stage s;
        s.add("sdk12");
        HostProcess::Options o = s.hostOptions();
        o.httpPort = freePort();
        HostProcess host(o);
        const std::string before = scrapeMetrics(host.httpPort());
        const long long lagBefore = std::stoll(metricSample(before, "dorahost_event_loop_lag_seconds_count"));
        CPPUNIT_ASSERT_EQUAL(std::string("0"), metricSample(before, "dorahost_plugin_sdk12_calls_total"));
        WireClient c(host.port());
        for (int n : {5, 50, 500, 1}) {
            Value a = callV1(c, "SSS", oneCall("sdk12_observe", Value::array().set("n", n)), newGuid());
            CPPUNIT_ASSERT_EQUAL(std::int64_t(0), a.find("code")->asInt());
        }
        const std::string m = scrapeMetrics(host.httpPort());
        CPPUNIT_ASSERT_EQUAL(std::string("4"), metricSample(m, "dorahost_plugin_sdk12_calls_total"));
        CPPUNIT_ASSERT(m.find("# TYPE dorahost_plugin_sdk12_calls_total counter\n") != std::string::npos);
        CPPUNIT_ASSERT(m.find("# HELP dorahost_plugin_sdk12_calls_total observe calls\n") != std::string::npos);
        CPPUNIT_ASSERT(m.find("# TYPE dorahost_plugin_sdk12_n_seen histogram\n") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::string("1"), metricSample(m, "dorahost_plugin_sdk12_n_seen_bucket{le=\"1\"}"));
        CPPUNIT_ASSERT_EQUAL(std::string("2"), metricSample(m, "dorahost_plugin_sdk12_n_seen_bucket{le=\"10\"}"));
        CPPUNIT_ASSERT_EQUAL(std::string("3"), metricSample(m, "dorahost_plugin_sdk12_n_seen_bucket{le=\"100\"}"));
        CPPUNIT_ASSERT_EQUAL(std::string("4"), metricSample(m, "dorahost_plugin_sdk12_n_seen_bucket{le=\"+Inf\"}"));
        CPPUNIT_ASSERT_EQUAL(std::string("556"), metricSample(m, "dorahost_plugin_sdk12_n_seen_sum"));
        CPPUNIT_ASSERT_EQUAL(std::string("4"), metricSample(m, "dorahost_plugin_sdk12_n_seen_count"));
        // Four calls, one after the other: four rounds handed a call over.
        const long long lag = std::stoll(metricSample(m, "dorahost_event_loop_lag_seconds_count"));
        CPPUNIT_ASSERT_MESSAGE(std::to_string(lag), lag >= lagBefore + 4);
        CPPUNIT_ASSERT_EQUAL(std::to_string(lag), metricSample(m, "dorahost_event_loop_lag_seconds_bucket{le=\"+Inf\"}"));
        CPPUNIT_ASSERT(std::stod(metricSample(m, "dorahost_event_loop_lag_seconds_sum")) > 0);
        CPPUNIT_ASSERT_EQUAL(std::string(), promtool(host.dir(), m));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(MetricsTest);
