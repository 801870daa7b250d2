// cli/Histogram.h — a latency histogram with bounded memory and ~1.6%
// relative error (log-linear buckets: exact below 128 µs, then 64 buckets
// per power of two), plus the exact maximum. Not thread-safe.
#pragma once

#include <cstdint>
#include <vector>

namespace dora::cli {

class Histogram {
public:
    Histogram() : _counts(kBuckets, 0) {}

    void record(std::uint64_t micros) {
        ++_counts[index(micros)];
        ++_total;
        if (micros > _max) _max = micros;
    }

    std::uint64_t count() const { return _total; }
    std::uint64_t max() const { return _max; }

    /// The value at quantile q (0..1], in microseconds (0 when empty).
    std::uint64_t quantile(double q) const {
        if (_total == 0) return 0;
        auto want = static_cast<std::uint64_t>(q * static_cast<double>(_total) + 0.999999);
        if (want < 1) want = 1;
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < _counts.size(); ++i) {
            seen += _counts[i];
            if (seen >= want) {
                std::uint64_t v = upper(i);
                return v > _max ? _max : v;
            }
        }
        return _max;
    }

    void merge(const Histogram& o) {
        for (std::size_t i = 0; i < _counts.size(); ++i)
            _counts[i] += o._counts[i];
        _total += o._total;
        if (o._max > _max) _max = o._max;
    }

private:
    static constexpr std::size_t kLinear = 128;
    static constexpr std::size_t kSub = 64;
    static constexpr std::size_t kBuckets = kLinear + 58 * kSub;

    static std::size_t index(std::uint64_t v) {
        if (v < kLinear) return static_cast<std::size_t>(v);
        int top = 63 - __builtin_clzll(v); // v >= 128, so top >= 7
        int shift = top - 6;               // keep 7 significant bits
        return kLinear + static_cast<std::size_t>(shift - 1) * kSub +
               static_cast<std::size_t>((v >> shift) - kSub);
    }
    static std::uint64_t upper(std::size_t i) {
        if (i < kLinear) return i;
        std::size_t k = i - kLinear;
        int shift = static_cast<int>(k / kSub) + 1;
        return ((kSub + k % kSub + 1) << shift) - 1;
    }

    std::vector<std::uint64_t> _counts;
    std::uint64_t _total = 0;
    std::uint64_t _max = 0;
};

} // namespace dora::cli
