// The HTTP gateway (PROTOCOL.md §6) of the real host over real HTTP
// clients: Poco's HTTPClientSession, and curl as a process.
#include "common/TestSupport.h"

#include <dora/sdk/value.h>

#include <Poco/Net/HTMLForm.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <sys/resource.h>

#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

using namespace dora::test;
using Poco::Net::HTTPRequest;
using Poco::Net::HTTPResponse;

namespace {

constexpr std::size_t kMaxBody = 65536;

HostProcess& gateway() {
    static std::unique_ptr<HostProcess> host;
    if (!host || !host->running()) {
        HostProcess::Options o;
        o.httpPort = freePort();
        o.serverYaml =
            "  max_frame_bytes: " + std::to_string(kMaxBody) + "\n  max_calls_per_request: 5\n";
        host = std::make_unique<HostProcess>(o);
    }
    return *host;
}

struct Reply {
    int status = 0;
    std::string contentType;
    std::string allow;
    std::string body;
};

Reply receive(Poco::Net::HTTPClientSession& s) {
    HTTPResponse resp;
    std::istream& in = s.receiveResponse(resp);
    Reply r;
    r.status = static_cast<int>(resp.getStatus());
    r.contentType = resp.getContentType();
    r.allow = resp.get("Allow", "");
    Poco::StreamCopier::copyToString(in, r.body);
    return r;
}

Reply send(const std::string& method, const std::string& path, const std::string& contentType,
           const std::string& body) {
    Poco::Net::HTTPClientSession s("127.0.0.1", gateway().httpPort());
    s.setTimeout(Poco::Timespan(20, 0));
    HTTPRequest req(method, path, HTTPRequest::HTTP_1_1);
    if (!contentType.empty()) req.setContentType(contentType);
    req.setContentLength(static_cast<std::streamsize>(body.size()));
    s.sendRequest(req) << body;
    return receive(s);
}

/// A form post as the PHP and Node clients send it: params=urlencode(json).
Reply postForm(const std::string& path, const std::string& json) {
    std::string enc;
    Poco::URI::encode(json, "!#$&'()*+,/:;=?@[]", enc);
    return send("POST", path, "application/x-www-form-urlencoded",
                "params=" + enc + "&guid=ignored");
}

std::string apiCall(const std::string& name, const std::string& param) {
    return "{\"name\":\"" + name + "\",\"param\":" + param + "}";
}

std::string paramsJson(const std::string& guid, const std::string& api) {
    return "{\"guid\":\"" + guid + "\",\"api\":" + api + "}";
}

/// The v2 answer shape as JSON.
std::string answer(const std::string& guid, int code, const std::string& msg,
                   const std::string& data) {
    return "{\"guid\":\"" + guid + "\",\"code\":" + std::to_string(code) + ",\"msg\":\"" + msg +
           "\",\"data\":" + data + "}";
}

const std::string kJson = "application/json; charset=utf-8";
const std::string kParam = R"({"x":1,"s":"二","l":[true,null,2.5],"m":{"9":"nine"}})";

/// One HTTP/1.1 request on an open socket, and the response read off it:
/// status line, headers and a Content-Length body. Throws if the server
/// closed the connection first (so a keep-alive that is not kept fails).
struct RawReply {
    std::string head, body;
};
RawReply rawExchange(WireClient& conn, const std::string& path, const std::string& json) {
    conn.sendRaw("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 "Content-Length: " + std::to_string(json.size()) + "\r\n\r\n" + json);
    std::string buf;
    std::size_t need = std::string::npos, headEnd = std::string::npos;
    while (need == std::string::npos || buf.size() < need) {
        pollfd p{conn.fd(), POLLIN, 0};
        if (::poll(&p, 1, 20000) <= 0) throw std::runtime_error("no HTTP response in 20 s");
        char tmp[8192];
        ssize_t n = ::recv(conn.fd(), tmp, sizeof tmp, 0);
        if (n <= 0) throw std::runtime_error("the gateway closed the connection; read: " + buf);
        buf.append(tmp, static_cast<std::size_t>(n));
        if (headEnd == std::string::npos && (headEnd = buf.find("\r\n\r\n")) != std::string::npos) {
            auto at = buf.find("Content-Length: ");
            if (at == std::string::npos || at > headEnd)
                throw std::runtime_error("no Content-Length in " + buf.substr(0, headEnd));
            need = headEnd + 4 + std::stoul(buf.substr(at + 16));
        }
    }
    return {buf.substr(0, headEnd), buf.substr(headEnd + 4, need - headEnd - 4)};
}

int codeOf(const std::string& body) {
    auto at = body.find("\"code\":");
    if (at == std::string::npos) throw std::runtime_error("no code in " + body);
    return std::stoi(body.substr(at + 7));
}

} // namespace

class HttpGatewayTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(HttpGatewayTest);
    CPPUNIT_TEST(testMultisyncUrlencodedExact);
    CPPUNIT_TEST(testMultisyncMultipartExact);
    CPPUNIT_TEST(testMultisyncJsonBodyExact);
    CPPUNIT_TEST(testMultisyncWritesMysql);
    CPPUNIT_TEST(testMultisyncConcurrentClients);
    CPPUNIT_TEST(testKeepAliveManyRequestsOneConnection);
    CPPUNIT_TEST(testMultinoresultAcceptedExact);
    CPPUNIT_TEST(testMultinoresultRefusesSyncOnlyRoute);
    CPPUNIT_TEST(testMultinoresultApplied);
    CPPUNIT_TEST(testMultinoresultRedisDown100204);
    CPPUNIT_TEST(testKeepAliveRawSocketThenIdleClose);
    CPPUNIT_TEST(testStalledClientDroppedAfterReceiveTimeout);
    CPPUNIT_TEST(testConnectionLimit);
    CPPUNIT_TEST(testServerCmdReloadTask);
    CPPUNIT_TEST(testServerCmdGetStat);
    CPPUNIT_TEST(testServerCmdUnknownExact);
    CPPUNIT_TEST(testNoParamsField);
    CPPUNIT_TEST(testBadJson);
    CPPUNIT_TEST(testMissingOrWrongFields);
    CPPUNIT_TEST(testTooManyCalls);
    CPPUNIT_TEST(testWrongMethod405);
    CPPUNIT_TEST(testUnknownPath404);
    CPPUNIT_TEST(testHugeBodyDeclared413);
    CPPUNIT_TEST(testHugeBodyChunked413);
    CPPUNIT_TEST(testCurlMultisyncTranscript);
    CPPUNIT_TEST_SUITE_END();

public:
    void testMultisyncUrlencodedExact() {
        std::string g = newGuid();
        std::string nobody = "nobody_" + newGuid().substr(0, 8);
        std::string api = "{\"a\":" + apiCall("echo", kParam) +
                          ",\"b\":" + apiCall("get_user", "{\"name\":\"" + nobody + "\"}") +
                          ",\"c\":" + apiCall("nope", "[]") + "}";
        Reply r = postForm("/api/multisync", paramsJson(g, api));
        CPPUNIT_ASSERT_EQUAL(200, r.status);
        CPPUNIT_ASSERT_EQUAL(kJson, r.contentType);
        std::string data = "{\"a\":" + answer(g, 0, "OK", kParam) +
                           ",\"b\":" + answer(g, 100211, "user '" + nobody + "' not found", "[]") +
                           ",\"c\":" + answer(g, 100200, "no such route: 'nope'", "[]") + "}";
        CPPUNIT_ASSERT_EQUAL(answer(g, 0, "OK", data), r.body);
    }

