#include "workers/TaskPool.h"

#include <Poco/Logger.h>

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <string>

namespace dora::workers {

namespace {

/// How soon queued work should be under way: the pool wakes enough workers
/// that the queue, at the average task time, drains within this.
constexpr std::uint64_t kTargetDrainNs = 100000;
/// A queued task waiting this long gets a worker woken by the watch.
constexpr std::uint64_t kMaxWaitNs = 1000000;
/// The same for a group task held back by groupWorkers(): longer than a
/// commit takes (a few ms), so the groups form.
constexpr std::uint64_t kMaxGroupWaitNs = 20000000;

unsigned groupCap(unsigned workers, unsigned asked) {
    unsigned cap = asked;
    if (cap == 0) cap = std::max(2u, 2 * std::thread::hardware_concurrency());
    return std::max(1u, std::min(cap, workers));
}

void runJob(void* object, std::size_t, unsigned slot) { (*static_cast<TaskPool::Job*>(object))(slot); }

std::uint64_t nowNs() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

} // namespace

TaskPool::TaskPool(unsigned workers, std::size_t maxQueued, unsigned groupWorkers)
    : _workers(workers), _maxQueued(maxQueued), _groupCap(groupCap(workers, groupWorkers)) {
    // Slot 0 on top: a lightly loaded host keeps using the same few slots
    // (and so the same few MySQL connections).
    for (unsigned i = workers; i-- > 0;) _freeSlots.push_back(i);
    _runningSince.assign(workers, 0);
    _threads.reserve(workers);
    for (unsigned i = 0; i < workers; ++i) _threads.emplace_back([this, i] { run(i); });
    _watcher = std::thread([this] { watch(); });
}

TaskPool::~TaskPool() { stop(); }

std::size_t TaskPool::wakeCount() const {
    if (_idle == 0 || _queue.empty() || _freeSlots.empty()) return 0;
    // Group tasks are taken together by one worker: they ask for one more
    // worker, and none once groupWorkers() of them run.
    std::size_t waiting = _queue.size() - _queuedGroup;
    if (_queuedGroup > 0 && _groupRunning < _groupCap) ++waiting;
    if (waiting == 0) return 0;
    std::uint64_t avg = std::max<std::uint64_t>(1, _avgNs.load(std::memory_order_relaxed));
    // Workers needed so the queue drains within the target at the average
    // task time; at least one when nobody is awake to take it.
    std::uint64_t need = (waiting * avg + kTargetDrainNs - 1) / kTargetDrainNs;
    need = std::clamp<std::uint64_t>(need, 1, waiting);
    // A worker deep in a long task (a MySQL write, a held call) will not
    // take the next one soon: it does not count as awake for the queue.
    std::size_t ready = _awake;
    if (_workerTasks > 0) {
        const std::uint64_t now = nowNs();
        for (std::uint64_t since : _runningSince)
            if (since != 0 && now - since > kTargetDrainNs && ready > 0) --ready;
    }
    if (need <= ready) return 0;
    return std::min<std::size_t>(_idle, static_cast<std::size_t>(need - ready));
}

std::size_t TaskPool::submit(std::vector<Task>& tasks, std::size_t from) {
    if (from >= tasks.size()) return 0;
    std::size_t taken = 0;
    std::size_t wake = 0;
    {
        std::lock_guard<std::mutex> lock(_mutex);
        if (_stopping) return 0;
        const std::uint64_t now = nowNs();
        while (from + taken < tasks.size() && _queue.size() < _maxQueued) {
            tasks[from + taken].queuedAt = now;
            if (tasks[from + taken].group) ++_queuedGroup;
            _queue.push_back(std::move(tasks[from + taken]));
            ++taken;
        }
        wake = wakeCount();
        // Counted awake now, so the next submit does not wake them again.
        _awake += wake;
        _idle -= wake;
        _tokens += wake;
        // The watch is for tasks no worker was woken for. When every queued
        // task has one on its way (a sync call on a host with idle workers:
        // the usual case) the watch sleeps on; waking it on each submit
        // was a futex wake and a context switch per call.
        if (taken > 0 && _watchParked && _queue.size() > wake) {
            _watchParked = false;
            ++_watchWakes;
            _watchCv.notify_one();
        }
    }
    for (std::size_t i = 0; i < wake; ++i) _cv.notify_one();
    return taken;
}

bool TaskPool::submit(Job job) {
    std::vector<Task> one(1);
    one[0].run = &runJob;
    one[0].object = std::make_shared<Job>(std::move(job));
    return submit(one) == 1;
}

void TaskPool::stop() {
    {
        std::lock_guard<std::mutex> lock(_mutex);
        if (_stopping && _threads.empty()) return;
        _stopping = true;
    }
    _cv.notify_all();
    _watchCv.notify_one();
    for (auto& t : _threads)
        if (t.joinable()) t.join();
    _threads.clear();
    if (_watcher.joinable()) _watcher.join();
}

std::size_t TaskPool::queued() const {
    std::lock_guard<std::mutex> lock(_mutex);
    return _queue.size();
}

std::uint64_t TaskPool::watchWakes() const {
    std::lock_guard<std::mutex> lock(_mutex);
    return _watchWakes;
}

std::size_t TaskPool::busy() const {
    std::lock_guard<std::mutex> lock(_mutex);
    return _busy;
}

void TaskPool::watch() {
    pthread_setname_np(pthread_self(), "dora-pool-watch");
    std::unique_lock<std::mutex> lock(_mutex);
    while (!_stopping) {
        if (_queue.empty()) {
            _watchParked = true;
            _watchCv.wait(lock, [this] { return _stopping || !_watchParked; });
            _watchParked = false;
            continue;
        }
        _watchCv.wait_for(lock, std::chrono::nanoseconds(kMaxWaitNs));
        if (_queue.empty()) continue;
        const bool heldBack = _queue.front().group && _groupRunning >= _groupCap;
        if (_idle > 0 && !_freeSlots.empty() &&
            nowNs() - _queue.front().queuedAt > (heldBack ? kMaxGroupWaitNs : kMaxWaitNs)) {
            --_idle;
            ++_awake;
            ++_tokens;
            lock.unlock();
            _cv.notify_one();
            lock.lock();
        }
    }
}

bool TaskPool::runHere(Task& task) {
    unsigned slot = 0;
    {
        std::lock_guard<std::mutex> lock(_mutex);
        // Queued work goes first; the caller then hands its task over too.
        if (_stopping || !_queue.empty() || _freeSlots.empty()) return false;
        slot = _freeSlots.back();
        _freeSlots.pop_back();
        ++_busy;
    }
    execute(task, slot);
    release(slot);
    return true;
}

void TaskPool::release(unsigned slot) {
    bool wake = false;
    {
        std::lock_guard<std::mutex> lock(_mutex);
        _freeSlots.push_back(slot);
        --_busy;
        // A worker may be asleep because every slot was taken.
        if (wakeCount() > 0) {
            --_idle;
            ++_awake;
            ++_tokens;
            wake = true;
        }
    }
    if (wake) _cv.notify_one();
}

void TaskPool::execute(Task& task, unsigned slot) {
    std::uint64_t t0 = nowNs();
    try {
        task.run(task.object.get(), task.index, slot);
    } catch (const std::exception& e) {
        // Tasks answer their own errors; this only guards the pool.
        Poco::Logger::get("dorahost.workers").error("task escaped with: %s", std::string(e.what()));
    } catch (...) {
        Poco::Logger::get("dorahost.workers").error("task escaped with an unknown exception");
    }
    std::uint64_t took = nowNs() - t0;
    std::uint64_t avg = _avgNs.load(std::memory_order_relaxed);
    _avgNs.store(avg + (static_cast<std::int64_t>(took - avg) / 16), std::memory_order_relaxed);
    task.object.reset(); // outside the lock: may free the request
}

void TaskPool::executeGroup(std::vector<Task>& tasks, unsigned slot) {
    std::uint64_t t0 = nowNs();
    try {
        if (tasks.size() == 1)
            tasks.front().run(tasks.front().object.get(), tasks.front().index, slot);
        else
            tasks.front().runGroup(tasks.data(), tasks.size(), slot);
    } catch (const std::exception& e) {
        Poco::Logger::get("dorahost.workers").error("task group escaped with: %s", std::string(e.what()));
    } catch (...) {
        Poco::Logger::get("dorahost.workers").error("task group escaped with an unknown exception");
    }
    // Counted as that many tasks of the average time, for wake-up sizing.
    std::uint64_t took = (nowNs() - t0) / tasks.size();
    std::uint64_t avg = _avgNs.load(std::memory_order_relaxed);
    _avgNs.store(avg + (static_cast<std::int64_t>(took - avg) / 16), std::memory_order_relaxed);
    tasks.clear(); // outside the lock: may free the requests
}

void TaskPool::run(unsigned index) {
    std::string name = "dora-worker-" + std::to_string(index);
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
    // One task at a time: taking several at once saves locks but lets a
    // slow call hold up the fast ones queued behind it (v2 clients
    // pipeline and must get fast answers first).
    std::vector<Task> group;
    std::unique_lock<std::mutex> lock(_mutex);
    ++_awake;
    for (;;) {
        if (_queue.empty() || _freeSlots.empty()) {
            --_awake;
            if (_stopping && _queue.empty()) return; // drained
            ++_idle;
            for (;;) {
                _cv.wait(lock);
                // Whoever notified us already counted us awake and left a
                // token; a wake-up without one is spurious (or the stop).
                if (_tokens > 0) {
                    --_tokens;
                    break;
                }
                if (_stopping) {
                    --_idle;
                    ++_awake;
                    break;
                }
            }
            continue;
        }
        Task task = std::move(_queue.front());
        _queue.pop_front();
        const bool grouped = task.group != nullptr;
        if (grouped) {
            --_queuedGroup;
            ++_groupRunning;
        }
        // Tasks of the same group queued behind it come along, in order.
        group.clear();
        if (task.group && task.maxGroup > 1) {
            group.push_back(std::move(task));
            const void* g = group.front().group;
            const std::size_t cap = group.front().maxGroup;
            for (auto it = _queue.begin(); it != _queue.end() && group.size() < cap;) {
                if (it->group == g) {
                    group.push_back(std::move(*it));
                    it = _queue.erase(it);
                    --_queuedGroup;
                } else {
                    ++it;
                }
            }
        }
        unsigned slot = _freeSlots.back();
        _freeSlots.pop_back();
        _runningSince[slot] = nowNs();
        ++_workerTasks;
        // More work than the awake workers will clear soon: pass it on.
        bool more = wakeCount() > 0;
        if (more) {
            --_idle;
            ++_awake;
            ++_tokens;
        }
        ++_busy;
        lock.unlock();
        if (more) _cv.notify_one();
        if (group.empty())
            execute(task, slot);
        else
            executeGroup(group, slot);
        lock.lock();
        if (grouped) --_groupRunning;
        _runningSince[slot] = 0;
        --_workerTasks;
        _freeSlots.push_back(slot);
        --_busy;
    }
}

} // namespace dora::workers
