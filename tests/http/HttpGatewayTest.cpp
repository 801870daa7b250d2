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