    void testMultisyncMultipartExact() {
        std::string g = newGuid();
        Poco::Net::HTMLForm form(Poco::Net::HTMLForm::ENCODING_MULTIPART);
        form.set("params", paramsJson(g, "{\"one\":" + apiCall("echo", kParam) + "}"));
        form.set("other", "ignored");
        Poco::Net::HTTPClientSession s("127.0.0.1", gateway().httpPort());
        HTTPRequest req(HTTPRequest::HTTP_POST, "/api/multisync", HTTPRequest::HTTP_1_1);
        form.prepareSubmit(req);
        form.write(s.sendRequest(req));
        Reply r = receive(s);
        CPPUNIT_ASSERT_EQUAL(200, r.status);
        CPPUNIT_ASSERT_EQUAL(answer(g, 0, "OK", "{\"one\":" + answer(g, 0, "OK", kParam) + "}"),
                             r.body);
    }

    void testMultisyncJsonBodyExact() {
        std::string g = newGuid();
        // Keys 0..n-1 make a JSON array of calls; the answer's data is one too.
        Reply r = send(
            "POST", "/api/multisync/", "application/json",
            paramsJson(g, "[" + apiCall("echo", "1") + "," + apiCall("echo", "\"two\"") + "]"));
        CPPUNIT_ASSERT_EQUAL(200, r.status);
        CPPUNIT_ASSERT_EQUAL(
            answer(g, 0, "OK",
                   "[" + answer(g, 0, "OK", "1") + "," + answer(g, 0, "OK", "\"two\"") + "]"),
            r.body);
    }

