// plugins/PluginMetrics.h — the counters and histograms a plugin registers
// at init (SDK 1.2 register_metric). Owned by the loaded plugin, so they
// live exactly as long as it: a reload starts them from zero. Updates are
// lock-free from any task worker; snapshot() is the one reader (getStat,
// and whatever exports metrics later).
#pragma once

#include <dora/sdk/abi.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct dora_metric {
    std::string name;
    std::string help;
    std::int32_t kind = DORA_METRIC_COUNTER;
    std::atomic<std::int64_t> count{0}; ///< a counter's value; a histogram's observations
    std::atomic<double> sum{0.0};       ///< histogram only
    std::vector<double> bounds;         ///< histogram upper bounds, increasing
    std::unique_ptr<std::atomic<std::uint64_t>[]> buckets; ///< bounds.size() + 1 (the last: +Inf)

    void add(std::int64_t n) { count.fetch_add(n, std::memory_order_relaxed); }
    void observe(double v) {
        std::size_t i = 0;
        while (i < bounds.size() && v > bounds[i])
            ++i;
        buckets[i].fetch_add(1, std::memory_order_relaxed);
        double s = sum.load(std::memory_order_relaxed);
        while (!sum.compare_exchange_weak(s, s + v, std::memory_order_relaxed)) {
        }
        count.fetch_add(1, std::memory_order_relaxed);
    }
};

namespace dora::plugins {

/// A copy of one metric at one moment.
struct MetricSnapshot {
    std::string name, help;
    bool histogram = false;
    std::int64_t count = 0; ///< counter value, or number of observations
    double sum = 0;
    std::vector<double> bounds; ///< histogram: upper bounds (+Inf implied)
    std::vector<std::uint64_t>
        buckets; ///< histogram: per bucket (not cumulative), bounds.size() + 1
};

inline MetricSnapshot snapshot(const dora_metric& m) {
    MetricSnapshot s;
    s.name = m.name;
    s.help = m.help;
    s.histogram = m.kind == DORA_METRIC_HISTOGRAM;
    s.count = m.count.load(std::memory_order_relaxed);
    if (s.histogram) {
        s.sum = m.sum.load(std::memory_order_relaxed);
        s.bounds = m.bounds;
        for (std::size_t i = 0; i <= m.bounds.size(); ++i)
            s.buckets.push_back(m.buckets[i].load(std::memory_order_relaxed));
    }
    return s;
}

} // namespace dora::plugins
