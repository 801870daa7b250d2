#include "dispatch/DeadlineTimer.h"

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

void DeadlineTimer::after(int ms, std::function<void()> fn) {
    bool first;
    {
        std::lock_guard<std::mutex> lock(_mutex);
        Item it{Clock::now() + std::chrono::milliseconds(ms), _seq++, std::move(fn)};
        first = _items.empty() || it.at < _items.top().at;
        _items.push(std::move(it));
    }
    if (first) _cv.notify_one();
}

void DeadlineTimer::run() {
    std::unique_lock<std::mutex> lock(_mutex);
    while (!_stopping) {
        if (_items.empty()) {
            _cv.wait(lock);
            continue;
        }
        auto at = _items.top().at;
        if (Clock::now() < at) {
            _cv.wait_until(lock, at);
            continue;
        }
        auto fn = std::move(const_cast<Item&>(_items.top()).fn);
        _items.pop();
        lock.unlock();
        fn();
        lock.lock();
    }
}

} // namespace dora::dispatch
