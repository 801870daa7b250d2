// tests/net/EventLoopTest.cpp — one net::EventLoop on its own, driven by a
// FrameHandler of the test's (no host process, no plugins, no decoding):
// framing across reads and within one read, answers posted from other
// threads, bad frames, the output cap's pause and resume, the idle and frame
// timeouts, the close notifications and stop(). The loop accepts from a
// loopback listener the test opens on port 0. Conditions are waited for with
// generous deadlines; nothing asserts a duration.
#include "net/EventLoop.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using dora::net::Connection;
using dora::net::EventLoop;
using dora::net::LoopOptions;
using dora::protocol::Frame;
using dora::protocol::FrameOptions;
using dora::protocol::Generation;
using dora::protocol::ParseStatus;

namespace {

constexpr int kDeadlineMs = 20000;

bool waitUntil(const std::function<bool()>& cond, int ms = kDeadlineMs) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!cond()) {
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
}

std::string frameOf(const std::string& body) {
    std::string out;
    dora::protocol::appendFrame(out, Generation::V1, {}, body, FrameOptions{});
    return out;
}

/// What the loop told the handler, readable from the test thread.
class TestHandler : public dora::net::FrameHandler {
public:
    enum class Answer {
        Echo,  ///< append "re:" + body to conn.out at once
        Defer, ///< count it in flight; the test posts the answer
        Big,   ///< append a frame of bigAnswerBytes at once
    };
    Answer answer = Answer::Echo;
    std::size_t bigAnswerBytes = 16 * 1024;
    int serverSendBuffer = 0; ///< >0: SO_SNDBUF set on every accepted socket

    struct Seen {
        std::uint64_t conn;
        std::string body;
    };

    void onFrame(EventLoop&, Connection& conn, const Frame& frame) override {
        std::string body(frame.body);
        {
            std::lock_guard<std::mutex> lock(_m);
            _frames.push_back(Seen{conn.id, body});
        }
        switch (answer) {
        case Answer::Echo:
            dora::protocol::appendFrame(conn.out, Generation::V1, {}, "re:" + body, FrameOptions{});
            break;
        case Answer::Defer:
            ++conn.inflight;
            break;
        case Answer::Big:
            dora::protocol::appendFrame(conn.out, Generation::V1, {},
                                        std::string(bigAnswerBytes, 'x'), FrameOptions{});
            break;
        }
    }
    void onBadFrame(EventLoop&, Connection& conn, ParseStatus status) override {
        {
            std::lock_guard<std::mutex> lock(_m);
            _bad.push_back(status);
        }
        dora::protocol::appendFrame(conn.out, Generation::V1, {}, "bad frame", FrameOptions{});
    }
    void onRoundEnd(EventLoop&) override {}
    void onConnectionOpened(EventLoop&, Connection& conn) override {
        if (serverSendBuffer > 0)
            ::setsockopt(conn.fd, SOL_SOCKET, SO_SNDBUF, &serverSendBuffer,
                         sizeof serverSendBuffer);
        std::lock_guard<std::mutex> lock(_m);
        _opened.push_back(conn.id);
    }
    void onConnectionClosed(EventLoop&, Connection& conn) override {
        std::lock_guard<std::mutex> lock(_m);
        ++_closed[conn.id];
    }

    std::vector<Seen> frames() const {
        std::lock_guard<std::mutex> lock(_m);
        return _frames;
    }
    std::size_t frameCount() const {
        std::lock_guard<std::mutex> lock(_m);
        return _frames.size();
    }
    std::vector<ParseStatus> bad() const {
        std::lock_guard<std::mutex> lock(_m);
        return _bad;
    }
    std::vector<std::uint64_t> opened() const {
        std::lock_guard<std::mutex> lock(_m);
        return _opened;
    }
    std::map<std::uint64_t, int> closed() const {
        std::lock_guard<std::mutex> lock(_m);
        return _closed;
    }

private:
    mutable std::mutex _m;
    std::vector<Seen> _frames;
    std::vector<ParseStatus> _bad;
    std::vector<std::uint64_t> _opened;
    std::map<std::uint64_t, int> _closed;
};

/// A listener on 127.0.0.1:0 and one started loop accepting from it.
struct Harness {
    TestHandler handler;
    int listenFd = -1;
    std::uint16_t port = 0;
    std::unique_ptr<EventLoop> loop;

