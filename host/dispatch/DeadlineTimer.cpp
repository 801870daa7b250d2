#include "dispatch/DeadlineTimer.h"

#include <pthread.h>

#include <algorithm>
#include <vector>

namespace dora::dispatch {

namespace {
constexpr auto kTick = std::chrono::milliseconds(1);
} // namespace

DeadlineTimer::DeadlineTimer() : _thread([this] { run(); }) {}

DeadlineTimer::~DeadlineTimer() {
    {
        std::lock_guard<std::mutex> lock(_mutex);
        _stopping = true;
    }
    _cv.notify_one();
    _thread.join();
}

void DeadlineTimer::after(int ms, std::weak_ptr<void> target, std::size_t index, Fire fire) {
    bool wake;
    {
        std::lock_guard<std::mutex> lock(_mutex);
        auto& q = _byLength[ms];
        // Only a first deadline of its length can be earlier than what the
        // thread sleeps for.
        wake = q.empty();
        q.push_back(Item{Clock::now() + std::chrono::milliseconds(ms), std::move(target), index, fire});
    }
    if (wake) _cv.notify_one();
}

void DeadlineTimer::run() {
    pthread_setname_np(pthread_self(), "dora-deadlines");
    std::unique_lock<std::mutex> lock(_mutex);
    std::vector<std::pair<Item, int>> due;
    while (!_stopping) {
        auto now = Clock::now();
        auto next = Clock::time_point::max();
        for (auto& [ms, q] : _byLength) {
            while (!q.empty() && q.front().at <= now) {
                due.emplace_back(std::move(q.front()), ms);
                q.pop_front();
            }
            if (!q.empty() && q.front().at < next) next = q.front().at;
        }
        if (!due.empty()) {
            lock.unlock();
            for (auto& [item, ms] : due)
                if (auto t = item.target.lock()) item.fire(t.get(), item.index, ms);
            due.clear();
            lock.lock();
            continue;
        }
        // At most one wake-up per tick: under load a deadline falls due
        // every few microseconds, and waking for each would cost more than
        // the calls it guards. A deadline fires up to one tick late.
        if (next == Clock::time_point::max())
            _cv.wait(lock);
        else
            _cv.wait_until(lock, std::max(next, now + kTick));
    }
}

} // namespace dora::dispatch
