#include "workers/TaskPool.h"

#include <Poco/Logger.h>

#include <algorithm>

namespace dora::workers {

TaskPool::TaskPool(unsigned workers, std::size_t maxQueued) : _maxQueued(maxQueued) {
    _threads.reserve(workers);
    for (unsigned i = 0; i < workers; ++i) _threads.emplace_back([this, i] { run(i); });
}

TaskPool::~TaskPool() { stop(); }

void TaskPool::submit(std::vector<Job>& jobs) {
    if (jobs.empty()) return;
    std::size_t taken = 0;
    std::size_t wake = 0;
    {
        std::lock_guard<std::mutex> lock(_mutex);
        if (_stopping) return;
        while (taken < jobs.size() && _queue.size() < _maxQueued) {
            _queue.push_back(std::move(jobs[taken]));
            ++taken;
        }
        _queuedCount.store(_queue.size(), std::memory_order_release);
        // Workers still polling will take jobs without a wake-up.
        std::size_t need = taken > _spinning ? taken - _spinning : 0;
        wake = need < _idle ? need : _idle;
    }
    jobs.erase(jobs.begin(), jobs.begin() + static_cast<std::ptrdiff_t>(taken));
    if (wake == 1)
        _cv.notify_one();
    else if (wake > 1)
        _cv.notify_all();
}

bool TaskPool::submit(Job job) {
    std::vector<Job> one;
    one.push_back(std::move(job));
    submit(one);
    return one.empty();
}

void TaskPool::stop() {
    {
        std::lock_guard<std::mutex> lock(_mutex);
        if (_stopping && _threads.empty()) return;
        _stopping = true;
    }
    _cv.notify_all();
    for (auto& t : _threads)
        if (t.joinable()) t.join();
    _threads.clear();
}

std::size_t TaskPool::queued() const {
    std::lock_guard<std::mutex> lock(_mutex);
    return _queue.size();
}

std::size_t TaskPool::busy() const {
    std::lock_guard<std::mutex> lock(_mutex);
    return _busy;
}

void TaskPool::run(unsigned index) {
    // One job at a time: taking several at once saved locks but let a slow
    // call hold up the fast ones queued behind it (v2 clients pipeline and
    // must get fast answers first).
    std::unique_lock<std::mutex> lock(_mutex);
    for (;;) {
        if (_queue.empty() && !_stopping) {
            // Poll briefly before sleeping: under steady load the next job
            // comes within microseconds, and a futex sleep + wake-up costs
            // more than that on both sides.
            ++_spinning;
            lock.unlock();
            for (int i = 0; i < 200 && _queuedCount.load(std::memory_order_acquire) == 0; ++i)
                std::this_thread::yield();
            lock.lock();
            --_spinning;
        }
        while (_queue.empty() && !_stopping) {
            ++_idle;
            _cv.wait(lock);
            --_idle;
        }
        if (_queue.empty()) return; // stopping and drained
        Job job = std::move(_queue.front());
        _queue.pop_front();
        _queuedCount.store(_queue.size(), std::memory_order_release);
        ++_busy;
        lock.unlock();
        try {
            job(index);
        } catch (const std::exception& e) {
            // Jobs answer their own errors; this only guards the pool.
            Poco::Logger::get("dorahost.workers").error("job escaped with: %s", std::string(e.what()));
        } catch (...) {
            Poco::Logger::get("dorahost.workers").error("job escaped with an unknown exception");
        }
        lock.lock();
        --_busy;
    }
}

} // namespace dora::workers
