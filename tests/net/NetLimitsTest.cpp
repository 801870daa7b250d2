// tests/net/NetLimitsTest.cpp — what a hostile or careless client can make
// the host hold (issue 16), against the real host over loopback: each test
// asserts the documented code or close, the host's RSS (/proc/<pid>/status)
// and that a well-behaved client kept being answered with a loose latency
// bound (timing itself belongs in the bench).
#include "common/HostSampling.h"
#include "common/TestSupport.h"

#include <dora/wire/Frame.h>
#include <dora/wire/Json.h>

#include <dora/sdk/serialize.h>

#include <cppunit/extensions/HelperMacros.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <vector>

using dora::sdk::Value;
using namespace dora::test;

namespace {

/// The RSS bounds hold for the host as shipped. In a sanitizer build (the
/// asan and tsan passes of scripts/test.sh) the allocator is the
/// sanitizer's (ASan keeps freed blocks in quarantine, both add shadow
/// memory), so there RSS is printed and not asserted: those passes check
/// these paths for memory errors and races, the normal pass checks the
/// bounds. Everything else is asserted in every build.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kShippedAllocator = false;
#else
constexpr bool kShippedAllocator = true;
#endif
/// The well-behaved client's p99 bound: 500 ms as shipped; an instrumented
/// host does the same work several times slower (the 200k-element JSON
/// answer: p99 1.2 s in the asan pass), so there the bound is 4x.
constexpr double kGoodP99Ms = kShippedAllocator ? 500 : 2000;

using Clock = std::chrono::steady_clock;

/// utime + stime of a process, in seconds.
double cpuSec(int pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::istringstream in(all.substr(all.rfind(')') + 2));
    std::string field;
    long long ticks = 0;
    for (int i = 3; i <= 15 && in >> field; ++i)
        if (i == 14 || i == 15) ticks += std::stoll(field);
    return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

int openFds(int pid) {
    int n = 0;
    if (DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
        while (dirent* e = readdir(d))
            if (e->d_name[0] != '.') ++n;
        closedir(d);
    }
    return n;
}

rlim_t softNoFile(int pid) {
    rlimit rl{};
    prlimit(pid, RLIMIT_NOFILE, nullptr, &rl);
    return rl.rlim_cur;
}

/// This runner opens thousands of sockets: soft limit up to the hard one.
void raiseOwnNoFile() {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

int rawConnect(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        int e = errno;
        ::close(fd);
        throw std::runtime_error(std::string("connect: ") + std::strerror(e));
    }
    return fd;
}

/// True once the peer closed or reset fd (without reading what waits).
bool peerGone(int fd) {
    pollfd p{fd, POLLRDHUP, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

void sendAll(int fd, const std::string& b) {
    std::size_t off = 0;
    while (off < b.size()) {
        ssize_t n = ::send(fd, b.data() + off, b.size() - off, MSG_NOSIGNAL);
        if (n <= 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
        off += static_cast<std::size_t>(n);
    }
}

/// Reads one frame's payload from a blocking fd; throws on close/timeout.
std::string readFrameFd(int fd, int timeoutMs = 10000) {
    std::string buf;
    auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
    for (;;) {
        if (buf.size() >= 4) {
            const auto* u = reinterpret_cast<const unsigned char*>(buf.data());
            std::uint32_t len = (std::uint32_t(u[0]) << 24) | (std::uint32_t(u[1]) << 16) |
                                (std::uint32_t(u[2]) << 8) | u[3];
            if (buf.size() >= 4 + len) return buf.substr(4, len);
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) throw std::runtime_error("timed out waiting for a frame");
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
        char tmp[65536];
        ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0) throw std::runtime_error("connection closed by the host");
        buf.append(tmp, static_cast<std::size_t>(n));
    }
}

std::string smallEcho() {
    Value p = Value::array();
    p.set("n", 1);
    return v1Frame(v1Request(newGuid(), "SSS", oneCall("echo", p)));
}

/// Sends smallEcho on fd and checks the answer's code is 0.
bool echoes(int fd, int timeoutMs = 10000) {
    try {
        sendAll(fd, smallEcho());
        Value a = dora::sdk::unserialize(readFrameFd(fd, timeoutMs));
        const Value* c = a.find("code");
        return c && c->asInt() == 0;
    } catch (const std::exception&) {
        return false;
    }
}

/// A v2 frame: length, guid header, body.
std::string v2Frame(const std::string& guid, const std::string& body) {
    return v1Frame(guid + body);
}

/// The code of a v2 answer payload (guid header + PHP body, maybe gzip).
std::int64_t v2Code(const std::string& payload) {
    std::string body = payload.substr(32);
    std::string plain;
    if (body.size() > 2 && static_cast<unsigned char>(body[0]) == 0x1f &&
        dora::wire::gzipDecode(body, 64 << 20, plain))
        body = plain;
    Value v = dora::sdk::unserialize(body);
    if (const Value* c = v.find("code")) return c->asInt();
    if (const Value* c = v.find(1)) return c->asInt();
    return -1;
}

} // namespace

class NetLimitsTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(NetLimitsTest);
    CPPUNIT_TEST(testNeverReadingClientIsBoundedAndClosed);
    CPPUNIT_TEST(testSlowSendersClosedAfterFrameTimeout);
    CPPUNIT_TEST(testRaisesOpenFilesSoftLimit);
    CPPUNIT_TEST(testRefusesToStartWhenHardLimitTooLow);
    CPPUNIT_TEST(testBeyondMaxConnectionsClosedAtOnce);
    CPPUNIT_TEST(testOutOfDescriptorsDoesNotSpin);
    CPPUNIT_TEST(testTenThousandIdleConnections);
    CPPUNIT_TEST(testGzipSecondMemberRefused);
    CPPUNIT_TEST(testBigJsonArrayBounded);
    CPPUNIT_TEST_SUITE_END();

public:
    void setUp() override { raiseOwnNoFile(); }

    /// Two clients pipeline ~2 MiB echos and never read: the host stops
    /// reading them at server.max_output_bytes, its RSS stays bounded, it
    /// closes them after output_stall_timeout_sec and gives the memory back;
    /// a good client is answered throughout.
    void testNeverReadingClientIsBoundedAndClosed() {
        HostProcess::Options o;
        o.serverYaml = "  max_output_bytes: 8MiB\n  output_stall_timeout_sec: 3\n";
        HostProcess host(o);
        {
            WireClient warm(host.port());
            for (int i = 0; i < 20; ++i) callV1(warm, "SSS", oneCall("echo", Value("x")));
        }
        long base = rssKb(host.pid());
        RssSampler rss(host.pid());
        GoodClient good(host.port());

        Value big = Value(std::string(1900 * 1024, 'b'));
        const std::string frame = v1Frame(v1Request(newGuid(), "SSS", oneCall("echo", big)));
        std::atomic<int> closed{0};
        std::atomic<std::size_t> sentFrames{0};
        std::atomic<bool> stop{false};
        auto bad = [&] {
            int fd = rawConnect(host.port());
            fcntl(fd, F_SETFL, O_NONBLOCK);
            std::size_t off = 0;
            auto t0 = Clock::now();
            while (!stop && Clock::now() - t0 < std::chrono::seconds(60)) {
                pollfd p{fd, POLLOUT | POLLRDHUP, 0};
                ::poll(&p, 1, 100);
                if (p.revents & (POLLHUP | POLLERR | POLLRDHUP)) break;
                if (!(p.revents & POLLOUT)) continue;
                ssize_t n = ::send(fd, frame.data() + off, frame.size() - off, MSG_NOSIGNAL);
                if (n < 0 && errno != EAGAIN && errno != EINTR) break;
                if (n > 0) {
                    off += static_cast<std::size_t>(n);
                    if (off == frame.size()) {
                        off = 0;
                        ++sentFrames;
                    }
                }
            }
            if (peerGone(fd) || !stop) ++closed;
            ::close(fd);
        };
        std::thread b1(bad), b2(bad);
        auto t0 = Clock::now();
        bool bothClosed = waitUntil([&] { return closed.load() == 2; }, 45000);
        double closedAfter = std::chrono::duration<double>(Clock::now() - t0).count();
        stop = true;
        b1.join();
        b2.join();
        long peak = rss.peakKb();
        // Memory is handed back once they are gone.
        long after = 0;
        bool shrank = !kShippedAllocator ||
                      waitUntil([&] { return (after = rssKb(host.pid())) < base + 48 * 1024; }, 15000);
        good.stop();
        std::cout << "\n  never-reading x2: base " << base / 1024 << " MB, peak " << peak / 1024
                  << " MB, after " << after / 1024 << " MB, closed after " << closedAfter << " s, "
                  << sentFrames << " frames sent; good client " << good.calls() << " calls, p99 "
                  << good.p99Ms() << " ms" << std::endl;
        CPPUNIT_ASSERT_MESSAGE("never-reading clients not closed", bothClosed);
        CPPUNIT_ASSERT_MESSAGE("peak RSS " + std::to_string(peak / 1024) + " MB",
                               !kShippedAllocator || peak < base + 160 * 1024);
        CPPUNIT_ASSERT_MESSAGE("RSS not given back: " + std::to_string(after / 1024) + " MB",
                               !kShippedAllocator || shrank);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(good.lastError(), std::size_t(0), good.failures());
        CPPUNIT_ASSERT(good.calls() > 10);
        CPPUNIT_ASSERT_MESSAGE("good client p99 " + std::to_string(good.p99Ms()), good.p99Ms() < kGoodP99Ms);
        CPPUNIT_ASSERT(host.log().find("answers not read for 3 s") != std::string::npos);
    }

    /// 1,000 slow senders: half send a frame header and nothing more, half
    /// one byte a second. All are closed after server.frame_timeout_sec;
    /// the good client does not notice them.
    void testSlowSendersClosedAfterFrameTimeout() {
        HostProcess::Options o;
        o.serverYaml = "  frame_timeout_sec: 2\n";
        HostProcess host(o);
        long base = rssKb(host.pid());
        RssSampler rss(host.pid());
        GoodClient good(host.port());
        const int kSlow = 1000;
        std::vector<int> fds;
        std::vector<Clock::time_point> firstByte;
        const std::string header("\0\0\0\x64", 4); // announces 100 bytes
        for (int i = 0; i < kSlow; ++i) {
            int fd = rawConnect(host.port());
            sendAll(fd, i % 2 ? header : header.substr(0, 1));
            fds.push_back(fd);
            firstByte.push_back(Clock::now());
        }
        std::vector<double> closedAt(kSlow, -1);
        auto t0 = Clock::now();
        int done = 0;
        std::size_t next = 1; // the dribblers' next header byte
        auto lastDribble = Clock::now();
        bool all = waitUntil([&] {
            if (Clock::now() - lastDribble >= std::chrono::seconds(1)) {
                lastDribble = Clock::now();
                for (int i = 0; i < kSlow; i += 2)
                    if (closedAt[i] < 0)
                        ::send(fds[i], next < 4 ? &header[next] : "a", 1, MSG_NOSIGNAL);
                ++next;
            }
            for (int i = 0; i < kSlow; ++i)
                if (closedAt[i] < 0 && peerGone(fds[i])) {
                    closedAt[i] = std::chrono::duration<double>(Clock::now() - firstByte[i]).count();
                    ++done;
                }
            return done == kSlow;
        }, 20000);
        double took = std::chrono::duration<double>(Clock::now() - t0).count();
        good.stop();
        for (int fd : fds) ::close(fd);
        double earliest = *std::min_element(closedAt.begin(), closedAt.end());
        std::cout << "\n  slow senders x" << kSlow << ": closed " << done << " in " << took
                  << " s (earliest " << earliest << " s after its first byte), RSS base "
                  << base / 1024 << " MB peak " << rss.peakKb() / 1024 << " MB; good client "
                  << good.calls() << " calls, p99 " << good.p99Ms() << " ms" << std::endl;
        CPPUNIT_ASSERT_MESSAGE("slow senders still open: " + std::to_string(kSlow - done), all);
        CPPUNIT_ASSERT_MESSAGE("closed before frame_timeout_sec", earliest >= 1.9);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(good.lastError(), std::size_t(0), good.failures());
        CPPUNIT_ASSERT(good.calls() > 10);
        CPPUNIT_ASSERT_MESSAGE("good client p99 " + std::to_string(good.p99Ms()), good.p99Ms() < kGoodP99Ms);
        CPPUNIT_ASSERT(!kShippedAllocator || rss.peakKb() < base + 64 * 1024);
        // Logged at most once a second, not once per connection.
        CPPUNIT_ASSERT(count(host.log(), "no complete frame") <= static_cast<std::size_t>(took) + 2);
    }

    /// Started from a shell with the stock soft limit of 1024, the host
    /// raises it to what server.max_connections needs, says so, and holds
    /// more than 1,024 connections without spinning.
    void testRaisesOpenFilesSoftLimit() {
        rlimit own{};
        getrlimit(RLIMIT_NOFILE, &own);
        rlimit low = own;
        low.rlim_cur = 1024;
        setrlimit(RLIMIT_NOFILE, &low); // the host inherits it
        HostProcess::Options o;
        o.serverYaml = "  max_connections: 3000\n";
        std::unique_ptr<HostProcess> host;
        try {
            host = std::make_unique<HostProcess>(o);
        } catch (...) {
            setrlimit(RLIMIT_NOFILE, &own);
            throw;
        }
        setrlimit(RLIMIT_NOFILE, &own);
        CPPUNIT_ASSERT_MESSAGE(host->log(), host->log().find("open-files limit raised from 1024 to") != std::string::npos);
        CPPUNIT_ASSERT(softNoFile(host->pid()) >= 3000);
        double cpu0 = cpuSec(host->pid());
        std::vector<int> fds;
        for (int i = 0; i < 1500; ++i) fds.push_back(rawConnect(host->port()));
        int answered = 0;
        for (int fd : fds) answered += echoes(fd) ? 1 : 0;
        double cpu = cpuSec(host->pid()) - cpu0;
        for (int fd : fds) ::close(fd);
        std::cout << "\n  soft limit 1024 -> " << softNoFile(host->pid()) << ", " << answered
                  << "/1500 answered, host CPU " << cpu << " s" << std::endl;
        CPPUNIT_ASSERT_EQUAL(1500, answered);
        CPPUNIT_ASSERT_MESSAGE("host CPU " + std::to_string(cpu), cpu < 5.0);
        CPPUNIT_ASSERT(host->log().find("out of file descriptors") == std::string::npos);
    }

    /// A hard limit below what the host needs at a minimum: it refuses to
    /// start, with one sentence, instead of failing later.
    void testRefusesToStartWhenHardLimitTooLow() {
        char tmpl[] = "/tmp/dora-net-XXXXXX";
        CPPUNIT_ASSERT(mkdtemp(tmpl));
        std::string dir = tmpl;
        {
            std::ofstream f(dir + "/dorahost.yaml");
            f << "server:\n  tcp: 127.0.0.1:" << freePort() << "\n  http_enabled: false\n"
              << "redis:\n  socket: " << env("DORAHOST_REDIS_SOCKET", "/nonexistent.sock") << "\n";
        }
        std::string bin = buildDir() + "/bin/dorahost", cfg = dir + "/dorahost.yaml", log = dir + "/out.log";
        pid_t pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            rlimit rl{60, 60};
            setrlimit(RLIMIT_NOFILE, &rl);
            int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            dup2(fd, 1);
            dup2(fd, 2);
            char* args[] = {bin.data(), const_cast<char*>("--config"), cfg.data(), nullptr};
            char* envp[] = {nullptr};
            execve(bin.c_str(), args, envp);
            _exit(127);
        }
        int st = 0;
        bool exited = waitUntil([&] { return waitpid(pid, &st, WNOHANG) == pid; }, 20000);
        if (!exited) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
        }
        std::ifstream f(log);
        std::string out((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        std::system(("rm -rf '" + dir + "'").c_str());
        std::cout << "\n  hard limit 60: " << out.substr(out.find("the open-files") == std::string::npos ? 0 : out.find("the open-files")) << std::flush;
        CPPUNIT_ASSERT_MESSAGE("host kept running under a hard limit of 60", exited);
        CPPUNIT_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) != 0);
        CPPUNIT_ASSERT_MESSAGE(out, out.find("the open-files limit is too low to start: the hard limit is 60") !=
                                        std::string::npos);
    }

