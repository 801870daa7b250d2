#include "queue/BatchRunner.h"

#include "plugins/HostApi.h"
#include "pools/MySqlErrors.h"
#include "protocol/Codes.h"

#include <Poco/Logger.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <unordered_set>

namespace dora::queue {

namespace code = protocol::code;

namespace {
Poco::Logger& logger() { return Poco::Logger::get("dorahost.queue"); }
} // namespace

BatchRunner::BatchRunner(pools::SqlSessions& mysql, Ledger& ledger,
                         const std::atomic<bool>& stopping)
    : _mysql(mysql), _ledger(ledger), _stopping(stopping) {}

BatchRunner::Attempt BatchRunner::attempt(unsigned w, const plugins::Route& route,
                                          const std::vector<BatchTask>& tasks,
                                          std::vector<TaskResult>& results, pools::SqlFailure& f) {
    auto fail = [&] {
        pools::SqlFailure ignore;
        _mysql.rollback(w, ignore);
        return Attempt::Failed;
    };
    if (!_mysql.begin(w, f)) return fail();
    std::vector<std::string_view> ids;
    ids.reserve(tasks.size());
    for (const auto& t : tasks)
        ids.push_back(t.taskId);
    // First run of these tasks (the usual case): recording them all at once
    // is the whole ledger check. A duplicate key fails only that statement
    // (InnoDB rolls back the statement, not the transaction): then some
    // were committed before (a replay), so look them up and record the rest.
    std::unordered_set<std::string> seen;
    bool recorded = _ledger.record(w, ids, f);
    if (!recorded) {
        if (f.mysqlErrno != pools::mysqlerr::kDuplicateKey) return fail();
        f = pools::SqlFailure{};
        if (!_ledger.lookup(w, ids, seen, f)) return fail();
    }

    std::vector<plugins::BatchCall> calls;
    std::vector<std::size_t> fresh; // indexes into tasks
    std::vector<std::string_view> freshIds;
    calls.reserve(tasks.size());
    for (std::size_t i = 0; i < tasks.size(); ++i) {
        if (!seen.empty() && seen.count(std::string(tasks[i].taskId))) continue;
        fresh.push_back(i);
        freshIds.push_back(tasks[i].taskId);
        calls.push_back(plugins::BatchCall{tasks[i].api, tasks[i].params, tasks[i].taskId, tasks[i].meta});
    }
    results.assign(tasks.size(), TaskResult{});
    for (std::size_t i = 0; i < tasks.size(); ++i)
        results[i].duplicate = true;
    if (!fresh.empty()) {
        if (!recorded && !_ledger.record(w, freshIds, f)) return fail();
        plugins::BatchInvocation run = plugins::invokeInTransaction(route, _mysql, w, calls);
        switch (run.status) {
        case plugins::BatchStatus::DatabaseDown:
            f.dbDown = true;
            f.message = "database went away during the batch";
            return fail();
        case plugins::BatchStatus::LockConflict:
            // A deadlock may have rolled back part of the batch: nothing of
            // it may be committed; run it again.
            f.mysqlErrno = pools::mysqlerr::kDeadlock;
            f.message = "lock conflict (deadlock or lock wait timeout) during the batch";
            return fail();
        case plugins::BatchStatus::HandlerFailed: {
            pools::SqlFailure ignore;
            _mysql.rollback(w, ignore);
            if (tasks.size() > 1) return Attempt::Isolate;
            for (std::size_t k = 0; k < fresh.size(); ++k) {
                const auto& o = run.outcomes[k];
                results[fresh[k]] = TaskResult{o.code ? o.code : code::kHandlerFailed,
                                               o.code ? o.msg : "batch handler failed", false};
            }
            return Attempt::HandlerFailedAlone;
        }
        case plugins::BatchStatus::Ran:
            break;
        }
        std::vector<std::string_view> failedIds;
        for (std::size_t k = 0; k < fresh.size(); ++k) {
            const auto& o = run.outcomes[k];
            results[fresh[k]] = TaskResult{o.code, o.msg, false};
            if (o.code != 0) failedIds.push_back(tasks[fresh[k]].taskId);
        }
        if (!_ledger.forget(w, failedIds, f)) return fail();
    }
    if (!_mysql.commit(w, f)) return fail();
    return Attempt::Committed;
}

BatchResult BatchRunner::run(unsigned w, const plugins::Route& route,
                             const std::vector<BatchTask>& tasks,
                             std::vector<TaskResult>& results) {
    int backoffMs = 100;
    int otherFailures = 0;
    int lockConflicts = 0;
    bool ledgerCreated = false;
    for (int round = 1;; ++round) {
        pools::SqlFailure f;
        Attempt a = attempt(w, route, tasks, results, f);
        if (a == Attempt::Committed) return BatchResult::Committed;
        if (a == Attempt::HandlerFailedAlone) return BatchResult::RanOneByOne;
        if (a == Attempt::Isolate) {
            results.clear();
            for (const auto& t : tasks) {
                std::vector<TaskResult> one;
                run(w, route, std::vector<BatchTask>{t}, one);
                results.push_back(one.empty()
                                      ? TaskResult{code::kHandlerFailed, "batch failed", false}
                                      : std::move(one.front()));
            }
            return BatchResult::RanOneByOne;
        }
        // Attempt::Failed: nothing was committed. Decide whether to go again.
        if (f.mysqlErrno == pools::mysqlerr::kNoSuchTable && !ledgerCreated) {
            ledgerCreated = true; // the ledger may be missing (dropped, new database)
            try {
                ensureLedger(_mysql, w);
            } catch (const std::exception& e) {
                logger().error(e.what());
            }
            continue;
        }
        if (f.dbDown && !_stopping) {
            // The database is away: keep the batch and try again; its tasks
            // stay pending in the stream meanwhile.
            if (round % 20 == 0)
                logger().warning("batch of %z waits for the database: %s", tasks.size(), f.message);
            std::this_thread::sleep_for(std::chrono::milliseconds(backoffMs));
            backoffMs = std::min(backoffMs * 2, 2000);
            continue;
        }
        if (!f.dbDown) {
            // Also while stopping: a drain finishes the batches it took, and
            // these retries are short and bounded.
            if (pools::mysqlerr::isLockConflict(f.mysqlErrno)) {
                // e.g. a deadlock with another batch, or a reclaimer racing
                // on the same task ids.
                if (pools::LockConflictRetry::shouldRetry(++lockConflicts)) {
                    pools::LockConflictRetry::pause(lockConflicts);
                    continue;
                }
            } else if (++otherFailures < 3) {
                continue;
            }
        }
        // Give up for now: the tasks count as failed attempts.
        results.assign(tasks.size(),
                       TaskResult{f.dbDown ? code::kDatabaseDown : code::kHandlerFailed,
                                  "batch failed: " + f.message, false});
        return BatchResult::GaveUp;
    }
}

} // namespace dora::queue
