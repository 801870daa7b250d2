// The task pool on its own (host/workers): bounded queue with an explicit
// refusal, slots held exclusively, caller-runs, and no task left waiting
// behind workers that are stuck in long calls while others sleep. Conditions
// are waited for with generous deadlines; nothing asserts a duration.
#include "workers/TaskPool.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

using dora::workers::Task;
using dora::workers::TaskPool;

namespace {

/// A latch the tasks wait on until the test opens it.
class Gate {
public:
    void open() {
        std::lock_guard<std::mutex> lock(_m);
        _open = true;
        _cv.notify_all();
    }
    void wait() {
        std::unique_lock<std::mutex> lock(_m);
        _cv.wait(lock, [this] { return _open; });
    }

private:
    std::mutex _m;
    std::condition_variable _cv;
    bool _open = false;
};

bool waitUntil(const std::function<bool()>& cond, int ms = 20000) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!cond()) {
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
}

/// A Task running fn(slot).
Task taskOf(std::function<void(unsigned)> fn) {
    Task t;
    t.object = std::make_shared<std::function<void(unsigned)>>(std::move(fn));
    t.run = [](void* o, std::size_t, unsigned slot) { (*static_cast<std::function<void(unsigned)>*>(o))(slot); };
    return t;
}

} // namespace

class TaskPoolTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(TaskPoolTest);
    CPPUNIT_TEST(testFullQueueHandsBackWhatDidNotFit);
    CPPUNIT_TEST(testSlotsAreExclusiveAndBounded);
    CPPUNIT_TEST(testQuickTasksBehindStuckWorkersStillRun);
    CPPUNIT_TEST(testRunHereUsesASlotOrDeclines);
    CPPUNIT_TEST(testStopRunsWhatIsQueued);
    CPPUNIT_TEST(testLoneTasksOnIdleWorkersLeaveTheWatchAsleep);
    CPPUNIT_TEST(testGroupTasksWaitForRunningGroupsAndGoTogether);
    CPPUNIT_TEST_SUITE_END();

