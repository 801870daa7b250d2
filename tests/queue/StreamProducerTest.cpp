// tests/queue/StreamProducerTest.cpp — what the producer tells a caller
// about a task (queue/StreamProducer), against a fake Redis on a unix
// socket that answers exactly as each test needs: "stored" only on an
// entry id; a definite refusal when nothing reached Redis or Redis refused
// the XADD; "outcome unknown" when the connection went away after the XADD
// was sent (docs/protocol.md: such a task may have been stored and will
// then run). A seam test: no real Redis.
#include "queue/StreamProducer.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using dora::queue::StreamProducer;

namespace {

/// Accepts one connection at a time; for each, reads until the request's
/// marker arrived, then does what `behaviour` says.
class FakeRedis {
public:
    enum class Behaviour { ReplyEntryId, ReplyError, CloseAfterRequest };

    explicit FakeRedis(Behaviour b) : _behaviour(b) {
        char tmpl[] = "/tmp/dora-fake-redis-XXXXXX";
        if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
        _dir = tmpl;
        _path = _dir + "/redis.sock";
        _fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, _path.c_str(), sizeof a.sun_path - 1);
        if (::bind(_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(_fd, 4) != 0)
            throw std::runtime_error("fake redis: bind/listen " + _path);
        _thread = std::thread([this] { serve(); });
    }
    ~FakeRedis() {
        _stop = true;
        ::shutdown(_fd, SHUT_RDWR);
        ::close(_fd);
        _thread.join();
        std::error_code ec;
        std::filesystem::remove_all(_dir, ec);
    }
    const std::string& path() const { return _path; }
    int requests() const { return _requests.load(); }

    static constexpr const char* kMarker = "dora-task-marker";

private:
    void serve() {
        while (!_stop) {
            int c = ::accept(_fd, nullptr, nullptr);
            if (c < 0) return;
            std::string in;
            char buf[4096];
            while (in.find(kMarker) == std::string::npos) {
                ssize_t n = ::read(c, buf, sizeof buf);
                if (n <= 0) break;
                in.append(buf, static_cast<std::size_t>(n));
            }
            if (in.find(kMarker) != std::string::npos) ++_requests;
            std::string reply;
            if (_behaviour == Behaviour::ReplyEntryId) reply = "$15\r\n1700000000000-0\r\n";
            if (_behaviour == Behaviour::ReplyError) reply = "-OOM command not allowed when used memory > 'maxmemory'.\r\n";
            if (!reply.empty()) {
                [[maybe_unused]] auto w = ::write(c, reply.data(), reply.size());
                // Keep the connection, as Redis does, until the client leaves.
                while (::read(c, buf, sizeof buf) > 0) {
                }
            }
            ::close(c);
        }
    }

    Behaviour _behaviour;
    std::string _dir, _path;
    int _fd = -1;
    std::atomic<bool> _stop{false};
    std::atomic<int> _requests{0};
    std::thread _thread;
};

struct Outcome {
    bool stored = false;
    std::string error;
};

/// Submits one task and waits (bounded) for its outcome.
Outcome submitOne(StreamProducer& p) {
    auto promise = std::make_shared<std::promise<Outcome>>();
    auto future = promise->get_future();
    std::vector<StreamProducer::Task> tasks(1);
    tasks[0].type = "SRS";
    tasks[0].guid = "0123456789abcdef0123456789abcdef";
    tasks[0].calls = std::string("a:1:{i:0;s:16:\"") + FakeRedis::kMarker + "\";}";
    tasks[0].done = [promise](bool stored, const std::string& error) {
        promise->set_value(Outcome{stored, error});
    };
    p.submit(tasks);
    if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready)
        throw std::runtime_error("the producer never reported the task");
    return future.get();
}

dora::pools::RedisSettings at(const std::string& socket) {
    dora::pools::RedisSettings s;
    s.socket = socket;
    s.connectTimeoutMs = 1000;
    return s;
}

bool says(const std::string& text, const char* what) { return text.find(what) != std::string::npos; }

} // namespace

class StreamProducerTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(StreamProducerTest);
    CPPUNIT_TEST(testStoredOnlyWhenRedisAnswersAnEntryId);
    CPPUNIT_TEST(testNoRedisIsADefiniteRefusal);
    CPPUNIT_TEST(testErrorReplyIsADefiniteRefusal);
    CPPUNIT_TEST(testConnectionLostAfterSendingIsOutcomeUnknown);
    CPPUNIT_TEST_SUITE_END();

public:
    void testStoredOnlyWhenRedisAnswersAnEntryId() {
        FakeRedis redis(FakeRedis::Behaviour::ReplyEntryId);
        StreamProducer p(at(redis.path()), dora::queue::QueueSettings{});
        Outcome o = submitOne(p);
        CPPUNIT_ASSERT_MESSAGE(o.error, o.stored);
        CPPUNIT_ASSERT_EQUAL(1, redis.requests());
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), p.stored());
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), p.refused());
    }

    void testNoRedisIsADefiniteRefusal() {
        char tmpl[] = "/tmp/dora-no-redis-XXXXXX";
        CPPUNIT_ASSERT(::mkdtemp(tmpl) != nullptr);
        std::string dir = tmpl;
        StreamProducer p(at(dir + "/nobody.sock"), dora::queue::QueueSettings{});
        Outcome o = submitOne(p);
        std::filesystem::remove_all(dir);
        CPPUNIT_ASSERT(!o.stored);
        CPPUNIT_ASSERT_MESSAGE(o.error, !o.error.empty());
        CPPUNIT_ASSERT_MESSAGE(o.error, !says(o.error, "outcome unknown"));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), p.refused());
    }

    void testErrorReplyIsADefiniteRefusal() {
        FakeRedis redis(FakeRedis::Behaviour::ReplyError);
        StreamProducer p(at(redis.path()), dora::queue::QueueSettings{});
        Outcome o = submitOne(p);
        CPPUNIT_ASSERT(!o.stored);
        CPPUNIT_ASSERT_EQUAL(1, redis.requests());
        CPPUNIT_ASSERT_MESSAGE(o.error, says(o.error, "OOM command not allowed"));
        CPPUNIT_ASSERT_MESSAGE(o.error, !says(o.error, "outcome unknown"));
    }

    void testConnectionLostAfterSendingIsOutcomeUnknown() {
        FakeRedis redis(FakeRedis::Behaviour::CloseAfterRequest);
        StreamProducer p(at(redis.path()), dora::queue::QueueSettings{});
        Outcome o = submitOne(p);
        CPPUNIT_ASSERT(!o.stored);
        CPPUNIT_ASSERT_EQUAL(1, redis.requests()); // Redis had the whole XADD
        CPPUNIT_ASSERT_MESSAGE(o.error, says(o.error, "outcome unknown"));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), p.refused());
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(StreamProducerTest);
