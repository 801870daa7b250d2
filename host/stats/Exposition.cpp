#include "stats/Exposition.h"

#include <cmath>
#include <cstdio>

namespace dora::stats {

namespace {

void escapeInto(std::string& out, std::string_view v, bool quote) {
    for (char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else if (quote && c == '"')
            out += "\\\"";
        else
            out += c;
    }
}

void number(std::string& out, double v) {
    if (std::isnan(v)) {
        out += "NaN";
    } else if (std::isinf(v)) {
        out += v > 0 ? "+Inf" : "-Inf";
    } else {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.9g", v);
        out += buf;
    }
}

} // namespace

void Exposition::family(std::string_view name, std::string_view type, std::string_view help) {
    _out += "# HELP ";
    _out += name;
    _out += ' ';
    escapeInto(_out, help, false);
    _out += "\n# TYPE ";
    _out += name;
    _out += ' ';
    _out += type;
    _out += '\n';
}

void Exposition::start(std::string_view name, Labels labels, std::string_view suffix) {
    _out += name;
    _out += suffix;
    bool first = true;
    for (const auto& [k, v] : labels) {
        if (k.empty()) continue;
        _out += first ? '{' : ',';
        first = false;
        _out += k;
        _out += "=\"";
        escapeInto(_out, v, true);
        _out += '"';
    }
    if (!first) _out += '}';
    _out += ' ';
}

void Exposition::sample(std::string_view name, Labels labels, std::uint64_t value) {
    start(name, labels);
    _out += std::to_string(value);
    _out += '\n';
}

void Exposition::sample(std::string_view name, Labels labels, std::int64_t value) {
    start(name, labels);
    _out += std::to_string(value);
    _out += '\n';
}

void Exposition::sample(std::string_view name, Labels labels, double value) {
    start(name, labels);
    number(_out, value);
    _out += '\n';
}

void Exposition::histogram(std::string_view name, const std::vector<std::string_view>& le,
                           const std::uint64_t* perBucket, double sum, Label extra) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= le.size(); ++i) {
        cumulative += perBucket[i];
        start(name, {extra, {"le", i < le.size() ? le[i] : std::string_view("+Inf")}}, "_bucket");
        _out += std::to_string(cumulative);
        _out += '\n';
    }
    start(name, {extra}, "_sum");
    number(_out, sum);
    _out += '\n';
    start(name, {extra}, "_count");
    _out += std::to_string(cumulative);
    _out += '\n';
}

const std::vector<std::string_view>& latencyBucketsSeconds() {
    static const std::vector<std::string_view> le = {"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005",
                                                     "0.01",   "0.025",   "0.05",   "0.1",   "0.25",   "0.5",
                                                     "1",      "2.5",     "5",      "10"};
    static_assert(kLatencyBoundsNs.size() == 16, "one le per bound");
    return le;
}

} // namespace dora::stats
