// tests/frontends/TcpFrontEndTest.cpp — frontends::TcpFrontEnd over one real
// net::EventLoop on a loopback listener (port 0), with a real request
// runner, task pool and control commands, and a route table built by hand
// (the test's own C handler; no .so, no MySQL, no host process). Each
// answer is compared whole with what the protocol encoder makes of the
// outcome the front end should have reached, so a wrong code, text, guid
// or frame shows. Conditions are waited for with generous deadlines;
// nothing asserts a duration.
#include "frontends/TcpFrontEnd.h"
#include "plugins/HostApi.h"
#include "protocol/Codes.h"

#include <dora/sdk/serialize.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using dora::dispatch::ControlCommands;
using dora::dispatch::ControlHooks;
using dora::dispatch::RequestRunner;
using dora::frontends::TcpFrontEnd;
using dora::frontends::TcpOptions;
using dora::plugins::LoadedPlugin;
using dora::plugins::Route;
using dora::plugins::RouteTable;
using dora::protocol::Addressee;
using dora::protocol::CallOutcome;
using dora::protocol::Frame;
using dora::protocol::FrameOptions;
using dora::protocol::Generation;
using dora::protocol::ParseStatus;
using dora::sdk::Value;
namespace code = dora::protocol::code;

namespace {

constexpr int kDeadlineMs = 20000;
const std::string kGuid = "0123456789abcdef0123456789abcdef";

const dora_host_api& api() { return *dora::plugins::hostApi(); }

/// A gate the echo handler waits at, and how many calls entered it.
struct Gate {
    std::mutex m;
    std::condition_variable cv;
    bool open = true;
    std::atomic<int> entered{0};
    void set(bool o) {
        std::lock_guard<std::mutex> lock(m);
        open = o;
        cv.notify_all();
    }
};

std::int32_t echoHandler(void* user, dora_ctx*, dora_call* call) {
    auto& g = *static_cast<Gate*>(user);
    ++g.entered;
    {
        std::unique_lock<std::mutex> lock(g.m);
        g.cv.wait(lock, [&] { return g.open; });
    }
    return api().call_set_result(call, api().call_params(call));
}

const dora_plugin_info kFakeInfo = {
    sizeof(dora_plugin_info), DORA_ABI_MAJOR, DORA_ABI_MINOR, "fake", "test", nullptr, nullptr};

/// A request body as a PHP client sends it: one call (type SSS, SRS, ...).
std::string body(const std::string& type, const std::string& apiName, const Value& param) {
    Value one = Value::array();
    one.set("name", apiName);
    one.set("param", param);
    Value calls = Value::array();
    calls.set("one", std::move(one));
    Value b = Value::array();
    b.set("guid", kGuid);
    b.set("type", type);
    b.set("api", std::move(calls));
    return dora::sdk::serialize(b);
}

std::string frameOf(const std::string& b) {
    std::string out;
    dora::protocol::appendFrame(out, Generation::V1, {}, b, FrameOptions{});
    return out;
}

/// The body of the one frame in `frame`.
std::string bodyOf(const std::string& frame) {
    Frame f;
    std::size_t used = 0;
    if (dora::protocol::parseFrame(frame, FrameOptions{}, f, used) != ParseStatus::Ok ||
        used != frame.size())
        throw std::runtime_error("the expected answer is not one frame");
    return std::string(f.body);
}

const Addressee kTo{Generation::V1, kGuid};

std::string resultBody(const CallOutcome& o) {
    std::string f;
    dora::protocol::appendSingleAnswer(f, kTo, o, dora::protocol::EncodeOptions{}, false);
    return bodyOf(f);
}

std::string statusBody(int c, const std::string& msg, const Addressee& to = kTo) {
    std::string f;
    dora::protocol::appendStatusAnswer(f, to, c, msg, Value(), dora::protocol::EncodeOptions{});
    return bodyOf(f);
}

/// A blocking client with bounded reads.
class Client {
public:
    explicit Client(std::uint16_t port) {
        _fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
            throw std::runtime_error("connect to the test listener failed");
    }
    ~Client() { ::close(_fd); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    void send(const std::string& bytes) {
        std::size_t off = 0;
        while (off < bytes.size()) {
            ssize_t n = ::send(_fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
            if (n <= 0) throw std::runtime_error("send failed");
            off += static_cast<std::size_t>(n);
        }
    }
    /// Bodies of up to `count` frames (fewer on EOF or the deadline).
    std::vector<std::string> read(std::size_t count, int ms = kDeadlineMs) {
        std::vector<std::string> bodies;
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        for (;;) {
            Frame f;
            std::size_t used = 0;
            while (bodies.size() < count &&
                   dora::protocol::parseFrame(_in, FrameOptions{}, f, used) == ParseStatus::Ok) {
                bodies.emplace_back(f.body);
                _in.erase(0, used);
            }
            if (bodies.size() == count) return bodies;
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                end - std::chrono::steady_clock::now());
            pollfd p{_fd, POLLIN, 0};
            if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0)
                return bodies;
            char buf[65536];
            ssize_t n = ::recv(_fd, buf, sizeof buf, 0);
            if (n <= 0) {
                _eof = true;
                return bodies;
            }
            _in.append(buf, static_cast<std::size_t>(n));
        }
    }
    /// True once the server closed the connection (within the deadline).
    bool closed(int ms = kDeadlineMs) {
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (!_eof && std::chrono::steady_clock::now() < end)
            read(1000, 50);
        return _eof;
    }

private:
    int _fd = -1;
    std::string _in;
    bool _eof = false;
};

/// The front end on one loop, over a runner with one worker and routes
/// "echo" (pooled, behind the gate) and "inline_echo" (inline).
struct Harness {
    dora::stats::Stats stats;
    Gate gate, inlineGate; ///< the pooled route's, the inline route's (left open)
    std::atomic<bool> draining{false};
    dora::workers::TaskPool pool{1, 100};
    RequestRunner runner{pool, nullptr, stats};
    ControlCommands control{ControlHooks{}};
    std::unique_ptr<TcpFrontEnd> front;
    int listenFd = -1;
    std::uint16_t port = 0;
    std::unique_ptr<dora::net::EventLoop> loop;