    void testMultisyncWritesMysql() {
        std::string prefix = "http_" + newGuid().substr(0, 8) + "_";
        std::string api = "{";
        for (int i = 0; i < 3; ++i)
            api += std::string(i ? "," : "") + "\"u" + std::to_string(i) + "\":" +
                   apiCall("add_user", "{\"name\":\"" + prefix + std::to_string(i) +
                                           "\",\"department\":\"web\"}");
        api += "}";
        Reply r = postForm("/api/multisync", paramsJson(newGuid(), api));
        CPPUNIT_ASSERT_EQUAL(0, codeOf(r.body));
        CPPUNIT_ASSERT(r.body.find("\"name\":\"" + prefix + "2\"") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(
            std::int64_t(3),
            Db().scalar("SELECT COUNT(*) FROM users WHERE name LIKE '" + prefix + "%'"));
    }

    void testMultisyncConcurrentClients() {
        gateway();
        std::atomic<int> ok{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 16; ++t)
            threads.emplace_back([&, t] {
                try {
                    std::string g = newGuid();
                    std::string p = "{\"t\":" + std::to_string(t) + "}";
                    Reply r = postForm("/api/multisync",
                                       paramsJson(g, "{\"k\":" + apiCall("echo", p) + "}"));
                    if (r.body == answer(g, 0, "OK", "{\"k\":" + answer(g, 0, "OK", p) + "}")) ++ok;
                } catch (...) {
                }
            });
        for (auto& th : threads)
            th.join();
        CPPUNIT_ASSERT_EQUAL(16, ok.load());
    }

    void testKeepAliveManyRequestsOneConnection() {
        Poco::Net::HTTPClientSession s("127.0.0.1", gateway().httpPort());
        s.setKeepAlive(true);
        for (int i = 0; i < 20; ++i) {
            std::string g = newGuid();
            std::string body = paramsJson(g, "{\"k\":" + apiCall("echo", std::to_string(i)) + "}");
            HTTPRequest req(HTTPRequest::HTTP_POST, "/api/multisync", HTTPRequest::HTTP_1_1);
            req.setKeepAlive(true);
            req.setContentType("application/json");
            req.setContentLength(static_cast<std::streamsize>(body.size()));
            s.sendRequest(req) << body;
            Reply r = receive(s);
            CPPUNIT_ASSERT_EQUAL(
                answer(g, 0, "OK", "{\"k\":" + answer(g, 0, "OK", std::to_string(i)) + "}"),
                r.body);
        }
    }

    void testMultinoresultAcceptedExact() {
        std::string g = newGuid();
        Reply r = postForm("/api/multinoresult",
                           paramsJson(g, "{\"a\":" + apiCall("echo", kParam) +
                                             ",\"b\":" + apiCall("version", "[]") + "}"));
        CPPUNIT_ASSERT_EQUAL(200, r.status);
        CPPUNIT_ASSERT_EQUAL(answer(g, 100001, "transfer success.已经成功投递", "[]"), r.body);
    }

    void testMultinoresultRefusesSyncOnlyRoute() {
        // get_user serves sync calls only: nothing is stored.
        Reply r =
            postForm("/api/multinoresult",
                     paramsJson(newGuid(), "{\"a\":" + apiCall("echo", "1") + ",\"b\":" +
                                               apiCall("get_user", "{\"name\":\"x\"}") + "}"));
        CPPUNIT_ASSERT_EQUAL(200, r.status);
        CPPUNIT_ASSERT_EQUAL(100207, codeOf(r.body));
    }

    /// The accepted calls run: each write lands exactly once.
    void testMultinoresultApplied() {
        requireRedis();
        std::string prefix = "http_async_" + newGuid().substr(0, 8) + "_";
        std::string g = newGuid();
        std::string api = "{";
        for (int i = 0; i < 3; ++i)
            api += std::string(i ? "," : "") + "\"u" + std::to_string(i) + "\":" +
                   apiCall("add_user", "{\"name\":\"" + prefix + std::to_string(i) +
                                           "\",\"department\":\"web\"}");
        api += ",\"p\":" + apiCall("plus_user", "{\"name\":\"" + prefix + "0\"}") + "}";
        Reply r = postForm("/api/multinoresult", paramsJson(g, api));
        CPPUNIT_ASSERT_EQUAL(answer(g, 100001, "transfer success.已经成功投递", "[]"), r.body);
        Db db;
        auto count = [&] {
            return db.scalar("SELECT COUNT(*) FROM users WHERE name LIKE '" + prefix + "%'");
        };
        CPPUNIT_ASSERT_MESSAGE("the accepted calls were never applied",
                               waitUntil([&] { return count() == 3; }));
        CPPUNIT_ASSERT(waitUntil([&] {
            return db.scalar("SELECT visits FROM users WHERE name='" + prefix + "0'") == 1;
        }));
        for (int i = 0; i < 3; ++i)
            CPPUNIT_ASSERT_EQUAL(std::int64_t(1),
                                 db.scalar("SELECT COUNT(*) FROM users WHERE name='" + prefix +
                                           std::to_string(i) + "'"));
    }

    /// Redis unreachable: async calls are refused 100204, sync ones served.
    void testMultinoresultRedisDown100204() {
        HostProcess::Options o;
        o.httpPort = freePort();
        o.redisYaml = "redis:\n  socket: /nonexistent/dora-test-redis.sock\n";
        HostProcess h(o);
        Poco::Net::HTTPClientSession s("127.0.0.1", h.httpPort());
        std::string g = newGuid();
        for (const char* path : {"/api/multinoresult", "/api/multisync"}) {
            HTTPRequest req(HTTPRequest::HTTP_POST, path, HTTPRequest::HTTP_1_1);
            std::string json = paramsJson(g, "{\"a\":" + apiCall("echo", "1") + "}");
            req.setContentType("application/json");
            req.setContentLength(static_cast<std::streamsize>(json.size()));
            s.sendRequest(req) << json;
            Reply r = receive(s);
            CPPUNIT_ASSERT_EQUAL(200, r.status);
            if (std::string(path) == "/api/multinoresult") {
                CPPUNIT_ASSERT_EQUAL_MESSAGE(r.body, 100204, codeOf(r.body));
            } else {
                CPPUNIT_ASSERT_EQUAL(answer(g, 0, "OK", "{\"a\":" + answer(g, 0, "OK", "1") + "}"),
                                     r.body);
            }
        }
    }

    /// Keep-alive on a bare socket: 20 requests, one connection, never
    /// reopened; then, idle, the gateway closes it (keep-alive timeout 5 s).
    void testKeepAliveRawSocketThenIdleClose() {
        WireClient conn(gateway().httpPort());
        for (int i = 0; i < 20; ++i) {
            std::string g = newGuid();
            RawReply r = rawExchange(conn, "/api/multisync",
                                     paramsJson(g, "{\"k\":" + apiCall("echo", std::to_string(i)) + "}"));
            CPPUNIT_ASSERT_MESSAGE(r.head, r.head.rfind("HTTP/1.1 200", 0) == 0);
            CPPUNIT_ASSERT_MESSAGE(r.head, r.head.find("Connection: close") == std::string::npos);
            CPPUNIT_ASSERT_EQUAL(
                answer(g, 0, "OK", "{\"k\":" + answer(g, 0, "OK", std::to_string(i)) + "}"), r.body);
        }
        CPPUNIT_ASSERT_MESSAGE("an idle kept-alive connection was never closed",
                               conn.closedByPeer(60000));
    }

    /// server.http_receive_timeout_sec: a client that sends half a request
    /// and stalls is dropped after it (1 s here; the wait below allows 20,
    /// the 30 s default would not pass), while a client that completes its
    /// request on time is served on the same gateway.
    void testStalledClientDroppedAfterReceiveTimeout() {
        HostProcess::Options o;
        o.httpPort = freePort();
        o.serverYaml = "  http_receive_timeout_sec: 1\n";
        HostProcess h(o);
        WireClient stalled(h.httpPort());
        stalled.sendRaw("POST /api/multisync HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nparams=");
        CPPUNIT_ASSERT_MESSAGE("a stalled client was not dropped", stalled.closedByPeer(20000));
        WireClient fine(h.httpPort());
        std::string g = newGuid();
        RawReply r = rawExchange(fine, "/api/multisync",
                                 paramsJson(g, "{\"k\":" + apiCall("echo", "1") + "}"));
        CPPUNIT_ASSERT_MESSAGE(r.head, r.head.rfind("HTTP/1.1 200", 0) == 0);
        CPPUNIT_ASSERT_EQUAL(answer(g, 0, "OK", "{\"k\":" + answer(g, 0, "OK", "1") + "}"), r.body);
    }

    /// The gateway serves 32 connections at once (a thread each) and queues
    /// 256 more; past that a connection is closed at once. The TCP port
    /// is unaffected, and the gateway serves again when they go.
    void testConnectionLimit() {
        HostProcess::Options o;
        o.httpPort = freePort();
        HostProcess h(o);
        // 2,048 threads (64 x task_workers, at least 2,048) + 256 queued:
        // this runner holds that many sockets.
        rlimit rl{};
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        constexpr int kThreads = 2048, kQueued = 256, kExtra = 32;
        std::vector<std::unique_ptr<WireClient>> conns;
        for (int i = 0; i < kThreads + kQueued + kExtra; ++i) {
            conns.push_back(std::make_unique<WireClient>(h.httpPort()));
            // Half a request: a gateway thread that takes it waits for the rest.
            conns.back()->sendRaw("POST /api/multisync HTTP/1.1\r\nHost: x\r\n");
        }
        // Past threads + queue: every one closed.
        for (int i = kThreads + kQueued; i < kThreads + kQueued + kExtra; ++i)
            CPPUNIT_ASSERT_MESSAGE("connection #" + std::to_string(i) + " over the limit was kept",
                                   conns[static_cast<std::size_t>(i)]->closedByPeer(20000));
        // Within the queue's size of the start: none closed. (Between the two,
        // it depends on how fast the gateway's threads took theirs.)
        for (int i = 0; i < kQueued; ++i)
            CPPUNIT_ASSERT_MESSAGE("connection #" + std::to_string(i) + " was closed",
                                   !conns[static_cast<std::size_t>(i)]->closedByPeer(0));
        WireClient tcp(h.port());
        dora::sdk::Value ok = callV1(tcp, "SSS", oneCall("echo", dora::sdk::Value("tcp")));
        CPPUNIT_ASSERT_EQUAL(std::string("tcp"), ok.find("data")->asString());
        conns.clear();
        std::string g = newGuid();
        std::string json = paramsJson(g, "{\"k\":" + apiCall("echo", "1") + "}");
        CPPUNIT_ASSERT_MESSAGE("the gateway did not serve again", waitUntil([&] {
                                   try {
                                       WireClient c(h.httpPort());
                                       return rawExchange(c, "/api/multisync", json).body ==
                                              answer(g, 0, "OK", "{\"k\":" + answer(g, 0, "OK", "1") + "}");
                                   } catch (const std::exception&) {
                                       return false;
                                   }
                               }));
    }

    /// reloadTask over HTTP: answered with the outcome, and a reload ran.
    void testServerCmdReloadTask() {
        auto reloads = [] {
            Reply r = postForm("/server/cmd",
                               paramsJson(newGuid(), R"({"cmd":{"name":"getStat","param":[]}})"));
            auto at = r.body.find("\"reloads\":");
            if (at == std::string::npos) throw std::runtime_error("no reloads in " + r.body);
            return std::stoll(r.body.substr(at + 10));
        };
        long long before = reloads();
        std::string g = newGuid();
        Reply r = postForm("/server/cmd", paramsJson(g, R"({"cmd":{"name":"reloadTask"}})"));
        CPPUNIT_ASSERT_EQUAL(200, r.status);
        std::string head = "{\"guid\":\"" + g + "\",\"code\":0,\"msg\":\"OK\",\"data\":{\"reload\":\"";
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.body, head, r.body.substr(0, head.size()));
        CPPUNIT_ASSERT_EQUAL(before + 1, reloads());
        // Still serving after it.
        std::string g2 = newGuid();
        r = postForm("/api/multisync", paramsJson(g2, "{\"k\":" + apiCall("echo", "1") + "}"));
        CPPUNIT_ASSERT_EQUAL(answer(g2, 0, "OK", "{\"k\":" + answer(g2, 0, "OK", "1") + "}"), r.body);
    }

