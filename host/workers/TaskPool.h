// workers/TaskPool.h — the bounded pool of task workers that runs every
// handler. I/O threads hand over a poll round's jobs in one batch (one lock
// per batch); what does not fit is handed back to the caller, which answers
// "busy". Workers are woken only as many as the queued work needs: the pool
// keeps a running average of how long a job takes, so a batch of quick jobs
// (echo) wakes one worker while a batch of slow ones (MySQL writes) wakes a
// worker per job. Workers never spin: on a machine with few cores a
// spinning worker takes the CPU from the I/O thread that feeds it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace dora::workers {

/// One unit of work without an allocation of its own: a function, the
/// object it works on (kept alive by the task) and an index into it.
struct Task {
    using RunFn = void (*)(void* object, std::size_t index, unsigned slot);
    /// Runs several tasks of one group together on one slot (e.g. one
    /// database transaction for all of them).
    using GroupFn = void (*)(Task* tasks, std::size_t count, unsigned slot);
    RunFn run = nullptr;
    std::shared_ptr<void> object;
    std::size_t index = 0;
    std::uint64_t queuedAt = 0; ///< set by the pool
    /// Non-null: queued tasks with the same group may be taken together
    /// (up to maxGroup) and handed to runGroup instead of run.
    const void* group = nullptr;
    GroupFn runGroup = nullptr;
    std::size_t maxGroup = 1;
};

class TaskPool {
public:
    /// A job for callers that do not need the allocation-free form. It
    /// receives its slot (0..workers-1), held by it alone while it runs, so
    /// it can use per-slot resources (a MySQL session) without locks.
    using Job = std::function<void(unsigned slot)>;

    /// Starts `workers` threads. At most `maxQueued` tasks wait at once.
    /// groupWorkers: how many workers the pool wakes for group tasks
    /// (group_commit calls) at most, 0 = twice the CPU cores (at least 2):
    /// see groupWorkers().
    TaskPool(unsigned workers, std::size_t maxQueued, unsigned groupWorkers = 0);
    ~TaskPool(); ///< stops after running every queued task
    TaskPool(const TaskPool&) = delete;
    TaskPool& operator=(const TaskPool&) = delete;

    /// Queues tasks from the front of `tasks` while there is room and
    /// returns how many were taken; tasks[taken..] did not fit (they are
    /// left in place, untouched, for the caller to refuse). Thread-safe.
    std::size_t submit(std::vector<Task>& tasks, std::size_t from = 0);
    /// Queues one job; false (nothing queued) if the queue is full or the
    /// pool is stopping.
    bool submit(Job job);
    /// Runs `task` on the calling thread when a slot is free and nothing is
    /// queued ahead of it, and returns true; false (task untouched) when it
    /// must wait its turn. For front ends whose own thread would only block
    /// waiting for a worker (the HTTP gateway): the task still holds one of
    /// the `workers` slots, so the bound on concurrent handlers (and MySQL
    /// connections) is the same.
    bool runHere(Task& task);

    /// Stops accepting work, runs what is queued, joins the threads.
    void stop();

    unsigned workers() const { return _workers; }
    std::size_t queued() const;
    std::size_t busy() const;
    /// Average run time of a task in nanoseconds (what wake-ups are sized by).
    std::uint64_t averageTaskNs() const { return _avgNs.load(std::memory_order_relaxed); }
    /// Workers running group tasks beyond which the pool wakes no more
    /// for queued group tasks: those wait for a running one to finish and
    /// take them all as its next group (one transaction, one commit), as
    /// they would with fewer workers. Without it, a host with as many
    /// workers as callers (task_workers 50) ran every group_commit call
    /// alone, each its own fsync-bound commit. Soft: a group task that has
    /// waited kMaxGroupWaitNs gets a worker anyway (a group stuck in lock
    /// waits does not hold the others up for long).
    unsigned groupWorkers() const { return _groupCap; }
    /// How often a submit woke the watch thread (tasks queued that no
    /// worker was woken for).
    std::uint64_t watchWakes() const;

private:
    void run(unsigned index);
    void execute(Task& task, unsigned slot);
    void executeGroup(std::vector<Task>& tasks, unsigned slot);
    void watch();
    void release(unsigned slot);
    /// How many sleeping workers to wake for `queued` tasks; under _mutex.
    std::size_t wakeCount() const;

    const unsigned _workers;
    const std::size_t _maxQueued;
    const unsigned _groupCap;
    mutable std::mutex _mutex;
    std::condition_variable _cv;
    std::deque<Task> _queue;
    std::vector<unsigned> _freeSlots; ///< slots no task holds
    /// When the task a worker thread runs in each slot started (0: none).
    std::vector<std::uint64_t> _runningSince;
    std::size_t _workerTasks = 0; ///< slots held by worker threads
    std::size_t _idle = 0;  ///< workers asleep on _cv
    std::size_t _awake = 0; ///< workers running a task or about to take one
    std::size_t _tokens = 0; ///< wake-ups issued, not yet taken by a worker
    std::size_t _busy = 0;
    std::size_t _queuedGroup = 0;  ///< queued tasks with a group
    std::size_t _groupRunning = 0; ///< worker threads running group tasks
    bool _stopping = false;
    std::atomic<std::uint64_t> _avgNs{50000}; ///< starts as "slow": wake generously
    std::vector<std::thread> _threads;
    // The watch thread: wake-ups are decided when work arrives, but a worker
    // counted as ready may then start a call that blocks for long; the
    // watch wakes a worker for any task that has waited over a millisecond.
    std::condition_variable _watchCv;
    bool _watchParked = false; ///< waiting for the queue to fill
    std::uint64_t _watchWakes = 0;
    std::thread _watcher;
};

} // namespace dora::workers
