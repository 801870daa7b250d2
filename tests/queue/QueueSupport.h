// tests/queue/QueueSupport.h — what the durable-queue tests need besides
// tests/common: a direct Redis client, a pipelining async sender, the
// services script (stop/start MariaDB and Redis with a guaranteed restart),
// getStat, polling with a deadline, a test queue's cleanup and a plugins
// folder with fixtures. (Stopping the services: tests/common, ServiceDown.)
#pragma once

#include "common/TestSupport.h"

#include <dora/sdk/value.h>

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dora::test::queue {

/// One hiredis connection to the test Redis ($DORAHOST_REDIS_SOCKET, else
/// 127.0.0.1:6379). Not thread-safe.
class RedisClient {
public:
    RedisClient();
    ~RedisClient();
    RedisClient(const RedisClient&) = delete;
    RedisClient& operator=(const RedisClient&) = delete;

    struct ReplyFree {
        void operator()(redisReply* r) const {
            if (r) freeReplyObject(r);
        }
    };
    using Reply = std::unique_ptr<redisReply, ReplyFree>;

    /// Runs a command; throws on a connection failure (not on an error reply).
    Reply command(const std::vector<std::string>& argv);
    /// An integer reply (XLEN, DEL, EXISTS...); throws if it is not one.
    std::int64_t integer(const std::vector<std::string>& argv);
    /// Entries a consumer group still has to acknowledge (XPENDING summary).
    std::int64_t pending(const std::string& stream, const std::string& group = "dorahost");
    /// INFO memory's used_memory, in bytes.
    std::int64_t usedMemory();
    /// The entries of a stream, each as field => value.
    std::vector<std::map<std::string, std::string>> range(const std::string& stream);

private:
    redisContext* _ctx = nullptr;
};

/// The stream names a test host with queue name q uses (see HostProcess).
std::string tasksStream(const std::string& q);
std::string deadStream(const std::string& q);

/// Deletes a test queue's streams when the test ends (declare it before
/// the host, so the host is gone first).
class StreamCleanup {
public:
    explicit StreamCleanup(std::string q) : _q(std::move(q)) {}
    ~StreamCleanup();
    StreamCleanup(const StreamCleanup&) = delete;
    StreamCleanup& operator=(const StreamCleanup&) = delete;

private:
    std::string _q;
};

/// A plugins and a routes folder in /tmp (HostProcess::Options pluginsDir,
/// routesDir): the build's plugins and routes plus the named fixtures of
/// tests/fixtures/plugins (e.g. "slow", "poison"). Removed when destroyed.
class PluginDirs {
public:
    explicit PluginDirs(std::initializer_list<const char*> fixtures);
    ~PluginDirs();
    PluginDirs(const PluginDirs&) = delete;
    PluginDirs& operator=(const PluginDirs&) = delete;
    std::string plugins() const { return (_dir / "plugins").string(); }
    std::string routes() const { return (_dir / "routes.d").string(); }

private:
    std::filesystem::path _dir;
};

/// Polls pred every 50 ms until it is true; false if timeoutMs passed.
bool waitFor(const std::function<bool()>& pred, int timeoutMs);

/// data.server.queue of a getStat answer.
dora::sdk::Value queueStat(std::uint16_t port);
std::int64_t statInt(const dora::sdk::Value& v, const char* key);

/// Requests on one connection with up to `window` outstanding; answers are
/// matched by guid.
class Pipeline {
public:
    /// make(i, guid) returns the request body (v1 PHP-serialized) for
    /// request i; done(i, code, msg) receives each answer's code and message.
    using Make = std::function<std::string(std::size_t, const std::string&)>;
    using Done = std::function<void(std::size_t, std::int64_t, const std::string&)>;

    Pipeline(std::uint16_t port, std::size_t window);
    /// Sends requests [from, to). Returns the index after the last one sent
    /// (`to` unless the connection broke); throws nothing on a broken
    /// connection — requests sent but not answered simply get no done().
    std::size_t run(std::size_t from, std::size_t to, const Make& make, const Done& done);
    bool broken() const { return _broken; }

    static std::string guidOf(std::size_t i);

private:
    std::unique_ptr<WireClient> _client;
    std::size_t _window;
    bool _broken = false;
};

/// A v1 request {one => [name => api, param => param]} of type `type`.
std::string request(const std::string& guid, const std::string& type, const std::string& api,
                    const dora::sdk::Value& param);

/// ["name" => name] plus optional department.
dora::sdk::Value userParam(const std::string& name, const std::string& department = "");

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point t);

} // namespace dora::test::queue
