// dora top against the real host while a load runs: --once --json gives
// the route's rate, and the live view, run in a real terminal (a private
// tmux server), shows the route under load and quits on q.
#include "common/TestSupport.h"

#include <dora/sdk/value.h>
#include <dora/wire/Json.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <sstream>
#include <thread>

using dora::sdk::Value;
using namespace dora::test;

namespace {

/// Runs a shell command; returns its exit status and fills out with its output.
int run(const std::string& cmd, std::string& out) {
    out.clear();
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (!p) throw std::runtime_error("popen failed: " + cmd);
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int status = ::pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// Echo calls on one connection until stopped.
class Load {
public:
    explicit Load(std::uint16_t port) : _port(port), _thread([this] { loop(); }) {}
    ~Load() {
        _stop = true;
        _thread.join();
    }
    std::uint64_t calls() const { return _calls.load(); }

private:
    void loop() {
        WireClient c(_port);
        Value param = Value::array();
        param.set("say", "hi");
        while (!_stop) {
            callV1(c, "SSS", oneCall("echo", param), newGuid());
            ++_calls;
        }
    }
    std::uint16_t _port;
    std::atomic<bool> _stop{false};
    std::atomic<std::uint64_t> _calls{0};
    std::thread _thread;
};

std::string doraBin() { return buildDir() + "/bin/dora"; }

/// The REQ/S column of route's line in a `dora top` screen; -1 if absent.
double rateOnScreen(const std::string& screen, const std::string& route) {
    std::istringstream in(screen);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream cells(line);
        std::string name;
        double rps = -1;
        if (cells >> name && name == route && cells >> rps) return rps;
    }
    return -1;
}

} // namespace

class TopTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(TopTest);
    CPPUNIT_TEST(testOnceJsonUnderLoad);
    CPPUNIT_TEST(testLiveViewInTmuxQuitsOnQ);
    CPPUNIT_TEST_SUITE_END();

public:
    void testOnceJsonUnderLoad() {
        HostProcess host;
        Load load(host.port());
        CPPUNIT_ASSERT(waitUntil([&] { return load.calls() > 0; }));
        std::string out;
        int rc = run(doraBin() + " top --once --json --interval 500 --server 127.0.0.1:" + std::to_string(host.port()), out);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 0, rc);
        Value v = dora::wire::fromJson(out);
        const Value* echo = v.find("routes")->find("echo");
        CPPUNIT_ASSERT_MESSAGE(out, echo != nullptr);
        CPPUNIT_ASSERT_MESSAGE(out, echo->find("requests_per_sec")->asFloat() > 0);
        CPPUNIT_ASSERT_MESSAGE(out, echo->find("requests")->asInt() > 0);
        CPPUNIT_ASSERT_MESSAGE(out, echo->find("p99_ms_at_most") != nullptr);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(4), v.find("pool")->find("workers")->asInt());
        CPPUNIT_ASSERT(v.find("routes")->find("add_user") == nullptr); // never called: not shown
        // Bad usage is refused.
        CPPUNIT_ASSERT_EQUAL(2, run(doraBin() + " top --json --server 127.0.0.1:" + std::to_string(host.port()), out));
    }

    void testLiveViewInTmuxQuitsOnQ() {
        HostProcess host;
        Load load(host.port());
        const std::string tmux = "tmux -L dora-top-" + std::to_string(::getpid());
        struct Cleanup {
            std::string tmux;
            ~Cleanup() {
                std::string ignored;
                run(tmux + " kill-server", ignored);
            }
        } cleanup{tmux};
        std::string out;
        CPPUNIT_ASSERT_EQUAL_MESSAGE(out, 0,
                                     run(tmux + " new-session -d -s top -x 120 -y 30 '" + doraBin() +
                                             " top --server 127.0.0.1:" + std::to_string(host.port()) + "'",
                                         out));
        std::string screen;
        bool shown = waitUntil(
            [&] {
                run(tmux + " capture-pane -p -t top", screen);
                return rateOnScreen(screen, "echo") > 0;
            },
            20000);
        CPPUNIT_ASSERT_MESSAGE("screen:\n" + screen, shown);
        CPPUNIT_ASSERT_MESSAGE(screen, screen.find("REQ/S") != std::string::npos &&
                                           screen.find("pool: ") != std::string::npos);
        run(tmux + " send-keys -t top q", out);
        bool quit = waitUntil([&] { return run(tmux + " has-session -t top", out) != 0; }, 10000);
        CPPUNIT_ASSERT_MESSAGE("dora top did not quit on q", quit);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(TopTest);
