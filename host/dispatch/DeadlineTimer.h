// dispatch/DeadlineTimer.h — one thread that runs callbacks at deadlines
// (route timeouts). Callbacks must be short: they only post answers.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace dora::dispatch {

class DeadlineTimer {
public:
    using Clock = std::chrono::steady_clock;
    DeadlineTimer();
    ~DeadlineTimer(); ///< drops callbacks not yet due
    DeadlineTimer(const DeadlineTimer&) = delete;
    DeadlineTimer& operator=(const DeadlineTimer&) = delete;

    /// Runs fn on the timer thread after `ms` milliseconds. Thread-safe.
    void after(int ms, std::function<void()> fn);

private:
    struct Item {
        Clock::time_point at;
        std::uint64_t seq;
        std::function<void()> fn;
        bool operator>(const Item& o) const { return at > o.at || (at == o.at && seq > o.seq); }
    };
    void run();

    std::mutex _mutex;
    std::condition_variable _cv;
    std::priority_queue<Item, std::vector<Item>, std::greater<Item>> _items;
    std::uint64_t _seq = 0;
    bool _stopping = false;
    std::thread _thread;
};

} // namespace dora::dispatch
