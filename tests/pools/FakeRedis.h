// tests/pools/FakeRedis.h — a Redis stand-in on a unix socket for the
// pool's seam tests: speaks enough RESP2 to answer a few commands with
// each reply type, and can drop a connection on request. One thread polls
// the listener and every client; nothing of a real Redis is needed.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace dora::test {

/// Replies by command name (argv[0], upper case):
///   PING -> +PONG        ECHO x -> $x          INCR -> :7
///   GET  -> nil          FAIL   -> -ERR ...    NEST -> *3 [$a, :2, *2 [nil, +ok]]
///   DROP -> closes the connection without a reply
/// Anything else -> -ERR unknown command.
/// With a Script (the queue's seam tests), the script answers first and
/// every command is recorded.
class FakeRedis {
public:
    /// The raw RESP reply to argv; std::nullopt: the built-in reply above;
    /// "": close the connection. Runs on the fake's thread.
    using Script = std::function<std::optional<std::string>(const std::vector<std::string>& argv)>;

    FakeRedis();
    explicit FakeRedis(Script script);
    ~FakeRedis();
    FakeRedis(const FakeRedis&) = delete;
    FakeRedis& operator=(const FakeRedis&) = delete;

    const std::string& socketPath() const { return _path; }
    int accepted() const { return _accepted.load(); }
    int commands() const { return _commands.load(); }
    /// Every command received so far, in order.
    std::vector<std::vector<std::string>> received() const;

private:
    void serve();
    std::string replyTo(const std::vector<std::string>& argv);

    std::string _dir, _path;
    int _listen = -1;
    int _stopPipe[2] = {-1, -1};
    std::atomic<int> _accepted{0}, _commands{0};
    Script _script;
    mutable std::mutex _receivedMutex;
    std::vector<std::vector<std::string>> _received;
    std::thread _thread;
};

/// RESP replies for scripts.
namespace resp {
inline std::string bulk(const std::string& s) {
    return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}
inline std::string integer(long long n) { return ":" + std::to_string(n) + "\r\n"; }
inline std::string status(const std::string& s) { return "+" + s + "\r\n"; }
inline std::string error(const std::string& s) { return "-" + s + "\r\n"; }
inline std::string nil() { return "$-1\r\n"; }
inline std::string nilArray() { return "*-1\r\n"; }
/// An array of replies already encoded.
inline std::string array(const std::vector<std::string>& items) {
    std::string s = "*" + std::to_string(items.size()) + "\r\n";
    for (const auto& i : items)
        s += i;
    return s;
}
} // namespace resp

} // namespace dora::test