    /// Beyond server.max_connections a new connection is accepted and
    /// closed at once; the ones held keep being answered, and a slot freed
    /// is used again.
    void testBeyondMaxConnectionsClosedAtOnce() {
        HostProcess::Options o;
        o.serverYaml = "  max_connections: 20\n";
        HostProcess host(o);
        // HostProcess's readiness probe connected and left; wait until its
        // slot is free again.
        std::vector<int> held;
        CPPUNIT_ASSERT(waitUntil([&] {
            int fd = rawConnect(host.port());
            if (echoes(fd, 2000)) {
                held.push_back(fd);
                return held.size() == 20;
            }
            ::close(fd);
            return false;
        }, 10000));
        std::vector<int> extra;
        for (int i = 0; i < 10; ++i) extra.push_back(rawConnect(host.port()));
        int closedAtOnce = 0;
        CPPUNIT_ASSERT(waitUntil([&] {
            closedAtOnce = 0;
            for (int fd : extra) closedAtOnce += peerGone(fd) ? 1 : 0;
            return closedAtOnce == 10;
        }, 5000));
        int answered = 0;
        for (int fd : held) answered += echoes(fd) ? 1 : 0;
        CPPUNIT_ASSERT_EQUAL(20, answered);
        for (int fd : extra) ::close(fd);
        ::close(held.back());
        held.pop_back();
        int again = -1;
        CPPUNIT_ASSERT(waitUntil([&] {
            int fd = rawConnect(host.port());
            if (echoes(fd, 2000)) {
                again = fd;
                return true;
            }
            ::close(fd);
            return false;
        }, 10000));
        ::close(again);
        for (int fd : held) ::close(fd);
        CPPUNIT_ASSERT(host.log().find("server.max_connections (20) reached") != std::string::npos);
        CPPUNIT_ASSERT(count(host.log(), "server.max_connections (20) reached") <= 15);
    }

