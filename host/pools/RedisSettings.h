// pools/RedisSettings.h — where the host's Redis is. Apart from Redis.h so
// that headers which only pass settings along do not pull in hiredis.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace dora::pools {

/// What the host's Redis connections count (for /metrics); shared by every
/// connection made from the same settings.
struct RedisCounters {
    std::atomic<std::uint64_t> connects{0};        ///< connections opened
    std::atomic<std::uint64_t> connectFailures{0}; ///< attempts that failed
    std::atomic<std::uint64_t> disconnects{0};     ///< connections found broken (each is reconnected)
    std::atomic<std::uint64_t> commandErrors{0};   ///< error replies and commands lost with a connection
};

struct RedisSettings {
    std::string socket; ///< unix socket; wins over host/port when set
    std::string host = "127.0.0.1";
    int port = 6379;
    int connectTimeoutMs = 1000;
    int commandTimeoutMs = 0; ///< 0 = none (blocking reads need none)
    std::shared_ptr<RedisCounters> counters; ///< null: not counted
    std::string describe() const {
        return socket.empty() ? host + ":" + std::to_string(port) : "unix:" + socket;
    }
};

} // namespace dora::pools