    explicit Harness(LoopOptions opt = {}, const std::function<void(TestHandler&)>& setup = {}) {
        if (setup) setup(handler);
        listenFd = dora::net::listenTcp("127.0.0.1", 0);
        port = dora::net::boundPort(listenFd);
        loop = std::make_unique<EventLoop>(0, listenFd, std::move(opt), handler);
        loop->start();
    }
    ~Harness() {
        loop->stop();
        loop.reset();
        ::close(listenFd);
    }
};

/// A blocking client socket with bounded reads.
class Client {
public:
    explicit Client(std::uint16_t port, int receiveBuffer = 0) {
        _fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (receiveBuffer > 0)
            ::setsockopt(_fd, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, sizeof receiveBuffer);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
            throw std::runtime_error("connect to the test listener failed");
    }
    ~Client() { close(); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    void close() {
        if (_fd >= 0) ::close(_fd);
        _fd = -1;
    }
    int fd() const { return _fd; }

    void send(const std::string& bytes) {
        std::size_t off = 0;
        while (off < bytes.size()) {
            ssize_t n = ::send(_fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
            if (n <= 0) throw std::runtime_error("send to the loop failed");
            off += static_cast<std::size_t>(n);
        }
    }

    /// Reads until `count` whole frames are in (their bodies), or EOF, or
    /// the deadline.
    std::vector<std::string> readFrames(std::size_t count, int ms = kDeadlineMs) {
        std::vector<std::string> bodies;
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        for (;;) {
            for (;;) {
                Frame f;
                std::size_t used = 0;
                FrameOptions opt;
                opt.maxFrameBytes = 64 * 1024 * 1024;
                if (bodies.size() == count ||
                    dora::protocol::parseFrame(_in, opt, f, used) != ParseStatus::Ok)
                    break;
                bodies.emplace_back(f.body);
                _in.erase(0, used);
            }
            if (bodies.size() == count) return bodies;
            if (!readSome(end)) return bodies;
        }
    }

    /// True once the peer closed (read returns 0, or a reset) before the deadline.
    bool waitClosed(int ms = kDeadlineMs) {
        auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (readSome(end)) {
        }
        return _eof;
    }
    bool eof() const { return _eof; }
    std::size_t buffered() const { return _in.size(); }

private:
    /// One read; false on EOF or the deadline.
    bool readSome(std::chrono::steady_clock::time_point end) {
        if (_eof) return false;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            end - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{_fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
        char buf[65536];
        ssize_t n = ::recv(_fd, buf, sizeof buf, 0);
        if (n <= 0) {
            _eof = true;
            return false;
        }
        _in.append(buf, static_cast<std::size_t>(n));
        return true;
    }

    int _fd = -1;
    std::string _in;
    bool _eof = false;
};

} // namespace

class EventLoopTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(EventLoopTest);
    CPPUNIT_TEST(testFrameSplitAcrossReadsArrivesWholeOnce);
    CPPUNIT_TEST(testSeveralFramesInOneWriteArriveInOrder);
    CPPUNIT_TEST(testPostedAnswersReachTheirConnectionInOrder);
    CPPUNIT_TEST(testBadFramesReachOnBadFrameAndClose);
    CPPUNIT_TEST(testOutputCapPausesReadingUntilDrained);
    CPPUNIT_TEST(testIdleTimeoutCloses);
    CPPUNIT_TEST(testFrameTimeoutClosesAHalfSentFrame);
    CPPUNIT_TEST(testClosedOncePerConnection);
    CPPUNIT_TEST(testStopDeliversPostedAnswersThenCloses);
    CPPUNIT_TEST_SUITE_END();

public:
    /// A read buffer of 3 bytes makes the loop take the frame in many
    /// reads, whatever the kernel coalesces; the client also writes it in
    /// pieces. The handler must see it once, whole, and only when complete.
    void testFrameSplitAcrossReadsArrivesWholeOnce() {
        LoopOptions opt;
        opt.readChunk = 3;
        Harness h(opt);
        Client c(h.port);
        const std::string body = "a:split frame body that spans many reads";
        const std::string bytes = frameOf(body);
        // All but the last byte, two bytes a write, letting the loop read between writes.
        for (std::size_t i = 0; i + 1 < bytes.size(); i += 2) {
            c.send(bytes.substr(i, std::min<std::size_t>(2, bytes.size() - 1 - i)));
            CPPUNIT_ASSERT(h.loop->sync());
        }
        CPPUNIT_ASSERT_EQUAL_MESSAGE("a frame reached the handler before its last byte",
                                     std::size_t(0), h.handler.frameCount());
        c.send(bytes.substr(bytes.size() - 1));
        // A second frame after it: once its answer is in, nothing of the first is left to arrive.
        c.send(frameOf("a:after"));
        auto answers = c.readFrames(2);
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), answers.size());
        CPPUNIT_ASSERT_EQUAL("re:" + body, answers[0]);
        CPPUNIT_ASSERT_EQUAL(std::string("re:a:after"), answers[1]);
        auto frames = h.handler.frames();
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), frames.size());
        CPPUNIT_ASSERT_EQUAL(body, frames[0].body);
    }

    void testSeveralFramesInOneWriteArriveInOrder() {
        Harness h;
        Client c(h.port);
        std::string bytes;
        constexpr int kFrames = 200;
        for (int i = 0; i < kFrames; ++i)
            bytes += frameOf("a:n=" + std::to_string(i));
        c.send(bytes);
        auto answers = c.readFrames(kFrames);
        CPPUNIT_ASSERT_EQUAL(std::size_t(kFrames), answers.size());
        for (int i = 0; i < kFrames; ++i)
            CPPUNIT_ASSERT_EQUAL("re:a:n=" + std::to_string(i), answers[i]);
        auto frames = h.handler.frames();
        CPPUNIT_ASSERT_EQUAL(std::size_t(kFrames), frames.size());
        for (int i = 0; i < kFrames; ++i)
            CPPUNIT_ASSERT_EQUAL("a:n=" + std::to_string(i), frames[i].body);
    }

    /// Answers posted by other threads, interleaved for two connections,
    /// each go to their own connection in the order posted.
    void testPostedAnswersReachTheirConnectionInOrder() {
        Harness h({}, [](TestHandler& t) { t.answer = TestHandler::Answer::Defer; });
        Client a(h.port), b(h.port);
        a.send(frameOf("a:from a"));
        b.send(frameOf("a:from b"));
        CPPUNIT_ASSERT(waitUntil([&] { return h.handler.frameCount() == 2; }));
        std::uint64_t idA = 0, idB = 0;
        for (const auto& f : h.handler.frames())
            (f.body == "a:from a" ? idA : idB) = f.conn;
        CPPUNIT_ASSERT(idA != 0 && idB != 0 && idA != idB);
        constexpr int kEach = 100;
        std::thread poster([&] {
            for (int i = 0; i < kEach; ++i) {
                h.loop->post(idA, frameOf("a:A" + std::to_string(i)), i == 0 ? 1 : 0);
                h.loop->post(idB, frameOf("a:B" + std::to_string(i)), i == 0 ? 1 : 0);
            }
        });
        poster.join();
        auto gotA = a.readFrames(kEach);
        auto gotB = b.readFrames(kEach);
        CPPUNIT_ASSERT_EQUAL(std::size_t(kEach), gotA.size());
        CPPUNIT_ASSERT_EQUAL(std::size_t(kEach), gotB.size());
        for (int i = 0; i < kEach; ++i) {
            CPPUNIT_ASSERT_EQUAL("a:A" + std::to_string(i), gotA[i]);
            CPPUNIT_ASSERT_EQUAL("a:B" + std::to_string(i), gotB[i]);
        }
        // An answer for a connection that is gone is dropped, and the loop keeps serving.
        h.loop->post(999999, frameOf("a:nobody"));
        a.send(frameOf("a:still here"));
        CPPUNIT_ASSERT(waitUntil([&] { return h.handler.frameCount() == 3; }));
    }

    void testBadFramesReachOnBadFrameAndClose() {
        LoopOptions opt;
        opt.frame.maxFrameBytes = 1024;
        Harness h(opt);
        {
            Client c(h.port);
            c.send(frameOf("a:good first"));
            // A length over maxFrameBytes: refused from its 4-byte header alone.
            c.send(std::string("\x00\x10\x00\x00", 4));
            auto answers = c.readFrames(2);
            CPPUNIT_ASSERT_EQUAL(std::size_t(2), answers.size());
            CPPUNIT_ASSERT_EQUAL(std::string("re:a:good first"), answers[0]);
            CPPUNIT_ASSERT_EQUAL(std::string("bad frame"), answers[1]);
            CPPUNIT_ASSERT_MESSAGE("the loop must close a connection after a bad frame",
                                   c.waitClosed());
        }
        {
            Client c(h.port);
            // A zero length cannot hold a body; what follows it is never parsed.
            c.send(std::string("\x00\x00\x00\x00", 4) + frameOf("a:never"));
            auto answers = c.readFrames(1);
            CPPUNIT_ASSERT_EQUAL(std::size_t(1), answers.size());
            CPPUNIT_ASSERT_EQUAL(std::string("bad frame"), answers[0]);
            CPPUNIT_ASSERT(c.waitClosed());
        }
        auto bad = h.handler.bad();
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), bad.size());
        CPPUNIT_ASSERT(bad[0] == ParseStatus::TooLarge);
        CPPUNIT_ASSERT(bad[1] == ParseStatus::BadLength);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), h.handler.frameCount());
    }

    /// A client that sends requests but never reads their answers: once
    /// more than maxOutputBytes wait unsent, the loop stops reading it (its
    /// requests wait in the kernel), and reads again when the client drains.
    void testOutputCapPausesReadingUntilDrained() {
        LoopOptions opt;
        opt.maxOutputBytes = 64 * 1024;
        opt.outputStallTimeoutSec = 0; // the pause alone, never the stall close
        opt.readChunk = 512;           // a few requests per read, so the cap is met between reads
        Harness h(opt, [](TestHandler& t) {
            t.answer = TestHandler::Answer::Big;
            t.bigAnswerBytes = 16 * 1024;
            t.serverSendBuffer = 16 * 1024;
        });
        Client c(h.port, 16 * 1024);
        constexpr std::size_t kRequests = 2000;
        std::string bytes;
        for (std::size_t i = 0; i < kRequests; ++i)
            bytes += frameOf("a:r" + std::to_string(i));
        CPPUNIT_ASSERT(bytes.size() <
                       64 * 1024); // fits in the kernel's buffers while the loop does not read
        c.send(bytes);
        // Each sync is one more poll round; unpaused, a few rounds would read everything.
        for (int i = 0; i < 20; ++i)
            CPPUNIT_ASSERT(h.loop->sync());
        const std::size_t handled = h.handler.frameCount();
        CPPUNIT_ASSERT_MESSAGE("the loop kept reading a client that does not read its answers",
                               handled > 0 && handled < kRequests);
        for (int i = 0; i < 20; ++i)
            CPPUNIT_ASSERT(h.loop->sync());
        CPPUNIT_ASSERT_EQUAL_MESSAGE("reading went on while over the cap", handled,
                                     h.handler.frameCount());
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), h.loop->connections());
        // The client drains: every request is read and answered after all.
        auto answers = c.readFrames(kRequests, 60000);
        CPPUNIT_ASSERT_EQUAL(kRequests, answers.size());
        CPPUNIT_ASSERT_EQUAL(kRequests, h.handler.frameCount());
        CPPUNIT_ASSERT_EQUAL(std::size_t(16 * 1024), answers.back().size());
    }

    void testIdleTimeoutCloses() {
        LoopOptions opt;
        opt.idleTimeoutSec = 1;
        Harness h(opt);
        Client c(h.port);
        CPPUNIT_ASSERT(waitUntil([&] { return h.handler.opened().size() == 1; }));
        CPPUNIT_ASSERT_MESSAGE("an idle connection was not closed", c.waitClosed());
        CPPUNIT_ASSERT(waitUntil([&] { return h.handler.closed().size() == 1; }));
        // The handler hears of the close before the loop drops the
        // connection from its count: a round later, that is done.
        CPPUNIT_ASSERT(h.loop->sync());
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), h.loop->connections());
    }

    /// Half a frame, then nothing: closed by the frame timeout (the idle
    /// timeout is off, so nothing else closes it). A half frame that waits
    /// because the loop stopped reading (over the output cap, the rest
    /// still in the kernel) is the host's doing, not a slow sender's: that
    /// connection stays open however long the pause, and every frame is
    /// answered once the client drains (on a loaded machine a drain can
    /// take longer than frame_timeout_sec).
    void testFrameTimeoutClosesAHalfSentFrame() {
        LoopOptions opt;
        opt.idleTimeoutSec = 0;
        opt.frameTimeoutSec = 1;
        opt.maxOutputBytes = 64 * 1024;
        opt.outputStallTimeoutSec = 0;
        opt.readChunk = 512;
        Harness h(opt, [](TestHandler& t) {
            t.answer = TestHandler::Answer::Big;
            t.serverSendBuffer = 16 * 1024;
        });
        // First, so its half frame is no younger than `half`'s: 11-byte
        // frames, so the first 512-byte read ends inside one, and its 46
        // answers of 16 KiB put it over the cap at once.
        Client paused(h.port, 16 * 1024);
        constexpr std::size_t kRequests = 100;
        std::string bytes;
        for (std::size_t i = 0; i < kRequests; ++i)
            bytes += frameOf("a:r" + std::to_string(1000 + i));
        paused.send(bytes);
        CPPUNIT_ASSERT(waitUntil([&] { return h.handler.frameCount() > 0; }));
        CPPUNIT_ASSERT(h.loop->sync());
        const std::size_t handled = h.handler.frameCount();
        CPPUNIT_ASSERT_MESSAGE("the loop kept reading over the output cap", handled < kRequests);

        Client whole(h.port), half(h.port);
        const std::string part = frameOf("a:a frame sent in part only");
        half.send(part.substr(0, part.size() / 2));
        CPPUNIT_ASSERT_MESSAGE("a half-sent frame was kept open past the frame timeout",
                               half.waitClosed());
        CPPUNIT_ASSERT(h.loop->sync()); // the sweep that closed it is over
        CPPUNIT_ASSERT_EQUAL(handled, h.handler.frameCount());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(
            "a connection the loop had stopped reading was closed by the frame timeout",
            std::size_t(2), h.loop->connections());
        // A connection with no frame in progress is not affected.
        whole.send(frameOf("a:ok"));
        auto answers = whole.readFrames(1);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), answers.size());
        CPPUNIT_ASSERT(!whole.eof());
        // The paused client drains: its half frame and all after it are read.
        auto drained = paused.readFrames(kRequests);
        CPPUNIT_ASSERT_EQUAL(kRequests, drained.size());
        CPPUNIT_ASSERT(!paused.eof());
        CPPUNIT_ASSERT_EQUAL(kRequests + 1, h.handler.frameCount());
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), h.loop->connections());
    }

    /// Closed by the client, by the loop after a bad frame, and by stop():
    /// onConnectionClosed once for every connection opened, never twice.
    void testClosedOncePerConnection() {
        LoopOptions opt;
        opt.frame.maxFrameBytes = 1024;
        auto h = std::make_unique<Harness>(opt);
        std::vector<std::unique_ptr<Client>> clients;
        for (int i = 0; i < 6; ++i)
            clients.push_back(std::make_unique<Client>(h->port));
        CPPUNIT_ASSERT(waitUntil([&] { return h->handler.opened().size() == 6; }));
        clients[0]->close();
        clients[1]->close();
        clients[2]->send(std::string("\x7f\x00\x00\x00", 4));
        CPPUNIT_ASSERT(clients[2]->waitClosed());
        CPPUNIT_ASSERT(waitUntil([&] { return h->handler.closed().size() == 3; }));
        // The client of a closed connection closing too does not make a second notice.
        clients[2]->close();
        CPPUNIT_ASSERT(h->loop->sync());
        h->loop->stop(); // closes the three still open
        auto opened = h->handler.opened();
        auto closed = h->handler.closed();
        CPPUNIT_ASSERT_EQUAL(std::size_t(6), closed.size());
        for (auto id : opened) {
            CPPUNIT_ASSERT_MESSAGE("a connection was never reported closed", closed.count(id) == 1);
            CPPUNIT_ASSERT_EQUAL(1, closed[id]);
        }
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), h->loop->connections());
        for (std::size_t i = 3; i < clients.size(); ++i)
            CPPUNIT_ASSERT(clients[i]->waitClosed());
    }

    /// stop() with connections open: answers already posted still go out,
    /// then every connection is closed.
    void testStopDeliversPostedAnswersThenCloses() {
        Harness h({}, [](TestHandler& t) { t.answer = TestHandler::Answer::Defer; });
        Client a(h.port), b(h.port);
        a.send(frameOf("a:waiting"));
        CPPUNIT_ASSERT(waitUntil([&] { return h.handler.frameCount() == 1; }));
        CPPUNIT_ASSERT(waitUntil([&] { return h.handler.opened().size() == 2; }));
        const std::uint64_t id = h.handler.frames()[0].conn;
        h.loop->post(id, frameOf("a:last answer"));
        h.loop->stop();
        auto answers = a.readFrames(1);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), answers.size());
        CPPUNIT_ASSERT_EQUAL(std::string("a:last answer"), answers[0]);
        CPPUNIT_ASSERT(a.waitClosed());
        CPPUNIT_ASSERT(b.waitClosed());
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), h.handler.closed().size());
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), h.loop->connections());
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(EventLoopTest);