    /// The open-files limit drops under what the host holds (an operator's
    /// prlimit, a plugin leaking descriptors): accept fails with EMFILE.
    /// The host parks its listener, logs at most once a second, keeps
    /// serving, does not spin, and accepts the waiting clients once
    /// descriptors are back.
    void testOutOfDescriptorsDoesNotSpin() {
        HostProcess host;
        std::vector<int> held;
        for (int i = 0; i < 10; ++i) held.push_back(rawConnect(host.port()));
        for (int fd : held) CPPUNIT_ASSERT(echoes(fd));
        rlimit before{};
        prlimit(host.pid(), RLIMIT_NOFILE, nullptr, &before);
        rlimit tight = before;
        tight.rlim_cur = static_cast<rlim_t>(openFds(host.pid()) + 2);
        CPPUNIT_ASSERT_EQUAL(0, prlimit(host.pid(), RLIMIT_NOFILE, &tight, nullptr));
        std::vector<int> waiting;
        for (int i = 0; i < 100; ++i) waiting.push_back(rawConnect(host.port()));
        CPPUNIT_ASSERT(waitUntil([&] { return host.log().find("out of file descriptors") != std::string::npos; }, 10000));
        // Served meanwhile.
        int answered = 0;
        for (int round = 0; round < 5; ++round)
            for (int fd : held) answered += echoes(fd) ? 1 : 0;
        // With nothing else to do, what does a host out of descriptors
        // cost? (It used to spin on accept at 100% of a core.)
        double cpu0 = cpuSec(host.pid());
        auto t0 = Clock::now();
        std::this_thread::sleep_for(std::chrono::seconds(2));
        double cpu = cpuSec(host.pid()) - cpu0;
        double secs = std::chrono::duration<double>(Clock::now() - t0).count();
        std::size_t lines = count(host.log(), "out of file descriptors");
        CPPUNIT_ASSERT_EQUAL(0, prlimit(host.pid(), RLIMIT_NOFILE, &before, nullptr));
        // The clients that waited in the backlog are taken in now.
        int late = 0;
        for (int fd : waiting) late += echoes(fd) ? 1 : 0;
        for (int fd : held) ::close(fd);
        for (int fd : waiting) ::close(fd);
        std::cout << "\n  EMFILE: host CPU " << cpu << " s over " << secs << " s, " << lines
                  << " log lines, " << answered << " calls answered meanwhile, " << late
                  << "/100 waiting clients served after" << std::endl;
        CPPUNIT_ASSERT_MESSAGE("host CPU " + std::to_string(cpu) + " s", cpu < 0.25 * secs);
        CPPUNIT_ASSERT_EQUAL(50, answered);
        // Since the first line: at most one a second (plus the first).
        CPPUNIT_ASSERT_MESSAGE(std::to_string(lines) + " lines", lines <= static_cast<std::size_t>(secs) + 4);
        CPPUNIT_ASSERT(late >= 98);
    }

