#include "queue/BatchRunner.h"

#include "plugins/HostApi.h"
#include "pools/MySqlErrors.h"
#include "protocol/Codes.h"

#include <Poco/Logger.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <unordered_map>

namespace dora::queue {

namespace code = protocol::code;

namespace {

Poco::Logger& logger() { return Poco::Logger::get("dorahost.queue"); }

using Found = std::unordered_map<std::string, std::optional<std::string>>;

/// Keys per statement: well below the 65,535 placeholders a prepared
/// statement may have, whatever an entry's call count.
constexpr std::size_t kKeysPerStatement = 1000;

bool lookupAll(Ledger& ledger, unsigned w, const std::vector<std::string_view>& keys, bool forUpdate,
               Found& found, pools::SqlFailure& f) {
    for (std::size_t at = 0; at < keys.size(); at += kKeysPerStatement) {
        std::vector<std::string_view> part(keys.begin() + static_cast<std::ptrdiff_t>(at),
                                           keys.begin() + static_cast<std::ptrdiff_t>(
                                                              std::min(keys.size(), at + kKeysPerStatement)));
        if (!ledger.lookup(w, part, forUpdate, found, f)) return false;
    }
    return true;
}

} // namespace

BatchRunner::BatchRunner(pools::SqlSessions& mysql, Ledger& ledger,
                         const std::atomic<bool>& stopping)
    : _mysql(mysql), _ledger(ledger), _stopping(stopping) {}

bool BatchRunner::claim(unsigned w, const std::vector<BatchEntry>& entries, std::vector<AppliedCalls>& before,
                        std::vector<bool>& hadRow, pools::SqlFailure& f) {
    const std::size_t n = entries.size();
    before.assign(n, AppliedCalls::none());
    hadRow.assign(n, false);
    std::vector<AppliedCalls> legacy(n, AppliedCalls::none());

    // Locks the rows of `idx` (known to exist) and reads what they say now.
    auto lockRows = [&](const std::vector<std::size_t>& idx) {
        std::vector<std::string_view> keys;
        for (std::size_t i : idx)
            keys.push_back(entries[i].key);
        Found now;
        if (!lookupAll(_ledger, w, keys, true, now, f)) return false;
        for (std::size_t i : idx) {
            auto it = now.find(std::string(entries[i].key));
            hadRow[i] = it != now.end(); // gone meanwhile (pruned): recorded anew below
            before[i] = legacy[i];
            if (hadRow[i]) before[i].add(AppliedCalls::fromColumn(it->second));
        }
        return true;
    };

    // Replays: what their rows (and pre-1.3 rows, one per call) say.
    std::vector<std::string_view> ask;
    std::vector<std::string> legacyIds;
    std::vector<std::pair<std::size_t, std::size_t>> legacyOf; // (entry, call) per legacy id
    for (std::size_t i = 0; i < n; ++i) {
        if (!entries[i].replay) continue;
        ask.push_back(entries[i].key);
        for (std::size_t c = 0; c < entries[i].calls; ++c) {
            legacyIds.emplace_back();
            Ledger::appendTaskId(legacyIds.back(), entries[i].key, c);
            legacyOf.emplace_back(i, c);
        }
    }
    std::vector<std::size_t> lock;
    if (!ask.empty()) {
        for (const auto& id : legacyIds)
            ask.push_back(id);
        Found found;
        if (!lookupAll(_ledger, w, ask, false, found, f)) return false;
        for (std::size_t k = 0; k < legacyIds.size(); ++k)
            if (found.count(legacyIds[k])) legacy[legacyOf[k].first].add(legacyOf[k].second);
        for (std::size_t i = 0; i < n; ++i) {
            before[i] = legacy[i];
            if (entries[i].replay && found.count(std::string(entries[i].key))) lock.push_back(i);
        }
        if (!lock.empty() && !lockRows(lock)) return false;
    }

    // The rest get their rows now: the usual case is one INSERT for the
    // whole batch. A duplicate key fails only that statement (InnoDB rolls
    // back the statement, not the transaction): some were recorded by
    // another attempt meanwhile (a racing host, committed now), so lock
    // and read those and record the others.
    for (int round = 0; round < 2; ++round) {
        std::vector<std::size_t> rest;
        std::vector<std::string_view> keys;
        for (std::size_t i = 0; i < n; ++i)
            if (!hadRow[i]) {
                rest.push_back(i);
                keys.push_back(entries[i].key);
            }
        if (keys.empty() || _ledger.record(w, keys, f)) return true;
        if (f.mysqlErrno != pools::mysqlerr::kDuplicateKey || round == 1) return false;
        f = pools::SqlFailure{};
        Found found;
        if (!lookupAll(_ledger, w, keys, false, found, f)) return false;
        lock.clear();
        for (std::size_t i : rest)
            if (found.count(std::string(entries[i].key))) lock.push_back(i);
        if (!lock.empty() && !lockRows(lock)) return false;
    }
    return false;
}

BatchRunner::Attempt BatchRunner::attempt(unsigned w, const std::vector<BatchEntry>& entries,
                                          std::vector<std::vector<TaskResult>>& results,
                                          pools::SqlFailure& f) {
    auto fail = [&] {
        pools::SqlFailure ignore;
        _mysql.rollback(w, ignore);
        return Attempt::Failed;
    };
    if (!_mysql.begin(w, f)) return fail();
    std::vector<AppliedCalls> before;
    std::vector<bool> hadRow;
    if (!claim(w, entries, before, hadRow, f)) return fail();

    results.assign(entries.size(), {});
    // Each route's fresh calls, routes in the order they first appear.
    struct Group {
        const plugins::Route* route;
        std::vector<plugins::BatchCall> calls;
        std::vector<std::pair<std::size_t, std::size_t>> at; // (entry, task)
    };
    std::vector<Group> groups;
    std::size_t fresh = 0;
    for (std::size_t e = 0; e < entries.size(); ++e) {
        const auto& tasks = entries[e].tasks;
        results[e].assign(tasks.size(), TaskResult{});
        for (std::size_t t = 0; t < tasks.size(); ++t) {
            const BatchTask& task = tasks[t];
            if (before[e].has(task.call)) {
                results[e][t].duplicate = true;
                continue;
            }
            auto g = std::find_if(groups.begin(), groups.end(),
                                  [&](const Group& x) { return x.route == task.route; });
            if (g == groups.end()) g = groups.insert(groups.end(), Group{task.route, {}, {}});
            g->calls.push_back(plugins::BatchCall{task.api, task.params, task.taskId, task.meta});
            g->at.emplace_back(e, t);
            ++fresh;
        }
    }
    for (const Group& g : groups) {
        plugins::BatchInvocation run = plugins::invokeInTransaction(*g.route, _mysql, w, g.calls);
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
            if (fresh > 1) return Attempt::Isolate;
            const auto& o = run.outcomes.front();
            auto [e, t] = g.at.front();
            results[e][t] = TaskResult{o.code ? o.code : code::kHandlerFailed,
                                       o.code ? o.msg : "batch handler failed", false};
            return Attempt::HandlerFailedAlone;
        }
        case plugins::BatchStatus::Ran:
            break;
        }
        for (std::size_t k = 0; k < g.at.size(); ++k) {
            auto [e, t] = g.at[k];
            results[e][t] = TaskResult{run.outcomes[k].code, run.outcomes[k].msg, false};
        }
    }
    // The ledger rows say what is applied now. A row recorded above says
    // "all": only an entry with failed (or not routed) calls needs more.
    for (std::size_t e = 0; e < entries.size(); ++e) {
        AppliedCalls after = before[e];
        const auto& tasks = entries[e].tasks;
        for (std::size_t t = 0; t < tasks.size(); ++t)
            if (results[e][t].code == 0 && !results[e][t].duplicate) after.add(tasks[t].call);
        if (after.covers(entries[e].calls))
            after = AppliedCalls::allCalls();
        else
            after.padTo(entries[e].calls);
        if (hadRow[e] ? after != before[e] : !after.all())
            if (!_ledger.setApplied(w, entries[e].key, after, f)) return fail();
    }
    if (!_mysql.commit(w, f)) return fail();
    return Attempt::Committed;
}