    void testServerCmdGetStat() {
        postForm("/api/multisync", paramsJson(newGuid(), "{\"k\":" + apiCall("echo", "1") + "}"));
        std::string g = newGuid();
        Reply r =
            postForm("/server/cmd", paramsJson(g, R"({"cmd":{"name":"getStat","param":[]}})"));
        CPPUNIT_ASSERT_EQUAL(200, r.status);
        std::string head =
            "{\"guid\":\"" + g + "\",\"code\":0,\"msg\":\"OK\",\"data\":{\"server\":{";
        CPPUNIT_ASSERT_EQUAL(head, r.body.substr(0, head.size()));
        for (const char* k :
             {"\"uptime_sec\":", "\"connection_num\":", "\"modes\":", "\"http:W_M\":",
              "\"routes\":", "\"queue\":", "\"plugins\":{", "\"sync_user\":"})
            CPPUNIT_ASSERT_MESSAGE(k, r.body.find(k) != std::string::npos);
    }

    void testServerCmdUnknownExact() {
        std::string g = newGuid();
        Reply r =
            postForm("/server/cmd", paramsJson(g, R"({"cmd":{"name":"shutdownEverything"}})"));
        CPPUNIT_ASSERT_EQUAL(answer(g, 100011, "unknow cmd", "[]"), r.body);
    }

