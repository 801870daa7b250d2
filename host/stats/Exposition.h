// stats/Exposition.h — writes the Prometheus text exposition format
// (version 0.0.4): one HELP and TYPE line per metric family, then its
// samples. Label values are escaped as the format requires; names are the
// caller's constants (dorahost_ prefix, base units, _total counters).
#pragma once

#include "stats/Stats.h"

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dora::stats {

class Exposition {
public:
    using Label = std::pair<std::string_view, std::string_view>;
    using Labels = std::initializer_list<Label>;

    /// Starts a family: type is counter, gauge or histogram.
    void family(std::string_view name, std::string_view type, std::string_view help);
    void sample(std::string_view name, Labels labels, std::uint64_t value);
    void sample(std::string_view name, Labels labels, std::int64_t value);
    void sample(std::string_view name, Labels labels, double value);
    /// A whole histogram sample set (_bucket per bound plus +Inf, _sum,
    /// _count) from per-bucket counts; `le` holds the bounds as written,
    /// `sum` is in the family's unit. `extra` is one label added before le.
    void histogram(std::string_view name, const std::vector<std::string_view>& le,
                   const std::uint64_t* perBucket, double sum, Label extra = {});

    const std::string& text() const { return _out; }

private:
    void start(std::string_view name, Labels labels, std::string_view suffix = {});
    std::string _out;
};

/// The le values of kLatencyBoundsNs, in seconds.
const std::vector<std::string_view>& latencyBucketsSeconds();

} // namespace dora::stats
