#include "common/FakeSqlSessions.h"

#include "pools/MySqlErrors.h"

#include <stdexcept>

namespace dora::test {

FakeSqlSessions::FakeSqlSessions(unsigned slots) : _inTransaction(slots, false) {}

void FakeSqlSessions::fail(std::string prefix, int mysqlErrno, int times, int skip) {
    std::lock_guard<std::mutex> lock(_m);
    _rules.push_back(Rule{std::move(prefix), mysqlErrno, times, skip});
}

void FakeSqlSessions::clearFailures() {
    std::lock_guard<std::mutex> lock(_m);
    _rules.clear();
}

void FakeSqlSessions::answer(std::string prefix, std::vector<std::string> columns,
                             std::vector<std::vector<std::string>> rows, std::uint64_t affected) {
    std::lock_guard<std::mutex> lock(_m);
    _answers.push_back(Answer{std::move(prefix), std::move(columns), std::move(rows), affected});
}

void FakeSqlSessions::onStatement(std::function<void(const std::string&)> hook) {
    std::lock_guard<std::mutex> lock(_m);
    _hook = std::move(hook);
}

std::vector<FakeSqlSessions::Statement> FakeSqlSessions::log() const {
    std::lock_guard<std::mutex> lock(_m);
    return _log;
}

std::vector<std::string> FakeSqlSessions::sql() const {
    std::lock_guard<std::mutex> lock(_m);
    std::vector<std::string> out;
    for (const auto& s : _log)
        out.push_back(s.sql);
    return out;
}

void FakeSqlSessions::clearLog() {
    std::lock_guard<std::mutex> lock(_m);
    _log.clear();
}

bool FakeSqlSessions::run(unsigned slot, std::string_view sql, const pools::SqlParams& params,
                          pools::SqlFailure& failure, Answer* answer) {
    if (slot >= _inTransaction.size()) throw std::out_of_range("FakeSqlSessions: no such slot");
    std::function<void(const std::string&)> hook;
    {
        std::lock_guard<std::mutex> lock(_m);
        hook = _hook;
    }
    if (hook) hook(std::string(sql));
    failure = pools::SqlFailure{};
    Statement st;
    st.slot = slot;
    st.sql = std::string(sql);
    for (const auto& p : params) {
        switch (p.kind) {
        case pools::SqlValue::Kind::Null:
            st.params.emplace_back("NULL");
            break;
        case pools::SqlValue::Kind::Int:
            st.params.push_back(std::to_string(p.i));
            break;
        case pools::SqlValue::Kind::Float:
            st.params.push_back(std::to_string(p.d));
            break;
        case pools::SqlValue::Kind::String:
            st.params.emplace_back(p.s);
            break;
        }
    }
    std::lock_guard<std::mutex> lock(_m);
    for (auto& r : _rules) {
        if (r.times == 0 || sql.substr(0, r.prefix.size()) != r.prefix) continue;
        if (r.skip > 0) {
            --r.skip;
            continue;
        }
        if (r.times > 0) --r.times;
        st.failedWith = r.mysqlErrno;
        failure.mysqlErrno = r.mysqlErrno;
        failure.dbDown = pools::mysqlerr::isConnectionError(r.mysqlErrno);
        failure.message = "fake: errno " + std::to_string(r.mysqlErrno) + " on " + st.sql;
        _log.push_back(std::move(st));
        return false;
    }
    if (answer) {
        for (const auto& a : _answers)
            if (sql.substr(0, a.prefix.size()) == a.prefix) {
                *answer = a;
                break;
            }
    }
    _log.push_back(std::move(st));
    return true;
}

bool FakeSqlSessions::query(unsigned slot, std::string_view sql, const pools::SqlParams& params,
                            pools::RowSink& rows, pools::SqlFailure& failure) {
    Answer a;
    if (!run(slot, sql, params, failure, &a)) return false;
    std::vector<std::string_view> columns(a.columns.begin(), a.columns.end());
    rows.start(columns, a.rows.size());
    for (const auto& r : a.rows) {
        std::vector<pools::SqlValue> cells;
        for (const auto& c : r)
            cells.push_back(pools::SqlValue::of(std::string_view(c)));
        rows.row(cells);
    }
    return true;
}

bool FakeSqlSessions::exec(unsigned slot, std::string_view sql, const pools::SqlParams& params,
                           pools::ExecResult& result, pools::SqlFailure& failure) {
    Answer a;
    a.affected = 0;
    if (!run(slot, sql, params, failure, &a)) return false;
    result = pools::ExecResult{a.affected, 0};
    return true;
}

bool FakeSqlSessions::begin(unsigned slot, pools::SqlFailure& failure) {
    if (!run(slot, kBegin, {}, failure, nullptr)) return false;
    std::lock_guard<std::mutex> lock(_m);
    _inTransaction[slot] = true;
    return true;
}

// As MySqlSessions: after COMMIT or ROLLBACK, failed or not, no transaction
// is open (a failed COMMIT has rolled back).
bool FakeSqlSessions::commit(unsigned slot, pools::SqlFailure& failure) {
    bool ok = run(slot, kCommit, {}, failure, nullptr);
    std::lock_guard<std::mutex> lock(_m);
    _inTransaction[slot] = false;
    return ok;
}

bool FakeSqlSessions::rollback(unsigned slot, pools::SqlFailure& failure) {
    bool ok = run(slot, kRollback, {}, failure, nullptr);
    std::lock_guard<std::mutex> lock(_m);
    _inTransaction[slot] = false;
    return ok;
}

bool FakeSqlSessions::inTransaction(unsigned slot) const {
    std::lock_guard<std::mutex> lock(_m);
    return _inTransaction.at(slot);
}

} // namespace dora::test
