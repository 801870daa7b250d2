// queue/BatchRunner.h — one batch of stream entries in one MySQL
// transaction, with their ledger rows (one per entry), and the queue's one
// retry policy: the database away → roll back and wait; a lock conflict →
// roll back and run it again (pools::LockConflictRetry); a batch handler
// that failed as a whole → roll back and run the entries one by one, and
// an entry's calls one by one, so one poison task cannot fail its
// neighbours. Nothing of a batch is ever committed in part.
//
// A batch holds the calls of all its entries, whatever their routes: each
// route's calls go to its handler at once (in the order the routes first
// appear), all inside the one transaction, so an entry of three calls to
// three routes costs one ledger row and one commit.
#pragma once

#include "plugins/CallMeta.h"
#include "plugins/Plugin.h"
#include "pools/SqlSessions.h"
#include "queue/Ledger.h"

#include <atomic>
#include <string>
#include <string_view>
#include <vector>

namespace dora::queue {

/// One call of a stream entry, as the runner sees it.
struct BatchTask {
    const plugins::Route* route = nullptr;
    std::string_view api;
    std::string_view params; ///< PHP-serialized
    std::string_view taskId; ///< the call's durable id (call_task_id)
    const plugins::CallMeta* meta = nullptr; ///< the stored request's guid, mode, attempt
    std::size_t call = 0; ///< its index in the entry
};

/// One stream entry: its ledger row and the calls to run now (those with
/// a route; the entry may have more, `calls` in all).
struct BatchEntry {
    std::string_view key; ///< Ledger::entryKey
    std::size_t calls = 0;
    /// May have been applied before, in part (a redelivery, a redrive, a
    /// retry): its ledger row is looked up before anything runs, and so
    /// are pre-1.3 rows (one per call, keyed by the tasks' ids).
    bool replay = false;
    std::vector<BatchTask> tasks;
};

/// What became of one task.
struct TaskResult {
    int code = 0; ///< 0: applied; else the answer code of its failure
    std::string msg;
    bool duplicate = false; ///< already in the ledger: skipped, not run
};

/// How a batch ended.
enum class BatchResult {
    Committed,   ///< one transaction committed: every task has its result
    RanOneByOne, ///< a batch handler failed as a whole; entries (and calls) ran alone
    GaveUp,      ///< nothing committed; every task failed with the same reason
};

class BatchRunner {
public:
    /// stopping: when set, the runner stops waiting for a database that is
    /// away and gives the batch up (its tasks stay pending in the stream).
    BatchRunner(pools::SqlSessions& mysql, Ledger& ledger, const std::atomic<bool>& stopping);

    /// Runs the entries' tasks on worker `slot`; results[e][t] is the
    /// result of entries[e].tasks[t].
    BatchResult run(unsigned slot, const std::vector<BatchEntry>& entries,
                    std::vector<std::vector<TaskResult>>& results);

private:
    enum class Attempt { Committed, Isolate, HandlerFailedAlone, Failed };
    Attempt attempt(unsigned slot, const std::vector<BatchEntry>& entries,
                    std::vector<std::vector<TaskResult>>& results, pools::SqlFailure& failure);
    /// What the ledger says is applied of each entry, taking the row locks
    /// of those it has; records the others.
    bool claim(unsigned slot, const std::vector<BatchEntry>& entries, std::vector<AppliedCalls>& before,
               std::vector<bool>& hadRow, pools::SqlFailure& failure);

    pools::SqlSessions& _mysql;
    Ledger& _ledger;
    const std::atomic<bool>& _stopping;
};

} // namespace dora::queue
