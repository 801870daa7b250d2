// pools/RedisSettings.h — where the host's Redis is. Apart from Redis.h so
// that headers which only pass settings along do not pull in hiredis.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace dora::pools {

/// What the host's Redis connections count (for /metrics); shared by every
/// connection made from the same settings.
struct RedisCounters {
    std::atomic<std::uint64_t> connects{0};        ///< connections opened
    std::atomic<std::uint64_t> connectFailures{0}; ///< attempts that failed
    std::atomic<std::uint64_t> disconnects{0};     ///< connections found broken (each is reconnected)
    std::atomic<std::uint64_t> commandErrors{0};   ///< error replies and commands lost with a connection
};

/// What the connections made from one RedisSettings (and its copies) know
/// of the Sentinel-managed master: the address last connected to, so a
/// change is logged once, and the sentinel that answered last, asked first
/// next time. Thread-safe.
struct SentinelState {
    std::mutex mutex;
    std::string master;         ///< "host:port", empty before the first connection
    std::size_t firstAsked = 0; ///< index into RedisSettings::sentinels
    /// Bumped when the sentinels announce a new master (SentinelWatcher):
    /// connections made before are broken() from then on.
    std::atomic<std::uint64_t> generation{0};
};

struct RedisSettings {
    /// Non-empty: Redis Sentinel. Every connection asks these (in turn) for
    /// masterName's address and checks with ROLE that it is the master;
    /// socket/host/port are then unused.
    std::vector<std::pair<std::string, int>> sentinels;
    std::string masterName;
    /// Shared by every copy of these settings (see SentinelState).
    std::shared_ptr<SentinelState> sentinelState = std::make_shared<SentinelState>();
    std::string socket; ///< unix socket; wins over host/port when set
    std::string host = "127.0.0.1";
    int port = 6379;
    int connectTimeoutMs = 1000;
    int commandTimeoutMs = 0; ///< 0 = none (blocking reads need none)
    std::shared_ptr<RedisCounters> counters; ///< null: not counted
    std::string describe() const {
        if (!sentinels.empty()) return "the master '" + masterName + "' of the sentinels";
        return socket.empty() ? host + ":" + std::to_string(port) : "unix:" + socket;
    }
};

} // namespace dora::pools