    explicit Harness(const std::function<void(TcpOptions&)>& tune = {}) {
        auto plugin = std::make_shared<LoadedPlugin>("(test)", nullptr, &kFakeInfo, -1);
        auto table = std::make_shared<RouteTable>();
        for (const char* name : {"echo", "inline_echo"}) {
            auto r = std::make_unique<Route>();
            r->spec.api = name;
            r->spec.handler = name;
            r->spec.inlineRun = std::string(name) == "inline_echo";
            r->handler = dora::plugins::Handler{&echoHandler, nullptr,
                                                r->spec.inlineRun ? &inlineGate : &gate};
            r->plugin = plugin;
            r->routeFile = "(test)";
            r->counter = stats.route(name);
            table->add(std::move(r));
        }
        runner.setRoutes(table);
        TcpOptions opt;
        opt.draining = &draining;
        if (tune) tune(opt);
        front = std::make_unique<TcpFrontEnd>(opt, runner, control, stats, 1);
        listenFd = dora::net::listenTcp("127.0.0.1", 0);
        port = dora::net::boundPort(listenFd);
        dora::net::LoopOptions lo;
        lo.frame.maxFrameBytes = 64 * 1024;
        loop = std::make_unique<dora::net::EventLoop>(0, listenFd, lo, *front);
        loop->start();
    }
    ~Harness() {
        gate.set(true);
        loop->stop();
        loop.reset();
        ::close(listenFd);
    }
};

bool waitFor(const std::function<bool()>& cond, int ms = kDeadlineMs) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!cond()) {
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
}

std::string sstr(const std::string& s) { return dora::sdk::serialize(Value(s)); }

} // namespace

class TcpFrontEndTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(TcpFrontEndTest);
    CPPUNIT_TEST(testPooledCallIsAnsweredFromTheWorker);
    CPPUNIT_TEST(testInlineCallIsAnsweredOnTheLoop);
    CPPUNIT_TEST(testUnroutedCallIsRefusedWhole);
    CPPUNIT_TEST(testUndecodableBodyIsAnsweredWithTheDecodersVerdict);
    CPPUNIT_TEST(testDrainingRefusesNewRequests);
    CPPUNIT_TEST(testInflightLimitPerConnection);
    CPPUNIT_TEST(testNoResultCallWithoutAQueueIsRefused);
    CPPUNIT_TEST(testOversizedFrameIsRefusedAndClosed);
    CPPUNIT_TEST_SUITE_END();

