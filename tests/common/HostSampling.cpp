#include "common/HostSampling.h"

#include "common/TestSupport.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <fstream>

namespace dora::test {

long rssKb(int pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

double percentile(std::vector<double> v, int pct) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, v.size() * static_cast<std::size_t>(pct) / 100)];
}

RssSampler::RssSampler(int pid)
    : _pid(pid), _thread([this] {
          while (!_stop) {
              _peak = std::max(_peak.load(), rssKb(_pid));
              std::this_thread::sleep_for(std::chrono::milliseconds(20));
          }
      }) {}

RssSampler::~RssSampler() {
    _stop = true;
    _thread.join();
}

GoodClient::GoodClient(std::uint16_t port) : _thread([this, port] { run(port); }) {}

void GoodClient::stop() {
    _stop = true;
    if (_thread.joinable()) _thread.join();
}

void GoodClient::run(std::uint16_t port) {
    using Clock = std::chrono::steady_clock;
    try {
        WireClient c(port);
        dora::sdk::Value param = dora::sdk::Value::array();
        param.set("say", "hi");
        while (!_stop) {
            auto t0 = Clock::now();
            dora::sdk::Value a = callV1(c, "SSS", oneCall("echo", param));
            double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
            const dora::sdk::Value* code = a.find("code");
            if (!code || code->asInt() != 0) ++_fail;
            _lat.push_back(ms);
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    } catch (const std::exception& e) {
        _err = e.what();
        ++_fail;
    }
}

} // namespace dora::test
