// dora top: a live view of one server, from the control command topStat
// sampled every interval: per route requests/s, errors/s, p99 (from the
// latency buckets' increase) and calls in flight; the task pool; the
// queue's depth and lag. `q` quits; --once prints one view (two samples an
// interval apart), --json as one JSON document.
#include "cli/Commands.h"

#include <dora/client/Client.h>

#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

namespace dora::cli {

using dora::client::Client;
using dora::client::Result;
using dora::sdk::Value;

namespace {

const char* const kTopHelp =
    "usage: dora top [--once] [--interval MS] [client options]\n"
    "\n"
    "A live view of the server (control command topStat), refreshed every\n"
    "interval (default 1000 ms): per route requests/s, errors/s, p99 latency\n"
    "and calls in flight; task pool busy/queued; queue depth and the age of\n"
    "the oldest pending task. Press q to quit.\n"
    "  --once       print one view (two samples an interval apart) and exit;\n"
    "               with --json as one JSON document\n"
    "\n";

struct RouteSample {
    std::int64_t requests = 0, errors = 0, inFlight = 0;
    std::vector<std::int64_t> buckets;
};

struct Sample {
    double uptime = 0;
    std::vector<std::int64_t> boundsUs;
    std::map<std::string, RouteSample> routes;
    Value pool, queue;
};

std::int64_t intOf(const Value& v, const char* key) {
    const Value* p = v.find(key);
    return p && p->isInt() ? p->asInt() : 0;
}

Sample take(Client& client) {
    Result r = client.control("topStat", Value());
    if (r.code != 0) throw std::runtime_error("topStat: " + std::to_string(r.code) + " " + r.msg);
    Sample s;
    const Value& d = r.data;
    if (const Value* u = d.find("uptime_sec")) s.uptime = u->isInt() ? static_cast<double>(u->asInt()) : u->asFloat();
    if (const Value* b = d.find("bucket_bounds_us"))
        for (const auto& e : b->asArray()) s.boundsUs.push_back(e.value.asInt());
    if (const Value* routes = d.find("routes"); routes && routes->isArray())
        for (const auto& e : routes->asArray()) {
            RouteSample rs;
            rs.requests = intOf(e.value, "requests");
            rs.errors = intOf(e.value, "errors");
            rs.inFlight = intOf(e.value, "in_flight");
            if (const Value* b = e.value.find("buckets"))
                for (const auto& x : b->asArray()) rs.buckets.push_back(x.value.asInt());
            s.routes[e.key.toString()] = std::move(rs);
        }
    if (const Value* p = d.find("pool")) s.pool = *p;
    if (const Value* q = d.find("queue")) s.queue = *q;
    return s;
}

struct RouteView {
    std::string name;
    double rps = 0, eps = 0;
    double p99Ms = -1; ///< -1: no call in the interval; +inf: above the last bound
    std::int64_t inFlight = 0, total = 0;
};

/// The upper bound of the bucket holding the 99th percentile of the calls
/// settled between the samples.
double p99Of(const RouteSample& a, const RouteSample& b, const std::vector<std::int64_t>& boundsUs) {
    std::vector<std::int64_t> d(b.buckets.size(), 0);
    std::int64_t total = 0;
    for (std::size_t i = 0; i < b.buckets.size(); ++i) {
        d[i] = b.buckets[i] - (i < a.buckets.size() ? a.buckets[i] : 0);
        total += d[i];
    }
    if (total <= 0) return -1;
    std::int64_t want = (total * 99 + 99) / 100, seen = 0;
    for (std::size_t i = 0; i < d.size(); ++i) {
        seen += d[i];
        if (seen >= want) return i < boundsUs.size() ? static_cast<double>(boundsUs[i]) / 1000.0 : 1e300;
    }
    return 1e300;
}

std::vector<RouteView> views(const Sample& a, const Sample& b) {
    double dt = std::max(1e-3, b.uptime - a.uptime);
    std::vector<RouteView> out;
    for (const auto& [name, rb] : b.routes) {
        auto it = a.routes.find(name);
        RouteSample ra = it == a.routes.end() ? RouteSample{} : it->second;
        if (rb.requests == 0 && rb.inFlight == 0) continue; // never called
        RouteView v;
        v.name = name;
        v.rps = static_cast<double>(rb.requests - ra.requests) / dt;
        v.eps = static_cast<double>(rb.errors - ra.errors) / dt;
        v.p99Ms = p99Of(ra, rb, b.boundsUs);
        v.inFlight = rb.inFlight;
        v.total = rb.requests;
        out.push_back(v);
    }
    std::sort(out.begin(), out.end(), [](const RouteView& x, const RouteView& y) {
        return x.rps != y.rps ? x.rps > y.rps : x.name < y.name;
    });
    return out;
}

std::string p99Text(double ms) {
    if (ms < 0) return "-";
    if (ms > 1e299) return ">10s";
    char buf[32];
    std::snprintf(buf, sizeof buf, ms < 1 ? "<=%.2fms" : "<=%.0fms", ms);
    return buf;
}

std::string render(const std::string& server, const Sample& a, const Sample& b) {
    std::ostringstream o;
    char line[256];
    o << "dora top - " << server << "   (q quits)\n";
    std::snprintf(line, sizeof line, "pool: %lld/%lld busy, %lld queued    queue: %lld in stream, %lld pending, lag %.1fs, %lld dead\n",
                  static_cast<long long>(intOf(b.pool, "busy")), static_cast<long long>(intOf(b.pool, "workers")),
                  static_cast<long long>(intOf(b.pool, "queued")), static_cast<long long>(intOf(b.queue, "stream_length")),
                  static_cast<long long>(intOf(b.queue, "pending")),
                  static_cast<double>(intOf(b.queue, "oldest_pending_age_ms")) / 1000.0,
                  static_cast<long long>(intOf(b.queue, "dead_letters")));
    o << line << "\n";
    std::snprintf(line, sizeof line, "%-24s %12s %10s %10s %9s %12s\n", "ROUTE", "REQ/S", "ERR/S", "P99", "INFLIGHT",
                  "TOTAL");
    o << line;
    for (const auto& v : views(a, b)) {
        std::snprintf(line, sizeof line, "%-24s %12.1f %10.1f %10s %9lld %12lld\n", v.name.c_str(), v.rps, v.eps,
                      p99Text(v.p99Ms).c_str(), static_cast<long long>(v.inFlight), static_cast<long long>(v.total));
        o << line;
    }
    return o.str();
}

Value toJson(const Sample& a, const Sample& b) {
    Value routes = Value::array();
    for (const auto& v : views(a, b)) {
        Value r = Value::array();
        r.set("requests_per_sec", v.rps);
        r.set("errors_per_sec", v.eps);
        if (v.p99Ms >= 0 && v.p99Ms < 1e299) r.set("p99_ms_at_most", v.p99Ms);
        else if (v.p99Ms >= 0) r.set("p99_ms_at_most", "above 10000");
        r.set("in_flight", v.inFlight);
        r.set("requests", v.total);
        routes.set(v.name, std::move(r));
    }
    Value out = Value::array();
    out.set("interval_sec", b.uptime - a.uptime);
    out.set("routes", std::move(routes));
    out.set("pool", b.pool);
    out.set("queue", b.queue);
    return out;
}

/// Raw keyboard input for the live view; restored when destroyed.
class RawTerminal {
public:
    RawTerminal() {
        if (!::isatty(0) || ::tcgetattr(0, &_saved) != 0) return;
        termios t = _saved;
        t.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
        t.c_cc[VMIN] = 0;
        t.c_cc[VTIME] = 0;
        _active = ::tcsetattr(0, TCSANOW, &t) == 0;
    }
    ~RawTerminal() {
        if (_active) ::tcsetattr(0, TCSANOW, &_saved);
    }
    RawTerminal(const RawTerminal&) = delete;
    RawTerminal& operator=(const RawTerminal&) = delete;

private:
    termios _saved{};
    bool _active = false;
};

/// Waits up to ms for a key; true when it was q (or stdin closed).
bool quitWithin(int ms) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    for (;;) {
        int left = static_cast<int>(
            std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now()).count());
        if (left <= 0) return false;
        pollfd p{0, POLLIN, 0};
        int n = ::poll(&p, 1, left);
        if (n <= 0) continue;
        char c = 0;
        ssize_t got = ::read(0, &c, 1);
        if (got == 0) return false; // no terminal (stdin at EOF): run until killed
        if (got == 1 && (c == 'q' || c == 'Q')) return true;
    }
}

} // namespace