public:
    void testPooledCallIsAnsweredFromTheWorker() {
        Harness h;
        Client c(h.port);
        c.send(frameOf(body("SSS", "echo", Value("hello"))));
        auto got = c.read(1);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), got.size());
        CPPUNIT_ASSERT_EQUAL(resultBody(CallOutcome{0, "", sstr("hello")}), got[0]);
        CPPUNIT_ASSERT_EQUAL(1, h.gate.entered.load());
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), h.stats.route("echo")->snapshot().settled);
    }

    /// Inline: answered in the round that read it, even with the pool's
    /// only worker held.
    void testInlineCallIsAnsweredOnTheLoop() {
        Harness h;
        Client c(h.port);
        h.gate.set(false);
        c.send(frameOf(body("SSS", "echo", Value("held"))));
        CPPUNIT_ASSERT(
            waitFor([&] { return h.gate.entered.load() == 1; })); // the only worker is held
        c.send(frameOf(body("SSS", "inline_echo", Value("now"))));
        auto got = c.read(1);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), got.size());
        CPPUNIT_ASSERT_EQUAL(resultBody(CallOutcome{0, "", sstr("now")}), got[0]);
        CPPUNIT_ASSERT_EQUAL(1, h.inlineGate.entered.load());
        h.gate.set(true);
        got = c.read(1);
        CPPUNIT_ASSERT_EQUAL(resultBody(CallOutcome{0, "", sstr("held")}), got.at(0));
    }

    void testUnroutedCallIsRefusedWhole() {
        Harness h;
        Client c(h.port);
        c.send(frameOf(body("SSS", "nope", Value())));
        auto got = c.read(1);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), got.size());
        CPPUNIT_ASSERT_EQUAL(statusBody(code::kNoSuchRoute, "no such route: 'nope'"), got[0]);
        CPPUNIT_ASSERT_EQUAL(0, h.gate.entered.load());
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), h.stats.unrouted.requests.load());
    }

    void testUndecodableBodyIsAnsweredWithTheDecodersVerdict() {
        Harness h;
        Client c(h.port);
        const std::string bad = "a:1:{s:4:\"type\";s:3:\"XXX\";}";
        c.send(frameOf(bad));
        auto got = c.read(1);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), got.size());
        CPPUNIT_ASSERT_EQUAL(statusBody(code::kUnknownType, "unknow task type.未知类型任务",
                                        Addressee{Generation::V1, ""}),
                             got[0]);
        // The connection stays usable.
        c.send(frameOf(body("SSS", "echo", Value("after"))));
        got = c.read(1);
        CPPUNIT_ASSERT_EQUAL(resultBody(CallOutcome{0, "", sstr("after")}), got.at(0));
    }

    void testDrainingRefusesNewRequests() {
        Harness h;
        h.draining = true;
        Client c(h.port);
        c.send(frameOf(body("SSS", "echo", Value("x"))));
        auto got = c.read(1);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), got.size());
        CPPUNIT_ASSERT_EQUAL(
            statusBody(
                code::kShuttingDown,
                "server shutting down: not accepted, nothing was run; send it to another server"),
            got[0]);
        CPPUNIT_ASSERT_EQUAL(0, h.gate.entered.load());
    }

    /// Over the connection's limit a request is answered at once; the ones
    /// in flight still get their answers.
    void testInflightLimitPerConnection() {
        Harness h([](TcpOptions& o) { o.maxInflightPerConnection = 1; });
        h.gate.set(false);
        Client c(h.port);
        c.send(frameOf(body("SSS", "echo", Value("first"))) +
               frameOf(body("SSS", "echo", Value("second"))));
        auto got = c.read(1);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), got.size());
        CPPUNIT_ASSERT_EQUAL(statusBody(code::kTooManyInflight,
                                        "too many requests in flight on this connection (limit 1)"),
                             got[0]);
        h.gate.set(true);
        got = c.read(1);
        CPPUNIT_ASSERT_EQUAL(resultBody(CallOutcome{0, "", sstr("first")}), got.at(0));
        CPPUNIT_ASSERT_EQUAL(1, h.gate.entered.load());
    }

    void testNoResultCallWithoutAQueueIsRefused() {
        Harness h;
        Client c(h.port);
        c.send(frameOf(body("SRS", "echo", Value("x"))));
        auto got = c.read(1);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), got.size());
        CPPUNIT_ASSERT_EQUAL(
            statusBody(code::kQueueUnavailable,
                       "asynchronous calls are not available: no durable task queue is configured"),
            got[0]);
        CPPUNIT_ASSERT_EQUAL(0, h.gate.entered.load());
    }

    void testOversizedFrameIsRefusedAndClosed() {
        Harness h;
        Client c(h.port);
        // The header is enough: its length is over the loop's cap (64 KiB).
        c.send(frameOf(body("SSS", "echo", Value(std::string(100 * 1024, 'x')))).substr(0, 64));
        auto got = c.read(1);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), got.size());
        CPPUNIT_ASSERT_EQUAL(
            statusBody(code::kPacketLengthInvalid,
                       "packet length invalid 包长度非法: frame larger than 2097152 bytes",
                       Addressee{Generation::V1, ""}),
            got[0]);
        CPPUNIT_ASSERT(c.closed());
        CPPUNIT_ASSERT_EQUAL(0, h.gate.entered.load());
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(TcpFrontEndTest);
