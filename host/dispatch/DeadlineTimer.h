// dispatch/DeadlineTimer.h — one thread that fires deadlines (route
// timeouts). Built for many short-lived deadlines: a deadline holds only a
// weak reference to its target and a plain function, and deadlines of the
// same length queue in arrival order, so adding one is O(1) and no
// allocation beyond the queue's own. A target that is gone when its
// deadline comes is skipped.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

namespace dora::dispatch {

class DeadlineTimer {
public:
    using Clock = std::chrono::steady_clock;
    /// Called on the timer thread with the (still alive) target.
    using Fire = void (*)(void* target, std::size_t index, int ms);

    DeadlineTimer();
    ~DeadlineTimer(); ///< drops deadlines not yet due
    DeadlineTimer(const DeadlineTimer&) = delete;
    DeadlineTimer& operator=(const DeadlineTimer&) = delete;

    /// In `ms` milliseconds, calls fire(target, index, ms) if the target
    /// still exists. Thread-safe.
    void after(int ms, std::weak_ptr<void> target, std::size_t index, Fire fire);

private:
    struct Item {
        Clock::time_point at;
        std::weak_ptr<void> target;
        std::size_t index;
        Fire fire;
    };
    void run();

    std::mutex _mutex;
    std::condition_variable _cv;
    std::map<int, std::deque<Item>> _byLength; ///< each deque is in deadline order
    bool _stopping = false;
    std::thread _thread;
};

} // namespace dora::dispatch