    void testNoParamsField() {
        Reply r =
            send("POST", "/api/multisync", "application/x-www-form-urlencoded", "guid=abc&api=x");
        CPPUNIT_ASSERT_EQUAL(200, r.status);
        CPPUNIT_ASSERT_EQUAL(kJson, r.contentType);
        CPPUNIT_ASSERT_EQUAL(100004, codeOf(r.body));
        CPPUNIT_ASSERT(r.body.find("'params' is missing") != std::string::npos);
        // No body at all.
        r = send("POST", "/api/multisync", "", "");
        CPPUNIT_ASSERT_EQUAL(100004, codeOf(r.body));
    }

    void testBadJson() {
        for (const char* bad :
             {"{\"guid\":\"x\",", "not json", "{\"guid\":\"x\",\"api\":{}} trailing", ""}) {
            Reply r = postForm("/api/multisync", bad);
            CPPUNIT_ASSERT_EQUAL(200, r.status);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(bad, 100004, codeOf(r.body));
            CPPUNIT_ASSERT_MESSAGE(r.body, r.body.find("not valid JSON") != std::string::npos);
        }
        Reply r = send("POST", "/api/multisync", "application/json", "{\"guid\":");
        CPPUNIT_ASSERT_EQUAL(100004, codeOf(r.body));
    }

