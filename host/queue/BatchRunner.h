// queue/BatchRunner.h — one batch of one route in one MySQL transaction,
// with its ledger rows, and the queue's one retry policy: the database
// away → roll back and wait; a lock conflict → roll back and run it again
// (pools::LockConflictRetry); a batch handler that failed as a whole →
// roll back and run its tasks one by one, so one poison task cannot fail
// its neighbours. Nothing of a batch is ever committed in part.
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
    std::string_view api;
    std::string_view params; ///< PHP-serialized
    std::string_view taskId; ///< the ledger key
    const plugins::CallMeta* meta = nullptr; ///< the stored request's guid, mode, attempt
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
    RanOneByOne, ///< the batch handler failed as a whole; each task ran alone
    GaveUp,      ///< nothing committed; every task failed with the same reason
};

class BatchRunner {
public:
    /// stopping: when set, the runner stops waiting for a database that is
    /// away and gives the batch up (its tasks stay pending in the stream).
    BatchRunner(pools::SqlSessions& mysql, Ledger& ledger, const std::atomic<bool>& stopping);

    /// Runs tasks through route on worker `slot`; results gets one entry
    /// per task, in order.
    BatchResult run(unsigned slot, const plugins::Route& route, const std::vector<BatchTask>& tasks,
                    std::vector<TaskResult>& results);

private:
    enum class Attempt { Committed, Isolate, HandlerFailedAlone, Failed };
    Attempt attempt(unsigned slot, const plugins::Route& route, const std::vector<BatchTask>& tasks,
                    std::vector<TaskResult>& results, pools::SqlFailure& failure);

    pools::SqlSessions& _mysql;
    Ledger& _ledger;
    const std::atomic<bool>& _stopping;
};

} // namespace dora::queue
