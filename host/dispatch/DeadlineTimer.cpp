#include "dispatch/DeadlineTimer.h"

#include <vector>

namespace dora::dispatch {

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
        if (next == Clock::time_point::max())
            _cv.wait(lock);
        else
            _cv.wait_until(lock, next);
    }
}

} // namespace dora::dispatch
