// queue/Ledger.h — exactly-once bookkeeping: dora_processed_tasks holds one
// row per stream entry whose effects were committed, written in the same
// transaction as those effects. The row says which of the entry's calls
// were applied (all of them, or a mark per call when some failed and will run
// again). A task replayed after a crash (its entry still pending in the
// stream) finds its row and skips what was applied. All of the ledger's
// SQL lives here.
//
// Rows written before 1.3 have one row per call (`<entry key>#<index>`);
// replays look those up too, so an upgrade with tasks pending applies
// nothing twice.
#pragma once

#include "pools/SqlSessions.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dora::queue {

/// "<8 hex digits>:" identifying a stream in ledger keys and task ids
/// (`<prefix><entry id>`, `<prefix><entry id>#<call index>`).
std::string ledgerPrefix(const std::string& stream);

/// Creates dora_processed_tasks if it is missing, and adds the `applied`
/// column to a table made by an older host. Throws std::runtime_error.
void ensureLedger(pools::SqlSessions& mysql, unsigned slot);

/// Which calls of an entry are applied: all, or those marked '1' in the
/// `applied` column ("101": calls 0 and 2).
class AppliedCalls {
public:
    static AppliedCalls none() { return AppliedCalls(); }
    static AppliedCalls allCalls() {
        AppliedCalls a;
        a._all = true;
        return a;
    }
    /// From the `applied` column: NULL = all.
    static AppliedCalls fromColumn(const std::optional<std::string>& marks) {
        if (!marks) return allCalls();
        AppliedCalls a;
        a._marks = *marks;
        return a;
    }
    bool has(std::size_t call) const { return _all || (call < _marks.size() && _marks[call] == '1'); }
    void add(std::size_t call) {
        if (_all) return;
        if (_marks.size() <= call) _marks.resize(call + 1, '0');
        _marks[call] = '1';
    }
    void add(const AppliedCalls& o) {
        if (o._all) {
            *this = allCalls();
            return;
        }
        for (std::size_t i = 0; i < o._marks.size(); ++i)
            if (o._marks[i] == '1') add(i);
    }
    /// Marks for `calls` calls (so that "10" says call 1 is not applied).
    void padTo(std::size_t calls) {
        if (!_all && _marks.size() < calls) _marks.resize(calls, '0');
    }
    /// True when every one of `calls` calls is applied.
    bool covers(std::size_t calls) const {
        if (_all) return true;
        for (std::size_t i = 0; i < calls; ++i)
            if (!has(i)) return false;
        return true;
    }
    bool all() const { return _all; }
    const std::string& marks() const { return _marks; }
    bool operator==(const AppliedCalls& o) const { return _all == o._all && (_all || _marks == o._marks); }
    bool operator!=(const AppliedCalls& o) const { return !(*this == o); }

private:
    bool _all = false;
    std::string _marks; ///< '1' at i: call i applied
};

/// The ledger as seen from one stream. Thread-safe (no state but the
/// prefix); each call runs on the given worker's connection, inside the
/// transaction the caller opened.
class Ledger {
public:
    Ledger(pools::SqlSessions& mysql, const std::string& stream);

    /// The ledger key of stream entry `entryId` (one row per entry).
    std::string entryKey(std::string_view entryId) const;
    /// The durable id of call `index` of stream entry `entryId`, as
    /// plugins see it (call_task_id); also the key of a pre-1.3 row.
    std::string taskId(std::string_view entryId, std::size_t index) const;
    /// Appends that id, for an entry whose ledger key (entryKey) is known:
    /// `<key>#<index>`, the one place its layout is written.
    static void appendTaskId(std::string& out, std::string_view entryKey, std::size_t index);

    /// Rows found among keys (entry keys or pre-1.3 task ids), by key: the
    /// `applied` column (nullopt = NULL = every call). A plain read, or
    /// with forUpdate a locking one: use that only for keys known to exist
    /// (a locking read of absent keys gap-locks the end of the ledger, and
    /// two batches inserting there then deadlock).
    bool lookup(unsigned slot, const std::vector<std::string_view>& keys, bool forUpdate,
                std::unordered_map<std::string, std::optional<std::string>>& found,
                pools::SqlFailure& failure);
    /// Records entry keys, every call applied (one multi-row INSERT). The
    /// rows' locks are what stops a second host applying the same entry
    /// at the same time: its insert waits for ours and then fails with a
    /// duplicate key.
    bool record(unsigned slot, const std::vector<std::string_view>& keys, pools::SqlFailure& failure);
    /// Sets which calls of a recorded entry are applied.
    bool setApplied(unsigned slot, std::string_view key, const AppliedCalls& applied,
                    pools::SqlFailure& failure);
    /// Deletes up to 10,000 rows older than `days`; affected = rows removed.
    bool prune(unsigned slot, int days, std::uint64_t& removed, pools::SqlFailure& failure);

private:
    pools::SqlSessions& _mysql;
    const std::string _prefix;
};

} // namespace dora::queue