BatchResult BatchRunner::run(unsigned w, const std::vector<BatchEntry>& entries,
                             std::vector<std::vector<TaskResult>>& results) {
    int backoffMs = 100;
    int otherFailures = 0;
    int lockConflicts = 0;
    bool ledgerCreated = false;
    auto alone = [&](const BatchEntry& e, std::vector<TaskResult>& out) {
        std::vector<std::vector<TaskResult>> one;
        run(w, std::vector<BatchEntry>{e}, one);
        if (one.empty()) one.emplace_back();
        out = std::move(one.front());
        out.resize(e.tasks.size(), TaskResult{code::kHandlerFailed, "batch failed", false});
    };
    for (int round = 1;; ++round) {
        pools::SqlFailure f;
        Attempt a = attempt(w, entries, results, f);
        if (a == Attempt::Committed) return BatchResult::Committed;
        if (a == Attempt::HandlerFailedAlone) return BatchResult::RanOneByOne;
        if (a == Attempt::Isolate) {
            results.assign(entries.size(), {});
            if (entries.size() > 1) {
                for (std::size_t e = 0; e < entries.size(); ++e)
                    alone(entries[e], results[e]);
            } else {
                // One entry: each of its calls in a transaction of its own
                // (the entry's row, recorded by the first, is found by the
                // next).
                const BatchEntry& e = entries.front();
                results[0].resize(e.tasks.size());
                for (std::size_t t = 0; t < e.tasks.size(); ++t) {
                    BatchEntry one{e.key, e.calls, true, {e.tasks[t]}};
                    std::vector<TaskResult> r;
                    alone(one, r);
                    results[0][t] = std::move(r.front());
                }
            }
            return BatchResult::RanOneByOne;
        }
        // Attempt::Failed: nothing was committed. Decide whether to go again.
        if ((f.mysqlErrno == pools::mysqlerr::kNoSuchTable || f.mysqlErrno == pools::mysqlerr::kBadField) &&
            !ledgerCreated) {
            ledgerCreated = true; // the ledger may be missing (dropped, new database) or old
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
                logger().warning("batch of %z entries waits for the database: %s", entries.size(), f.message);
            std::this_thread::sleep_for(std::chrono::milliseconds(backoffMs));
            backoffMs = std::min(backoffMs * 2, 2000);
            continue;
        }
        if (!f.dbDown) {
            // Also while stopping: a drain finishes the batches it took, and
            // these retries are short and bounded.
            if (pools::mysqlerr::isLockConflict(f.mysqlErrno)) {
                // e.g. a deadlock with another batch, or a reclaimer racing
                // on the same entries.
                if (pools::LockConflictRetry::shouldRetry(++lockConflicts)) {
                    pools::LockConflictRetry::pause(lockConflicts);
                    continue;
                }
            } else if (++otherFailures < 3) {
                continue;
            }
        }
        // Give up for now: the tasks count as failed attempts.
        const TaskResult failed{f.dbDown ? code::kDatabaseDown : code::kHandlerFailed, "batch failed: " + f.message,
                                false};
        results.assign(entries.size(), {});
        for (std::size_t e = 0; e < entries.size(); ++e)
            results[e].assign(entries[e].tasks.size(), failed);
        return BatchResult::GaveUp;
    }
}

} // namespace dora::queue