    /// 10,000 idle connections held with RSS <= 200 MB, every one answered.
    void testTenThousandIdleConnections() {
        HostProcess::Options o;
        o.serverYaml = "  max_connections: 10100\n";
        HostProcess host(o);
        long base = rssKb(host.pid());
        const int kConns = 10000;
        std::vector<int> fds;
        fds.reserve(kConns);
        auto t0 = Clock::now();
        for (int i = 0; i < kConns; ++i) fds.push_back(rawConnect(host.port()));
        const std::string req = smallEcho();
        for (int fd : fds) sendAll(fd, req);
        int answered = 0;
        for (int fd : fds) {
            try {
                Value a = dora::sdk::unserialize(readFrameFd(fd, 20000));
                const Value* c = a.find("code");
                answered += c && c->asInt() == 0 ? 1 : 0;
            } catch (const std::exception&) {
            }
        }
        long held = rssKb(host.pid());
        // Idle again, then asked once more: still answered.
        int again = 0;
        for (int i = 0; i < kConns; i += 97) again += echoes(fds[i]) ? 1 : 0;
        double took = std::chrono::duration<double>(Clock::now() - t0).count();
        for (int fd : fds) ::close(fd);
        std::cout << "\n  10,000 idle: RSS base " << base / 1024 << " MB, holding " << held / 1024
                  << " MB, " << answered << " answered, " << took << " s" << std::endl;
        CPPUNIT_ASSERT_EQUAL(kConns, answered);
        CPPUNIT_ASSERT_EQUAL((kConns + 96) / 97, again);
        CPPUNIT_ASSERT_MESSAGE("RSS " + std::to_string(held / 1024) + " MB",
                               !kShippedAllocator || held <= 200 * 1024);
    }

