// workers/TaskPool.h — the bounded pool of task workers that runs every
// handler. I/O threads hand over jobs in batches (one lock per batch) and
// only idle workers are woken.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace dora::workers {

class TaskPool {
public:
    /// A job runs on one worker; it receives the worker's index
    /// (0..workers-1) so it can use per-worker resources without locks.
    using Job = std::function<void(unsigned worker)>;

    /// Starts `workers` threads. At most `maxQueued` jobs wait at once.
    TaskPool(unsigned workers, std::size_t maxQueued);
    ~TaskPool(); ///< stops after running every queued job
    TaskPool(const TaskPool&) = delete;
    TaskPool& operator=(const TaskPool&) = delete;

    /// Queues jobs from the front of `jobs` while there is room and
    /// removes them from `jobs`; what is left did not fit (the caller
    /// answers "busy"). Thread-safe.
    void submit(std::vector<Job>& jobs);
    /// Queues one job; false if the queue is full.
    bool submit(Job job);

    /// Stops accepting jobs, runs what is queued, joins the threads.
    void stop();

    unsigned workers() const { return static_cast<unsigned>(_threads.size()); }
    std::size_t queued() const;
    std::size_t busy() const;

private:
    void run(unsigned index);

    const std::size_t _maxQueued;
    mutable std::mutex _mutex;
    std::condition_variable _cv;
    std::deque<Job> _queue;
    std::size_t _idle = 0;     ///< workers asleep on _cv
    std::size_t _spinning = 0; ///< workers polling for work before they sleep
    std::atomic<std::size_t> _queuedCount{0};
    std::size_t _busy = 0;
    bool _stopping = false;
    std::vector<std::thread> _threads;
};

} // namespace dora::workers
