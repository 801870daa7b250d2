// tests/common/FakeSqlSessions.h — a pools::SqlSessions for seam tests of
// what runs transactions (queue::BatchRunner, queue::Ledger, group commit
// in dispatch::RequestRunner): no server. Every call is recorded in order,
// BEGIN / COMMIT / ROLLBACK included, with its parameters; a statement can
// be told to fail with a given MySQL errno (a connection error such as
// 2006 or 2013 also sets dbDown, as MySqlSessions does), and a query or
// exec to answer given rows or an affected count.
#pragma once

#include "pools/SqlSessions.h"

#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace dora::test {

class FakeSqlSessions final : public pools::SqlSessions {
public:
    /// What the transaction calls are recorded as.
    static constexpr const char* kBegin = "BEGIN";
    static constexpr const char* kCommit = "COMMIT";
    static constexpr const char* kRollback = "ROLLBACK";

    struct Statement {
        unsigned slot = 0;
        std::string sql;                 ///< the text, or kBegin / kCommit / kRollback
        std::vector<std::string> params; ///< each rendered: a string as is, NULL, a number
        int failedWith = 0;              ///< the errno it was failed with, 0: it succeeded
    };

    explicit FakeSqlSessions(unsigned slots = 4);

    /// The next `times` statements (after skipping `skip` of them) whose
    /// text starts with `prefix` fail with `mysqlErrno`; times < 0: all of
    /// them from then on. An empty prefix matches every statement, BEGIN /
    /// COMMIT / ROLLBACK included (use kBegin etc. to pick those).
    void fail(std::string prefix, int mysqlErrno, int times = 1, int skip = 0);
    void clearFailures();
    /// A query whose text starts with `prefix` answers these rows (every
    /// cell a string); an exec answers `affected`.
    void answer(std::string prefix, std::vector<std::string> columns,
                std::vector<std::vector<std::string>> rows, std::uint64_t affected = 0);
    /// Called before each statement is recorded, with its text (outside
    /// the fake's lock: it may call back into the fake).
    void onStatement(std::function<void(const std::string&)> hook);

    /// Every statement so far, in order.
    std::vector<Statement> log() const;
    /// Their texts only.
    std::vector<std::string> sql() const;
    void clearLog();

    bool query(unsigned slot, std::string_view sql, const pools::SqlParams& params,
               pools::RowSink& rows, pools::SqlFailure& failure) override;
    bool exec(unsigned slot, std::string_view sql, const pools::SqlParams& params,
              pools::ExecResult& result, pools::SqlFailure& failure) override;
    bool begin(unsigned slot, pools::SqlFailure& failure) override;
    bool commit(unsigned slot, pools::SqlFailure& failure) override;
    bool rollback(unsigned slot, pools::SqlFailure& failure) override;
    bool inTransaction(unsigned slot) const override;

private:
    struct Rule {
        std::string prefix;
        int mysqlErrno = 0;
        int times = 0;
        int skip = 0;
    };
    struct Answer {
        std::string prefix;
        std::vector<std::string> columns;
        std::vector<std::vector<std::string>> rows;
        std::uint64_t affected = 0;
    };
    /// Records the statement; false + failure if a rule fails it. answer
    /// gets the matching answer, if any.
    bool run(unsigned slot, std::string_view sql, const pools::SqlParams& params,
             pools::SqlFailure& failure, Answer* answer);

    mutable std::mutex _m;
    std::vector<Statement> _log;
    std::vector<Rule> _rules;
    std::vector<Answer> _answers;
    std::vector<bool> _inTransaction;
    std::function<void(const std::string&)> _hook;
};

} // namespace dora::test