    /// A v2 gzip body with a second gzip member after the first used to be
    /// cut silently; it is refused as a corrupt body (100006), the
    /// connection stays open.
    void testGzipSecondMemberRefused() {
        HostProcess host;
        WireClient c(host.port());
        std::string guid = newGuid();
        std::string body = v1Request(guid, "SSS", oneCall("echo", Value("one")));
        std::string gz = dora::wire::gzipEncode(body);
        c.sendRaw(v2Frame(guid, gz));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), v2Code(c.readFrame()));
        c.sendRaw(v2Frame(guid, gz + dora::wire::gzipEncode(body)));
        std::string answer = c.readFrame();
        CPPUNIT_ASSERT_EQUAL(guid, answer.substr(0, 32));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(100006), v2Code(answer));
        c.sendRaw(v2Frame(guid, gz + "junk"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(100006), v2Code(c.readFrame()));
        c.sendRaw(v2Frame(guid, gz)); // still served
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), v2Code(c.readFrame()));
    }

    /// A 2 MB JSON array (1,000,000 elements) used to leave ~190 MB
    /// resident: it is refused (100006, over 524,288 elements) with a
    /// bounded peak, an array under the bound is answered, and the heap is
    /// handed back afterwards.
    void testBigJsonArrayBounded() {
        HostProcess host;
        WireClient c(host.port());
        for (int i = 0; i < 10; ++i) callV1(c, "SSS", oneCall("echo", Value("x")));
        long base = rssKb(host.pid());
        RssSampler rss(host.pid());
        GoodClient good(host.port());
        auto jsonCall = [&](std::size_t n) {
            std::string s = "{\"guid\":\"" + newGuid() +
                            "\",\"type\":\"SSS\",\"api\":{\"one\":{\"name\":\"echo\",\"param\":[";
            s.reserve(s.size() + 2 * n + 8);
            for (std::size_t i = 0; i < n; ++i) s += i ? ",0" : "0";
            s += "]}}}";
            c.sendRaw(v1Frame(s));
            return dora::wire::fromJson(c.readFrame(30000), dora::sdk::DecodeLimits{});
        };
        Value refused = jsonCall(1000000);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(100006), refused.find("code")->asInt());
        CPPUNIT_ASSERT(refused.find("msg")->asString().find("more than 524288 elements") != std::string::npos);
        long peakRefused = rss.peakKb();
        Value ok = jsonCall(200000);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), ok.find("code")->asInt());
        CPPUNIT_ASSERT_EQUAL(std::size_t(200000), ok.find("data")->asArray().size());
        long peak = rss.peakKb();
        long after = 0;
        bool shrank = !kShippedAllocator ||
                      waitUntil([&] { return (after = rssKb(host.pid())) < base + 32 * 1024; }, 15000);
        good.stop();
        std::cout << "\n  JSON arrays: base " << base / 1024 << " MB, peak refusing 1M "
                  << peakRefused / 1024 << " MB, peak with 200k answered " << peak / 1024
                  << " MB, after " << after / 1024 << " MB; good client p99 " << good.p99Ms() << " ms"
                  << std::endl;
        CPPUNIT_ASSERT_MESSAGE("peak " + std::to_string(peakRefused / 1024) + " MB",
                               !kShippedAllocator || peakRefused < base + 100 * 1024);
        CPPUNIT_ASSERT_MESSAGE("peak " + std::to_string(peak / 1024) + " MB",
                               !kShippedAllocator || peak < base + 200 * 1024);
        CPPUNIT_ASSERT_MESSAGE("not given back: " + std::to_string(after / 1024) + " MB",
                               !kShippedAllocator || shrank);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(good.lastError(), std::size_t(0), good.failures());
        // The 200,000-element answer (2 MB of JSON) is decoded and encoded
        // while the good client waits on the same I/O thread: 352-684 ms p99
        // under stress -c 2 beside another suite (docs/testing.md), so the
        // bound here is 3x the others'. A host that blocked the loop for
        // seconds (the getStat of issue 16 stalled clients 2.5 s) still fails.
        CPPUNIT_ASSERT_MESSAGE("good client p99 " + std::to_string(good.p99Ms()), good.p99Ms() < 3 * kGoodP99Ms);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(NetLimitsTest);
