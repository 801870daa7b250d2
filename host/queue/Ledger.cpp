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

/// Collects the first column of every row as a string.
class IdRows : public pools::RowSink {
public:
    explicit IdRows(std::unordered_set<std::string>& out) : _out(out) {}
    void start(const std::vector<std::string_view>&, std::size_t) override {}
    void row(const std::vector<pools::SqlValue>& cells) override {
        if (!cells.empty() && cells[0].kind == pools::SqlValue::Kind::String)
            _out.emplace(cells[0].s);
    }

private:
    std::unordered_set<std::string>& _out;
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
                    " processed_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP"
                    ") ENGINE=InnoDB",
                    pools::SqlParams{}, r, f))
        throw std::runtime_error("cannot create the dora_processed_tasks ledger: " + f.message);
}

Ledger::Ledger(pools::SqlSessions& mysql, const std::string& stream)
    : _mysql(mysql), _prefix(ledgerPrefix(stream)) {}

std::string Ledger::taskId(std::string_view entryId, std::size_t index) const {
    std::string id;
    id.reserve(_prefix.size() + entryId.size() + 4);
    id += _prefix;
    id += entryId;
    id += '#';
    id += std::to_string(index);
    return id;
}

bool Ledger::lookup(unsigned slot, const std::vector<std::string_view>& ids,
                    std::unordered_set<std::string>& seen, pools::SqlFailure& failure) {
    if (ids.empty()) return true;
    IdRows rows(seen);
    return _mysql.query(slot,
                        "SELECT task_id FROM dora_processed_tasks WHERE task_id IN (" +
                            placeholders(ids.size(), "?") + ")",
                        params(ids), rows, failure);
}

bool Ledger::record(unsigned slot, const std::vector<std::string_view>& ids,
                    pools::SqlFailure& failure) {
    if (ids.empty()) return true;
    pools::ExecResult r;
    return _mysql.exec(
        slot, "INSERT INTO dora_processed_tasks(task_id) VALUES " + placeholders(ids.size(), "(?)"),
        params(ids), r, failure);
}

bool Ledger::forget(unsigned slot, const std::vector<std::string_view>& ids,
                    pools::SqlFailure& failure) {
    if (ids.empty()) return true;
    pools::ExecResult r;
    return _mysql.exec(slot,
                       "DELETE FROM dora_processed_tasks WHERE task_id IN (" +
                           placeholders(ids.size(), "?") + ")",
                       params(ids), r, failure);
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
