#include "queue/Ledger.h"

#include <stdexcept>

namespace dora::queue {

namespace {

std::string placeholders(std::size_t n, std::string_view one) {
    std::string s;
    s.reserve(n * (one.size() + 1));
    for (std::size_t i = 0; i < n; ++i) {
        if (i) s += ',';
        s += one;
    }
    return s;
}

pools::SqlParams params(const std::vector<std::string_view>& ids) {
    pools::SqlParams p;
    p.reserve(ids.size());
    for (auto id : ids)
        p.push_back(pools::SqlValue::of(id));
    return p;
}

/// Collects (task_id, applied) rows.
class AppliedRows : public pools::RowSink {
public:
    explicit AppliedRows(std::unordered_map<std::string, std::optional<std::string>>& out) : _out(out) {}
    void start(const std::vector<std::string_view>&, std::size_t) override {}
    void row(const std::vector<pools::SqlValue>& cells) override {
        if (cells.size() < 2 || cells[0].kind != pools::SqlValue::Kind::String) return;
        std::optional<std::string> applied;
        if (cells[1].kind == pools::SqlValue::Kind::String) applied = std::string(cells[1].s);
        _out[std::string(cells[0].s)] = std::move(applied);
    }

private:
    std::unordered_map<std::string, std::optional<std::string>>& _out;
};

} // namespace

std::string ledgerPrefix(const std::string& stream) {
    // Entry ids are unique only within one stream: two streams (two
    // clusters, or test suites) sharing a database must not see each
    // other's tasks as duplicates. 8 hex digits of the stream name's
    // FNV-1a hash keep the key short.
    std::uint32_t h = 2166136261u;
    for (unsigned char c : stream) {
        h ^= c;
        h *= 16777619u;
    }
    static const char* hex = "0123456789abcdef";
    std::string p(9, ':');
    for (int i = 7; i >= 0; --i, h >>= 4)
        p[static_cast<std::size_t>(i)] = hex[h & 15];
    return p;
}

void ensureLedger(pools::SqlSessions& mysql, unsigned slot) {
    pools::SqlFailure f;
    pools::ExecResult r;
    if (!mysql.exec(slot,
                    "CREATE TABLE IF NOT EXISTS dora_processed_tasks ("
                    " task_id VARBINARY(80) NOT NULL PRIMARY KEY,"
                    " processed_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,"
                    " applied MEDIUMBLOB NULL"
                    ") ENGINE=InnoDB",
                    pools::SqlParams{}, r, f))
        throw std::runtime_error("cannot create the dora_processed_tasks ledger: " + f.message);
    // A ledger made before 1.3 (one row per call) has no `applied` column;
    // its rows stay readable as they are. Adding a nullable column at the
    // end is instant in InnoDB.
    if (!mysql.exec(slot, "ALTER TABLE dora_processed_tasks ADD COLUMN IF NOT EXISTS applied MEDIUMBLOB NULL",
                    pools::SqlParams{}, r, f))
        throw std::runtime_error("cannot add column 'applied' to the dora_processed_tasks ledger: " +
                                 f.message);
}

Ledger::Ledger(pools::SqlSessions& mysql, const std::string& stream)
    : _mysql(mysql), _prefix(ledgerPrefix(stream)) {}

std::string Ledger::entryKey(std::string_view entryId) const {
    std::string key;
    key.reserve(_prefix.size() + entryId.size());
    key += _prefix;
    key += entryId;
    return key;
}

std::string Ledger::taskId(std::string_view entryId, std::size_t index) const {
    std::string id;
    appendTaskId(id, entryKey(entryId), index);
    return id;
}

void Ledger::appendTaskId(std::string& out, std::string_view entryKey, std::size_t index) {
    out += entryKey;
    out += '#';
    out += std::to_string(index);
}

bool Ledger::lookup(unsigned slot, const std::vector<std::string_view>& keys, bool forUpdate,
                    std::unordered_map<std::string, std::optional<std::string>>& found,
                    pools::SqlFailure& failure) {
    if (keys.empty()) return true;
    AppliedRows rows(found);
    return _mysql.query(slot,
                        "SELECT task_id, applied FROM dora_processed_tasks WHERE task_id IN (" +
                            placeholders(keys.size(), "?") + ")" + (forUpdate ? " FOR UPDATE" : ""),
                        params(keys), rows, failure);
}

bool Ledger::record(unsigned slot, const std::vector<std::string_view>& keys,
                    pools::SqlFailure& failure) {
    if (keys.empty()) return true;
    pools::ExecResult r;
    return _mysql.exec(
        slot, "INSERT INTO dora_processed_tasks(task_id) VALUES " + placeholders(keys.size(), "(?)"),
        params(keys), r, failure);
}

bool Ledger::setApplied(unsigned slot, std::string_view key, const AppliedCalls& applied,
                        pools::SqlFailure& failure) {
    pools::ExecResult r;
    pools::SqlParams p{applied.all() ? pools::SqlValue::null() : pools::SqlValue::of(std::string_view(applied.marks())),
                       pools::SqlValue::of(key)};
    return _mysql.exec(slot, "UPDATE dora_processed_tasks SET applied = ? WHERE task_id = ?", p, r, failure);
}

bool Ledger::prune(unsigned slot, int days, std::uint64_t& removed, pools::SqlFailure& failure) {
    pools::ExecResult r;
    bool ok =
        _mysql.exec(slot,
                    "DELETE FROM dora_processed_tasks WHERE processed_at < NOW() - INTERVAL " +
                        std::to_string(days) + " DAY LIMIT 10000",
                    pools::SqlParams{}, r, failure);
    removed = r.affected;
    return ok;
}

} // namespace dora::queue
