// tests/pools/FakeRedis.h — a Redis stand-in on a unix socket for the
// pool's seam tests: speaks enough RESP2 to answer a few commands with
// each reply type, and can drop a connection on request. One thread polls
// the listener and every client; nothing of a real Redis is needed.
#pragma once

#include <atomic>
#include <string>
#include <thread>

namespace dora::test {

/// Replies by command name (argv[0], upper case):
///   PING -> +PONG        ECHO x -> $x          INCR -> :7
///   GET  -> nil          FAIL   -> -ERR ...    NEST -> *3 [$a, :2, *2 [nil, +ok]]
///   DROP -> closes the connection without a reply
/// Anything else -> -ERR unknown command.
class FakeRedis {
public:
    FakeRedis();
    ~FakeRedis();
    FakeRedis(const FakeRedis&) = delete;
    FakeRedis& operator=(const FakeRedis&) = delete;

    const std::string& socketPath() const { return _path; }
    int accepted() const { return _accepted.load(); }
    int commands() const { return _commands.load(); }

private:
    void serve();

    std::string _dir, _path;
    int _listen = -1;
    int _stopPipe[2] = {-1, -1};
    std::atomic<int> _accepted{0}, _commands{0};
    std::thread _thread;
};

} // namespace dora::test
