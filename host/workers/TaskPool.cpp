#include "workers/TaskPool.h"

#include <Poco/Logger.h>

#include <algorithm>

namespace dora::workers {

TaskPool::TaskPool(unsigned workers, std::size_t maxQueued, ChunkHooks hooks)
    : _maxQueued(maxQueued), _hooks(std::move(hooks)) {
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
    // call hold up the fast ones queued behind it in the same chunk (v2
    // clients pipeline and must get fast answers first). The chunk hooks
    // still wrap each job.
    constexpr std::size_t kMaxChunk = 1;
    std::vector<Job> chunk;
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
        std::size_t share = _queue.size() / (_threads.empty() ? 1 : _threads.size());
        std::size_t take = std::min(kMaxChunk, std::max<std::size_t>(1, share));
        for (std::size_t i = 0; i < take; ++i) {
            chunk.push_back(std::move(_queue.front()));
            _queue.pop_front();
        }
        _queuedCount.store(_queue.size(), std::memory_order_release);
        _busy += take;
        lock.unlock();
        if (_hooks.before) _hooks.before();
        for (auto& job : chunk) {
            try {
                job(index);
            } catch (const std::exception& e) {
                // Jobs answer their own errors; this only guards the pool.
                Poco::Logger::get("dorahost.workers").error("job escaped with: %s", std::string(e.what()));
            } catch (...) {
                Poco::Logger::get("dorahost.workers").error("job escaped with an unknown exception");
            }
        }
        if (_hooks.after) _hooks.after();
        chunk.clear();
        lock.lock();
        _busy -= take;
    }
}

} // namespace dora::workers