public:
    void testFullQueueHandsBackWhatDidNotFit() {
        Gate gate;
        TaskPool pool(1, 3);
        std::atomic<int> entered{0}, ran{0};
        CPPUNIT_ASSERT(pool.submit([&](unsigned) {
            ++entered;
            gate.wait();
            ++ran;
        }));
        CPPUNIT_ASSERT(waitUntil([&] { return entered.load() == 1; }));
        std::vector<Task> tasks;
        for (int i = 0; i < 5; ++i) tasks.push_back(taskOf([&](unsigned) { ++ran; }));
        // Room for three: the other two come back, untouched, for the caller to refuse.
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), pool.submit(tasks));
        CPPUNIT_ASSERT(tasks[3].object != nullptr && tasks[4].object != nullptr);
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), pool.queued());
        CPPUNIT_ASSERT(!pool.submit([](unsigned) {}));
        gate.open();
        CPPUNIT_ASSERT(waitUntil([&] { return ran.load() == 4; }));
    }

    void testSlotsAreExclusiveAndBounded() {
        constexpr unsigned kWorkers = 4;
        TaskPool pool(kWorkers, 100000);
        std::atomic<int> inSlot[kWorkers] = {};
        std::atomic<int> running{0}, maxRunning{0}, done{0}, clash{0};
        std::vector<Task> tasks;
        for (int i = 0; i < 4000; ++i)
            tasks.push_back(taskOf([&](unsigned slot) {
                if (slot >= kWorkers || inSlot[slot].fetch_add(1) != 0) ++clash;
                int now = ++running;
                int seen = maxRunning.load();
                while (now > seen && !maxRunning.compare_exchange_weak(seen, now)) {
                }
                if (slot < kWorkers) --inSlot[slot];
                --running;
                ++done;
            }));
        CPPUNIT_ASSERT_EQUAL(std::size_t(4000), pool.submit(tasks));
        CPPUNIT_ASSERT(waitUntil([&] { return done.load() == 4000; }));
        CPPUNIT_ASSERT_EQUAL(0, clash.load());
        CPPUNIT_ASSERT(maxRunning.load() <= int(kWorkers));
    }

    /// The pool sizes wake-ups by the average task time; a worker that
    /// took a task and then blocks in it must not keep queued quick tasks
    /// waiting while other workers sleep (found in LimitsTest).
    void testQuickTasksBehindStuckWorkersStillRun() {
        Gate gate;
        TaskPool pool(6, 1000);
        std::atomic<int> quick{0}, held{0};
        // Teach the pool that tasks are quick.
        for (int i = 0; i < 200; ++i) CPPUNIT_ASSERT(pool.submit([&](unsigned) { ++quick; }));
        CPPUNIT_ASSERT(waitUntil([&] { return quick.load() == 200; }));
        // Four workers get stuck, one task after another, each submitted alone.
        for (int i = 0; i < 4; ++i) {
            CPPUNIT_ASSERT(pool.submit([&](unsigned) {
                ++held;
                gate.wait();
            }));
            CPPUNIT_ASSERT(waitUntil([&] { return held.load() == i + 1; }));
        }
        // Then a burst of quick ones, and no further submit to trigger wake-ups.
        std::vector<Task> tasks;
        for (int i = 0; i < 50; ++i) tasks.push_back(taskOf([&](unsigned) { ++quick; }));
        CPPUNIT_ASSERT_EQUAL(std::size_t(50), pool.submit(tasks));
        bool allRan = waitUntil([&] { return quick.load() == 250; });
        gate.open(); // first, so a failure is reported, not a hang
        CPPUNIT_ASSERT_MESSAGE("quick tasks waited behind stuck workers", allRan);
    }

    /// A task submitted alone while workers sleep gets one of them woken;
    /// the watch (for tasks nobody was woken for) is not woken too: that
    /// was a futex wake and a context switch per sync call. A burst that
    /// outnumbers the wake-ups still wakes it (the test above needs it).
    void testLoneTasksOnIdleWorkersLeaveTheWatchAsleep() {
        TaskPool pool(4, 1000);
        std::atomic<int> done{0};
        for (int i = 0; i < 200; ++i) {
            CPPUNIT_ASSERT(pool.submit([&](unsigned) { ++done; }));
            CPPUNIT_ASSERT(waitUntil([&] { return done.load() == i + 1 && pool.busy() == 0; }));
        }
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), pool.watchWakes());

        Gate gate;
        std::vector<Task> tasks;
        for (int i = 0; i < 50; ++i) tasks.push_back(taskOf([&](unsigned) {
            gate.wait();
            ++done;
        }));
        CPPUNIT_ASSERT_EQUAL(std::size_t(50), pool.submit(tasks));
        const std::uint64_t wakes = pool.watchWakes();
        gate.open();
        CPPUNIT_ASSERT(waitUntil([&] { return done.load() == 250; }));
        CPPUNIT_ASSERT_MESSAGE("50 tasks for 4 workers: the watch must be woken", wakes >= 1);
    }

    /// With more workers than callers, group tasks (group_commit calls)
    /// still form groups: once groupWorkers() of them run, the pool wakes
    /// no worker for the next ones; they queue and go together, here all
    /// 20 in one group, started by the watch (the soft cap) while the two
    /// running groups are still stuck. Without the cap every one of them,
    /// submitted alone, woke a worker of its own and ran alone.
    void testGroupTasksWaitForRunningGroupsAndGoTogether() {
        struct Probe {
            Gate gate;
            std::mutex m;
            std::vector<std::size_t> groups; ///< sizes of the groups started
            std::atomic<int> ran{0};
            void started(std::size_t n) {
                std::lock_guard<std::mutex> lock(m);
                groups.push_back(n);
            }
            std::size_t largest() {
                std::lock_guard<std::mutex> lock(m);
                std::size_t best = 0;
                for (std::size_t n : groups) best = std::max(best, n);
                return best;
            }
            std::size_t count() {
                std::lock_guard<std::mutex> lock(m);
                return groups.size();
            }
        };
        auto probe = std::make_shared<Probe>();
        static const int kRoute = 0;
        auto groupTask = [&] {
            Task t;
            t.object = probe;
            t.group = &kRoute;
            t.maxGroup = 64;
            t.run = [](void* o, std::size_t, unsigned) {
                auto* p = static_cast<Probe*>(o);
                p->started(1);
                p->gate.wait();
                ++p->ran;
            };
            t.runGroup = [](Task* tasks, std::size_t n, unsigned) {
                auto* p = static_cast<Probe*>(tasks[0].object.get());
                p->started(n);
                p->gate.wait();
                p->ran += static_cast<int>(n);
            };
            return t;
        };
        TaskPool pool(50, 1000, 2);
        CPPUNIT_ASSERT_EQUAL(2u, pool.groupWorkers());
        for (int i = 0; i < 2; ++i) {
            std::vector<Task> one;
            one.push_back(groupTask());
            CPPUNIT_ASSERT_EQUAL(std::size_t(1), pool.submit(one));
            CPPUNIT_ASSERT(waitUntil([&] { return probe->count() == std::size_t(i + 1); }));
        }
        // 20 more, one at a time, as 20 callers' calls arrive.
        for (int i = 0; i < 20; ++i) {
            std::vector<Task> one;
            one.push_back(groupTask());
            CPPUNIT_ASSERT_EQUAL(std::size_t(1), pool.submit(one));
        }
        const bool started = waitUntil([&] { return probe->count() >= 3; });
        const std::size_t largest = probe->largest();
        const std::size_t groups = probe->count();
        probe->gate.open(); // before asserting, so a failure is reported, not a hang
        CPPUNIT_ASSERT(waitUntil([&] { return probe->ran.load() == 22; }));
        CPPUNIT_ASSERT_MESSAGE("held-back group tasks never got a worker", started);
        CPPUNIT_ASSERT_EQUAL_MESSAGE("the 20 queued calls went as one group", std::size_t(20), largest);
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), groups);
    }

    void testRunHereUsesASlotOrDeclines() {
        Gate gate;
        TaskPool pool(2, 100);
        std::atomic<int> entered{0};
        unsigned hereSlot = 99;
        Task mine = taskOf([&](unsigned slot) { hereSlot = slot; });
        CPPUNIT_ASSERT(pool.runHere(mine));
        CPPUNIT_ASSERT(hereSlot < 2);
        // Both slots taken: the caller must hand its task over instead.
        for (int i = 0; i < 2; ++i)
            CPPUNIT_ASSERT(pool.submit([&](unsigned) {
                ++entered;
                gate.wait();
            }));
        CPPUNIT_ASSERT(waitUntil([&] { return entered.load() == 2; }));
        bool ran = false;
        Task other = taskOf([&](unsigned) { ran = true; });
        CPPUNIT_ASSERT(!pool.runHere(other));
        CPPUNIT_ASSERT(!ran);
        CPPUNIT_ASSERT(other.object != nullptr);
        gate.open();
    }

    void testStopRunsWhatIsQueued() {
        std::atomic<int> ran{0};
        {
            TaskPool pool(2, 1000);
            for (int i = 0; i < 300; ++i) CPPUNIT_ASSERT(pool.submit([&](unsigned) { ++ran; }));
            pool.stop();
            CPPUNIT_ASSERT(!pool.submit([&](unsigned) { ++ran; }));
        }
        CPPUNIT_ASSERT_EQUAL(300, ran.load());
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(TaskPoolTest);
