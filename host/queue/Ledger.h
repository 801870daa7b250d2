// queue/Ledger.h — exactly-once bookkeeping: dora_processed_tasks holds the
// id of every task whose effects were committed, written in the same
// transaction as those effects. A task replayed after a crash (its entry
// still pending in the stream) finds its id and is skipped. All of the
// ledger's SQL lives here.
#pragma once

#include "pools/SqlSessions.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace dora::queue {

/// "<8 hex digits>:" identifying a stream in task ids
/// (`<prefix><entry id>#<call index>`).
std::string ledgerPrefix(const std::string& stream);

/// Creates dora_processed_tasks if it is missing. Throws std::runtime_error.
void ensureLedger(pools::SqlSessions& mysql, unsigned slot);

/// The ledger as seen from one stream. Thread-safe (no state but the
/// prefix); each call runs on the given worker's connection, inside the
/// transaction the caller opened.
class Ledger {
public:
    Ledger(pools::SqlSessions& mysql, const std::string& stream);

    /// The durable id of call `index` of stream entry `entryId`.
    std::string taskId(std::string_view entryId, std::size_t index) const;

    /// Adds to `seen` those of ids that are recorded already. A plain read,
    /// not FOR UPDATE: a locking read of absent ids gap-locks the end of the
    /// ledger, and two batches inserting there then deadlock. Committed rows
    /// are never deleted while their entry can be replayed, and a batch
    /// racing us on the same id (a reclaim) waits on our insert's row lock
    /// and fails with a duplicate key: retried, it sees the id.
    bool lookup(unsigned slot, const std::vector<std::string_view>& ids,
                std::unordered_set<std::string>& seen, pools::SqlFailure& failure);
    /// Records ids (one multi-row INSERT).
    bool record(unsigned slot, const std::vector<std::string_view>& ids,
                pools::SqlFailure& failure);
    /// Removes ids recorded by this transaction whose calls failed (they
    /// will run again).
    bool forget(unsigned slot, const std::vector<std::string_view>& ids,
                pools::SqlFailure& failure);
    /// Deletes up to 10,000 rows older than `days`; affected = rows removed.
    bool prune(unsigned slot, int days, std::uint64_t& removed, pools::SqlFailure& failure);

private:
    pools::SqlSessions& _mysql;
    const std::string _prefix;
};

} // namespace dora::queue
