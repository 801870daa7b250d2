// stats/Stats.h — counters for getStat and /metrics. Lock-free on the hot
// path: each route holds its own counters, obtained once when the route is
// loaded, split into per-thread shards so workers settling calls of the
// same route never write the same cache line; the request types are a
// fixed table. Nothing a client sends can add an entry: calls to apis
// without a route all count in `unrouted`.
#pragma once

#include "stats/EventLog.h"

#include <dora/wire/Frame.h>

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

/// The answer codes counted one by one: 0, the clients' 100001..100012 and
/// the host's 100200..100215; any other code (a plugin's own) is "other".
struct CodeSlots {
    static constexpr std::size_t kClient = 12, kHost = 16;
    static constexpr std::size_t kOther = 1 + kClient + kHost;
    static constexpr std::size_t kCount = kOther + 1;
    static std::size_t of(int code) {
        if (code == 0) return 0;
        if (code >= 100001 && code <= 100000 + static_cast<int>(kClient))
            return static_cast<std::size_t>(code - 100000);
        if (code >= 100200 && code < 100200 + static_cast<int>(kHost))
            return 1 + kClient + static_cast<std::size_t>(code - 100200);
        return kOther;
    }
    /// The code a slot counts; -1 for "other".
    static int code(std::size_t slot) {
        if (slot == 0) return 0;
        if (slot <= kClient) return 100000 + static_cast<int>(slot);
        if (slot < kOther) return 100200 + static_cast<int>(slot - 1 - kClient);
        return -1;
    }
};

/// The shard a thread writes (threads take shards round robin, once each).
struct RouteCounterShard {
    static std::size_t mine() {
        static std::atomic<std::size_t> next{0};
        thread_local const std::size_t shard = next.fetch_add(1, std::memory_order_relaxed) % 8;
        return shard;
    }
};

/// Upper bounds of the latency buckets, in nanoseconds: 0.1 ms to 10 s
/// (Prometheus' le values 0.0001 .. 10); one more bucket holds the rest.
inline constexpr std::array<std::uint64_t, 16> kLatencyBoundsNs = {
    100'000,     250'000,     500'000,       1'000'000,     2'500'000,     5'000'000,
    10'000'000,  25'000'000,  50'000'000,    100'000'000,   250'000'000,   500'000'000,
    1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000};

/// A route's counters: calls started, settled by code, latency from the
/// call's start to its outcome. Writers touch only their thread's shard.
class RouteCounter {
public:
    static constexpr std::size_t kShards = 8;
    static constexpr std::size_t kBuckets = kLatencyBoundsNs.size() + 1;

    /// A call of this route was handed to the pool.
    void started() { shard().started.fetch_add(1, std::memory_order_relaxed); }
    /// A call settled with `code`, `ns` after it started.
    void settled(int code, std::uint64_t ns) {
        Shard& s = shard();
        s.codes[CodeSlots::of(code)].fetch_add(1, std::memory_order_relaxed);
        std::size_t b = 0;
        while (b < kLatencyBoundsNs.size() && ns > kLatencyBoundsNs[b]) ++b;
        s.buckets[b].fetch_add(1, std::memory_order_relaxed);
        s.sumNs.fetch_add(ns, std::memory_order_relaxed);
    }

    /// Sums of every shard, read without stopping the writers (each value
    /// is exact; values may be from slightly different moments).
    struct Snapshot {
        std::uint64_t started = 0, settled = 0, errors = 0, sumNs = 0;
        std::array<std::uint64_t, CodeSlots::kCount> codes{};
        std::array<std::uint64_t, kBuckets> buckets{}; ///< per bucket, not cumulative
        std::uint64_t inFlight() const { return started > settled ? started - settled : 0; }
    };
    Snapshot snapshot() const {
        Snapshot out;
        for (const Shard& s : _shards) {
            out.started += s.started.load(std::memory_order_relaxed);
            for (std::size_t i = 0; i < CodeSlots::kCount; ++i)
                out.codes[i] += s.codes[i].load(std::memory_order_relaxed);
            for (std::size_t i = 0; i < kBuckets; ++i)
                out.buckets[i] += s.buckets[i].load(std::memory_order_relaxed);
            out.sumNs += s.sumNs.load(std::memory_order_relaxed);
        }
        for (std::size_t i = 0; i < CodeSlots::kCount; ++i) out.settled += out.codes[i];
        out.errors = out.settled - out.codes[0];
        return out;
    }

private:
    struct alignas(64) Shard {
        std::atomic<std::uint64_t> started{0};
        std::atomic<std::uint64_t> sumNs{0};
        std::array<std::atomic<std::uint64_t>, CodeSlots::kCount> codes{};
        std::array<std::atomic<std::uint64_t>, kBuckets> buckets{};
    };
    /// Threads take shards round robin, once each.
    static std::size_t threadShard() {
        static std::atomic<std::size_t> next{0};
        thread_local const std::size_t mine = next.fetch_add(1, std::memory_order_relaxed) % kShards;
        return mine;
    }
    Shard& shard() { return _shards[threadShard()]; }
    std::array<Shard, kShards> _shards;
};

