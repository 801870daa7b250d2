// tests/cluster/ClusterSupport.h — load that survives hosts going away:
// threads sending v1 calls pipelined over real connections, remembering
// what the client saw of each call (answered 0, accepted, refused
// "shutting down", or no answer because the connection went), so a test
// can hold the database to it call by call.
#pragma once

#include "queue/QueueSupport.h"

#include <dora/sdk/value.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace dora::test::cluster {

/// What the client saw of one call.
enum class Seen : std::int8_t {
    Unsent,       ///< never sent (the load stopped first)
    NoAnswer,     ///< sent; the connection went before its answer
    Ok,           ///< wait mode, code 0
    Accepted,     ///< async, 100001
    ShuttingDown, ///< 100209: not run
    Other,        ///< any other answer (its code is in `codes`)
};
const char* seenName(Seen s);

struct CallSpec {
    std::string type; ///< SSS or SRS
    std::string api;
    dora::sdk::Value param;
};

/// Runs calls on `threads` threads, each over its own connection with up
/// to `window` requests outstanding. A thread connects to pick() (a port;
/// 0 = none left); after a 100209 or a lost connection it stops sending
/// there, collects what is outstanding and reconnects to pick() again.
/// With resendRefused, calls answered 100209 are sent again (safe: they
/// did not run). A thread ends when its calls are done, when pick()
/// gives 0, or after stop().
class Load {
public:
    using Pick = std::function<std::uint16_t()>;
    /// Call i is make(i), for i in [0, count); made when it is sent (and
    /// again when a test asks for spec(i)), so a load may be large.
    using Make = std::function<CallSpec(std::size_t)>;
    Load(std::size_t count, Make make, std::size_t threads, std::size_t window, Pick pick,
         bool resendRefused);
    ~Load();
    Load(const Load&) = delete;
    Load& operator=(const Load&) = delete;

    void start();
    void stop(); ///< asks the threads to end (sending nothing more)
    void join();

    std::size_t size() const { return _count; }
    CallSpec spec(std::size_t i) const { return _make(i); }
    Seen seen(std::size_t i) const { return static_cast<Seen>(_seen[i].load()); }
    std::int64_t code(std::size_t i) const { return _codes[i].load(); }
    /// Answers received so far, of any kind.
    std::size_t answered() const { return _answered.load(); }
    std::size_t count(Seen s) const;
    /// 100209 answers received (also those resent later).
    std::size_t shuttingDownAnswers() const { return _refusedAnswers.load(); }
    /// Connections that broke with calls outstanding.
    std::size_t brokenConnections() const { return _broken.load(); }

private:
    void run(std::size_t t);

    const std::size_t _count;
    Make _make;
    std::unique_ptr<std::atomic<std::int8_t>[]> _seen;
    std::unique_ptr<std::atomic<std::int64_t>[]> _codes;
    const std::size_t _threads, _window;
    Pick _pick;
    const bool _resend;
    std::atomic<bool> _stop{false};
    std::atomic<std::size_t> _answered{0}, _refusedAnswers{0}, _broken{0};
    std::vector<std::thread> _workers;
};

/// Pending entries of one consumer in a stream's group (XPENDING summary).
std::int64_t pendingOf(queue::RedisClient& r, const std::string& stream, const std::string& consumer,
                       const std::string& group = "dorahost");

/// name => visits of users whose name starts with prefix (LIKE pattern).
std::map<std::string, std::int64_t> visitsByName(Db& db, const std::string& likePrefix);

/// The last `chars` of a host's log, for failure messages.
std::string logTail(const HostProcess& h, std::size_t chars = 4000);

} // namespace dora::test::cluster
