// stats/Stats.h — counters for getStat. Lock-free on the hot path: each
// route holds its own counters, obtained once when the route is loaded,
// and the request types are a fixed table. Nothing a client sends can add
// an entry: calls to apis without a route all count in `unrouted`.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace dora::stats {

struct Counter {
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> errors{0};
    void count(bool error) {
        requests.fetch_add(1, std::memory_order_relaxed);
        if (error) errors.fetch_add(1, std::memory_order_relaxed);
    }
};

/// The request types counted under getStat's `modes`: both generations'
/// type names, and the HTTP gateway's endpoints.
inline constexpr std::array<std::string_view, 15> kModeNames = {
    "SSS", "SSM", "SRS", "SRM", "SC", "W_S", "W_M", "AN_S", "AN_M", "AM_S", "AM_M",
    "http:W_M", "http:AN_M", "http:SC", "http:other"};

class Stats {
public:
    Stats() : _started(std::chrono::steady_clock::now()) {}

    /// The counter of a route (created on first ask; lives as long as the
    /// host, across reloads). Only the plugin loader asks, for routes that
    /// exist. Thread-safe.
    std::shared_ptr<Counter> route(const std::string& api) {
        std::lock_guard<std::mutex> lock(_mutex);
        auto& c = _routes[api];
        if (!c) c = std::make_shared<Counter>();
        return c;
    }
    /// The counter of a request type from kModeNames; any other name counts
    /// as "http:other". No lock, no allocation.
    Counter& mode(std::string_view type) {
        for (std::size_t i = 0; i < kModeNames.size(); ++i)
            if (kModeNames[i] == type) return _modes[i];
        return _modes.back();
    }
    const std::array<Counter, kModeNames.size()>& modes() const { return _modes; }

    std::map<std::string, std::shared_ptr<Counter>> snapshot() const {
        std::lock_guard<std::mutex> lock(_mutex);
        return _routes;
    }
    double uptimeSec() const {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - _started).count();
    }

    Counter frames;   ///< every frame received
    Counter refused;  ///< frames answered with a protocol error
    Counter unrouted; ///< calls naming an api no route serves
    /// group_commit routes: groups committed, groups undone (their calls
    /// then ran alone), and calls answered from committed groups.
    std::atomic<std::uint64_t> groupsCommitted{0}, groupsUndone{0}, groupedCalls{0};

private:
    std::chrono::steady_clock::time_point _started;
    mutable std::mutex _mutex;
    std::map<std::string, std::shared_ptr<Counter>> _routes;
    std::array<Counter, kModeNames.size()> _modes;
};

} // namespace dora::stats
