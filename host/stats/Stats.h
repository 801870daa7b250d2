// stats/Stats.h — counters for getStat. Lock-free on the hot path: each
// route holds its own counters, obtained once when the route is loaded.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace dora::stats {

struct Counter {
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> errors{0};
    void count(bool error) {
        requests.fetch_add(1, std::memory_order_relaxed);
        if (error) errors.fetch_add(1, std::memory_order_relaxed);
    }
};

class Stats {
public:
    Stats() : _started(std::chrono::steady_clock::now()) {}

    /// The counter of a route (created on first ask; lives as long as
    /// the host, across reloads). Thread-safe.
    std::shared_ptr<Counter> route(const std::string& api) {
        std::lock_guard<std::mutex> lock(_mutex);
        auto& c = _routes[api];
        if (!c) c = std::make_shared<Counter>();
        return c;
    }
    /// Per-mode counters, keyed by the request's type string.
    std::shared_ptr<Counter> mode(const std::string& type) { return route("#mode:" + type); }

    std::map<std::string, std::shared_ptr<Counter>> snapshot() const {
        std::lock_guard<std::mutex> lock(_mutex);
        return _routes;
    }
    double uptimeSec() const {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - _started).count();
    }

    Counter frames;   ///< every frame received
    Counter refused;  ///< frames answered with a protocol error

private:
    std::chrono::steady_clock::time_point _started;
    mutable std::mutex _mutex;
    std::map<std::string, std::shared_ptr<Counter>> _routes;
};

} // namespace dora::stats