int runTop(ArgList& args) {
    if (args.flag({"-h", "--help"})) {
        std::cout << kTopHelp << kClientOptionsHelp;
        return 0;
    }
    bool once = args.flag({"--once"});
    int interval = 1000;
    if (auto i = args.value({"--interval"})) interval = static_cast<int>(parseInt("--interval", *i, 100, 60000));
    ClientFlags flags = takeClientFlags(args);
    auto pos = args.positional();
    if (!pos.empty()) throw UsageError("top: unexpected argument '" + pos.front() + "'");
    if (flags.json && !once) throw UsageError("top: --json needs --once");
    Client client(flags.options);
    const std::string server = flags.options.servers.front().toString();
    Sample prev = take(client);
    if (once) {
        std::this_thread::sleep_for(std::chrono::milliseconds(interval));
        Sample cur = take(client);
        if (flags.json)
            std::cout << dora::client::toJson(toJson(prev, cur)) << "\n";
        else
            std::cout << render(server, prev, cur);
        return 0;
    }
    RawTerminal raw;
    for (;;) {
        if (quitWithin(interval)) return 0;
        Sample cur = take(client);
        std::cout << "\033[H\033[2J" << render(server, prev, cur) << std::flush;
        prev = std::move(cur);
    }
}

} // namespace dora::cli
