// tests/common/HostSampling.h — what the limits and abuse suites sample
// while they load the real host: its RSS (/proc/<pid>/status), the peak of
// it over a stretch, and a well-behaved client's latencies.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace dora::test {

/// VmRSS of a process in KiB; -1 when it cannot be read.
long rssKb(int pid);

/// The pct-th percentile of v (nearest rank, v[n * pct / 100]); 0 when empty.
double percentile(std::vector<double> v, int pct);

/// Highest VmRSS of a process while the sampler lives (a sample every
/// 20 ms on a thread of its own).
class RssSampler {
public:
    explicit RssSampler(int pid);
    ~RssSampler();
    RssSampler(const RssSampler&) = delete;
    RssSampler& operator=(const RssSampler&) = delete;
    long peakKb() const { return _peak; }

private:
    int _pid;
    std::atomic<bool> _stop{false};
    std::atomic<long> _peak{0};
    std::thread _thread;
};

/// A client that does what clients should, on a thread of its own: one
/// small v1 echo at a time on one connection, reading each answer, 5 ms
/// apart; records every call's latency. Read the results after stop().
class GoodClient {
public:
    explicit GoodClient(std::uint16_t port);
    ~GoodClient() { stop(); }
    GoodClient(const GoodClient&) = delete;
    GoodClient& operator=(const GoodClient&) = delete;
    void stop();
    /// 1e9 when no call completed.
    double p99Ms() const { return _lat.empty() ? 1e9 : percentile(_lat, 99); }
    std::size_t calls() const { return _lat.size(); }
    std::size_t failures() const { return _fail; }
    std::string lastError() const { return _err; }

private:
    void run(std::uint16_t port);
    std::atomic<bool> _stop{false};
    std::vector<double> _lat; // read after stop()
    std::atomic<std::size_t> _fail{0};
    std::string _err;
    std::thread _thread;
};

} // namespace dora::test