/// Upper bounds of the event-loop lag buckets, in nanoseconds: 10 us to
/// 1 s (le 0.00001 .. 1); one more bucket holds the rest.
inline constexpr std::array<std::uint64_t, 15> kLoopLagBoundsNs = {
    10'000,     25'000,     50'000,      100'000,     250'000,     500'000,     1'000'000,  2'500'000,
    5'000'000,  10'000'000, 25'000'000,  50'000'000,  100'000'000, 250'000'000, 1'000'000'000};

/// The I/O threads' lag: per poll round that handed calls over, the time
/// from the round's events coming back (its frames read) to the hand-off
/// to the task pool and queue. Each I/O thread writes its own shard.
class LagHistogram {
public:
    static constexpr std::size_t kShards = 8;
    static constexpr std::size_t kBuckets = kLoopLagBoundsNs.size() + 1;
    void observe(std::uint64_t ns) {
        Shard& s = _shards[RouteCounterShard::mine()];
        std::size_t b = 0;
        while (b < kLoopLagBoundsNs.size() && ns > kLoopLagBoundsNs[b]) ++b;
        s.buckets[b].fetch_add(1, std::memory_order_relaxed);
        s.sumNs.fetch_add(ns, std::memory_order_relaxed);
    }
    struct Snapshot {
        std::array<std::uint64_t, kBuckets> buckets{}; ///< per bucket, not cumulative
        std::uint64_t sumNs = 0;
    };
    Snapshot snapshot() const {
        Snapshot out;
        for (const Shard& s : _shards) {
            for (std::size_t i = 0; i < kBuckets; ++i) out.buckets[i] += s.buckets[i].load(std::memory_order_relaxed);
            out.sumNs += s.sumNs.load(std::memory_order_relaxed);
        }
        return out;
    }

private:
    struct alignas(64) Shard {
        std::array<std::atomic<std::uint64_t>, kBuckets> buckets{};
        std::atomic<std::uint64_t> sumNs{0};
    };
    std::array<Shard, kShards> _shards;
};

/// Nanoseconds on the monotonic clock (for call latencies).
inline std::uint64_t nowNs() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

/// The request types counted under getStat's `modes`: both generations'
/// type names, and the HTTP gateway's endpoints.
inline constexpr std::array<std::string_view, 16> kModeNames = {
    "SSS", "SSM", "SRS", "SRM", "SC", "W_S", "W_M", "AN_S", "AN_M", "AM_S", "AM_M",
    "http:W_M", "http:AN_M", "http:SC", "http:metrics", "http:other"};
/// The frame generations requests are counted by (wire::Generation's order).
inline constexpr std::array<std::string_view, 3> kGenerationNames = {"v1", "v2", "json"};

class Stats {
public:
    Stats() : _started(std::chrono::steady_clock::now()) {}

    /// The counter of a route (created on first ask; lives as long as the
    /// host, across reloads). Only the plugin loader asks, for routes that
    /// exist. Thread-safe.
    std::shared_ptr<RouteCounter> route(const std::string& api) {
        std::lock_guard<std::mutex> lock(_mutex);
        auto& c = _routes[api];
        if (!c) c = std::make_shared<RouteCounter>();
        return c;
    }
    /// The counter of a request type from kModeNames arriving in frames of
    /// generation `gen` (the HTTP gateway's "http:" names: any); any other
    /// name counts as "http:other". No lock, no allocation.
    Counter& mode(std::string_view type, wire::Generation gen = wire::Generation::V2) {
        auto& row = _modes[static_cast<std::size_t>(gen) % kGenerationNames.size()];
        for (std::size_t i = 0; i < kModeNames.size(); ++i)
            if (kModeNames[i] == type) return row[i];
        return row.back();
    }
    using ModeRow = std::array<Counter, kModeNames.size()>;
    const std::array<ModeRow, kGenerationNames.size()>& modes() const { return _modes; }

    std::map<std::string, std::shared_ptr<RouteCounter>> snapshot() const {
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
    std::atomic<std::uint64_t> poolRefused{0}; ///< calls the task pool had no room for
    /// Refused requests, failed calls and dead letters, one log line each.
    EventLog events;
    LagHistogram loopLag; ///< the I/O threads' frame-to-hand-off lag

private:
    std::chrono::steady_clock::time_point _started;
    mutable std::mutex _mutex;
    std::map<std::string, std::shared_ptr<RouteCounter>> _routes;
    std::array<ModeRow, kGenerationNames.size()> _modes;
};

} // namespace dora::stats