    void testMissingOrWrongFields() {
        const std::string ok = apiCall("echo", "1");
        for (const std::string& p :
             {std::string("[1,2]"), std::string("\"text\""),
              "{\"api\":{\"a\":" + ok + "}}",             // no guid
              "{\"guid\":7,\"api\":{\"a\":" + ok + "}}",  // guid not a string
              std::string("{\"guid\":\"g\"}"),            // no api
              std::string("{\"guid\":\"g\",\"api\":{}}"), // empty api
              std::string("{\"guid\":\"g\",\"api\":\"echo\"}"),
              std::string("{\"guid\":\"g\",\"api\":{\"a\":{\"param\":1}}}"), // no name
              std::string("{\"guid\":\"g\",\"api\":{\"a\":{\"name\":\"\"}}}")}) {
            Reply r = postForm("/api/multisync", p);
            CPPUNIT_ASSERT_EQUAL(200, r.status);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(p + " -> " + r.body, 100004, codeOf(r.body));
        }
        Reply r = postForm("/server/cmd", R"({"guid":"g","api":{"x":{"name":"getStat"}}})");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.body, 100004, codeOf(r.body));
        // Once the guid could be read, the refusal carries it.
        std::string g = newGuid();
        r = postForm("/api/multisync", "{\"guid\":\"" + g + "\",\"api\":{\"a\":{\"param\":1}}}");
        CPPUNIT_ASSERT_EQUAL(
            answer(g, 100004,
                   "Parameter was not set or wrong: call 'a' has no api name (key 'name')", "[]"),
            r.body);
    }

    void testTooManyCalls() {
        std::string g = newGuid();
        std::string api = "{";
        for (int i = 0; i < 6; ++i)
            api += std::string(i ? "," : "") + "\"k" + std::to_string(i) +
                   "\":" + apiCall("echo", "1");
        api += "}";
        for (const char* path : {"/api/multisync", "/api/multinoresult"}) {
            Reply r = postForm(path, paramsJson(g, api));
            CPPUNIT_ASSERT_EQUAL(
                answer(g, 100205, "too many calls in one request: 6 (limit 5)", "[]"), r.body);
        }
    }

    void testWrongMethod405() {
        for (const char* m : {"GET", "PUT", "DELETE"}) {
            Reply r = send(m, "/api/multisync", "", "");
            CPPUNIT_ASSERT_EQUAL(405, r.status);
            CPPUNIT_ASSERT_EQUAL(std::string("POST"), r.allow);
            CPPUNIT_ASSERT_EQUAL(kJson, r.contentType);
            CPPUNIT_ASSERT_EQUAL(100004, codeOf(r.body));
        }
    }

    void testUnknownPath404() {
        for (const char* p : {"/", "/api/multi", "/api/multisync/extra", "/server/cmdx"}) {
            Reply r = postForm(p, paramsJson("g", "{\"a\":" + apiCall("echo", "1") + "}"));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(p, 404, r.status);
            CPPUNIT_ASSERT_EQUAL(kJson, r.contentType);
            CPPUNIT_ASSERT_EQUAL(100002, codeOf(r.body));
        }
        CPPUNIT_ASSERT_EQUAL(404, send("GET", "/favicon.ico", "", "").status);
    }

    void testHugeBodyDeclared413() {
        // A real body over max_frame_bytes, sent with its length.
        std::string big = "params=" + std::string(kMaxBody + 10, 'x');
        Reply r = send("POST", "/api/multisync", "application/x-www-form-urlencoded", big);
        CPPUNIT_ASSERT_EQUAL(413, r.status);
        CPPUNIT_ASSERT_EQUAL(kJson, r.contentType);
        CPPUNIT_ASSERT_EQUAL(100007, codeOf(r.body));
        // Just under the limit is read (and then judged on its content).
        r = send("POST", "/api/multisync", "application/x-www-form-urlencoded",
                 big.substr(0, kMaxBody - 10));
        CPPUNIT_ASSERT_EQUAL(200, r.status);
        CPPUNIT_ASSERT_EQUAL(100004, codeOf(r.body));
        // The host is fine afterwards.
        std::string g = newGuid();
        r = postForm("/api/multisync", paramsJson(g, "{\"k\":" + apiCall("echo", "1") + "}"));
        CPPUNIT_ASSERT_EQUAL(answer(g, 0, "OK", "{\"k\":" + answer(g, 0, "OK", "1") + "}"), r.body);
    }

    void testHugeBodyChunked413() {
        // No length declared: refused once the bytes read pass the limit.
        Poco::Net::HTTPClientSession s("127.0.0.1", gateway().httpPort());
        HTTPRequest req(HTTPRequest::HTTP_POST, "/api/multisync", HTTPRequest::HTTP_1_1);
        req.setChunkedTransferEncoding(true);
        req.setContentType("application/json");
        std::ostream& out = s.sendRequest(req);
        std::string block(8192, ' ');
        for (std::size_t sent = 0; sent <= kMaxBody + block.size(); sent += block.size())
            out << block;
        Reply r = receive(s);
        CPPUNIT_ASSERT_EQUAL(413, r.status);
        CPPUNIT_ASSERT_EQUAL(100007, codeOf(r.body));
    }

    void testCurlMultisyncTranscript() {
        std::string g = "5d41402abc4b2a76b9719d911017c592"; // md5("hello")
        std::string json = paramsJson(g, "{\"hi\":" + apiCall("echo", R"({"say":"hi","n":1})") +
                                             ",\"who\":" + apiCall("version", "[]") + "}");
        std::string cmd = "curl -sS -v --data-urlencode 'params=" + json +
                          "' http://127.0.0.1:" + std::to_string(gateway().httpPort()) +
                          "/api/multisync 2>&1";
        std::FILE* p = ::popen(cmd.c_str(), "r");
        CPPUNIT_ASSERT(p);
        std::string transcript;
        char buf[4096];
        while (std::size_t n = std::fread(buf, 1, sizeof buf, p))
            transcript.append(buf, n);
        int rc = ::pclose(p);
        std::cout << "\n--- $ " << cmd << "\n" << transcript << "\n---" << std::endl;
        CPPUNIT_ASSERT_EQUAL(0, rc);
        CPPUNIT_ASSERT(transcript.find("< HTTP/1.1 200 OK") != std::string::npos);
        std::string expect = answer(g, 0, "OK",
                                    "{\"hi\":" + answer(g, 0, "OK", R"({"say":"hi","n":1})") +
                                        ",\"who\":" + answer(g, 0, "OK", "\"1.0.0\"") + "}");
        CPPUNIT_ASSERT_MESSAGE(transcript, transcript.find(expect) != std::string::npos);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(HttpGatewayTest);
