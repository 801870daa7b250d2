// pools/SqlSessions.h — what the host's users of MySQL see of it: one
// session per task worker ("slot"), statements with '?' placeholders, and
// a transaction per session. MySqlSessions (MySqlSessions.h) is the real
// one; tests hand the queue's batch runner, the ledger and group commit a
// fake that records statements and fails the ones it is told to.
//
// Exactly what those users call, nothing more: the Value-based forms, the
// counters and the down state stay on MySqlSessions (the host's wiring and
// its /stat read them there). One virtual call per statement; rows still
// reach a RowSink, so nothing virtual is added inside a row loop.
//
/// Threading: a slot is used by one worker at a time (the worker whose
/// index it is); different slots may be used concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dora::pools {

/// What went wrong with a statement.
struct SqlFailure {
    int mysqlErrno = 0;  ///< 0 when not from the server (e.g. no connection)
    bool dbDown = false; ///< no connection could be had / it was lost
    std::string message;
};

struct ExecResult {
    std::uint64_t affected = 0;
    std::uint64_t insertId = 0;
};

/// One statement parameter or one result cell. Strings are views: a
/// parameter's bytes must outlive the statement call; a cell's bytes are
/// valid only inside RowSink::row.
struct SqlValue {
    enum class Kind { Null, Int, Float, String };
    Kind kind = Kind::Null;
    std::int64_t i = 0;
    double d = 0;
    std::string_view s;

    static SqlValue null() { return {}; }
    static SqlValue of(std::int64_t v) { return {Kind::Int, v, 0, {}}; }
    static SqlValue of(double v) { return {Kind::Float, 0, v, {}}; }
    static SqlValue of(std::string_view v) { return {Kind::String, 0, 0, v}; }
};
using SqlParams = std::vector<SqlValue>;

/// Receives the rows of a query as they are read.
class RowSink {
public:
    virtual ~RowSink() = default;
    /// Once, before the rows: the column names and the number of rows.
    virtual void start(const std::vector<std::string_view>& columns, std::size_t rows) = 0;
    virtual void row(const std::vector<SqlValue>& cells) = 0;
};

/// The sessions of the task workers, one per slot.
class SqlSessions {
public:
    virtual ~SqlSessions() = default;

    /// Runs a statement with '?' placeholders bound to `params` on the
    /// session of worker `slot`. False + failure on error.
    virtual bool query(unsigned slot, std::string_view sql, const SqlParams& params, RowSink& rows,
                       SqlFailure& failure) = 0;
    virtual bool exec(unsigned slot, std::string_view sql, const SqlParams& params,
                      ExecResult& result, SqlFailure& failure) = 0;

    virtual bool begin(unsigned slot, SqlFailure& failure) = 0;
    virtual bool commit(unsigned slot, SqlFailure& failure) = 0;
    virtual bool rollback(unsigned slot, SqlFailure& failure) = 0;
    /// True if worker `slot` has a transaction open (to roll it back when
    /// a handler forgot to end it).
    virtual bool inTransaction(unsigned slot) const = 0;

protected:
    SqlSessions() = default;
    SqlSessions(const SqlSessions&) = default;
    SqlSessions& operator=(const SqlSessions&) = default;
};

} // namespace dora::pools
