// dora/sdk/metrics.h — a plugin's own counters and histograms (ABI 1.2),
// registered during init (Registrar::counter, Registrar::histogram) and
// shown by the host in getStat under plugin_metrics.<plugin name>.
//
//     static Counter hits, misses;          // set once in init
//     hits = r.counter("cache_hits", "get_user answered from Redis");
//     ...
//     hits.add();                           // in a handler, any thread
//
// A metric lives as long as the loaded plugin: a reload starts from zero.
#ifndef DORA_SDK_METRICS_H
#define DORA_SDK_METRICS_H

#include <dora/sdk/abi.h>

#include <cstdint>

namespace dora::sdk {

/// A monotonic counter. Copyable handle; add() is lock-free and safe from
/// any thread. A default-constructed Counter does nothing.
class Counter {
public:
    Counter() noexcept = default;
    Counter(const dora_host_api* api, dora_metric* m) noexcept : _api(api), _m(m) {}
    void add(std::int64_t n = 1) const noexcept {
        if (_m) _api->metric_add(_m, n);
    }
    explicit operator bool() const noexcept { return _m != nullptr; }

private:
    const dora_host_api* _api = nullptr;
    dora_metric* _m = nullptr;
};

/// A histogram with fixed upper bounds (plus +Inf), a count and a sum.
/// Same rules as Counter.
class Histogram {
public:
    Histogram() noexcept = default;
    Histogram(const dora_host_api* api, dora_metric* m) noexcept : _api(api), _m(m) {}
    void observe(double v) const noexcept {
        if (_m) _api->metric_observe(_m, v);
    }
    explicit operator bool() const noexcept { return _m != nullptr; }

private:
    const dora_host_api* _api = nullptr;
    dora_metric* _m = nullptr;
};

} // namespace dora::sdk

#endif // DORA_SDK_METRICS_H
