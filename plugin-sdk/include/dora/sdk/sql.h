// dora/sdk/sql.h — SQL on the database session the host lends to a call.
//
// The host owns the MySQL pool. A handler's ctx takes a session from it on
// the first SQL call and gives it back when the handler returns, whatever
// happened; an open transaction is then rolled back. So a plugin never
// connects, never holds a session past its handler and never leaks one.
#ifndef DORA_SDK_SQL_H
#define DORA_SDK_SQL_H

#include <dora/sdk/abi.h>
#include <dora/sdk/error.h>
#include <dora/sdk/serialize.h>
#include <dora/sdk/value.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dora::sdk {

/// What a statement run with Sql::exec did.
struct ExecResult {
    /// Rows changed (MySQL's affected rows: a row set to the value it
    /// already had does not count).
    std::int64_t affected = 0;
    /// The AUTO_INCREMENT id the statement generated, or the value given to
    /// LAST_INSERT_ID(expr); 0 if none.
    std::int64_t insertId = 0;
};

/// SQL bound to one handler invocation (ctx). Statements use '?'
/// placeholders bound to params in order; a param may be any scalar Value
/// (null, bool, int, float, string). Every failure throws SqlError.
///
/// Borrowed from Call or Batch (copies share the same session), valid until
/// the handler returns; not thread-safe (a ctx belongs to the one thread
/// running its handler).
class Sql {
public:
    Sql(const dora_host_api* api, dora_ctx* ctx) noexcept : _api(api), _ctx(ctx) {}

    /// Runs a statement that returns rows. Each row is an array column
    /// name => value, in select-list order.
    std::vector<Value> query(std::string_view sql, const std::vector<Value>& params = {}) {
        dora_buf rows{nullptr, 0};
        std::string p = encodeParams(params);
        check(_api->sql_query(_ctx, buf(sql), buf(p), &rows));
        std::vector<Value> out;
        if (rows.ptr == nullptr || rows.len == 0) return out;
        Value decoded;
        try {
            decoded = unserialize(std::string_view(rows.ptr, rows.len));
        } catch (const DecodeError& e) {
            throw SqlError(DORA_ERR_INTERNAL, 0, std::string("undecodable rows: ") + e.what());
        }
        if (decoded.isNull()) return out;
        if (!decoded.isArray()) throw SqlError(DORA_ERR_INTERNAL, 0, "rows are not a list");
        out.reserve(decoded.asArray().size());
        for (auto& entry : decoded.asArray())
            out.push_back(std::move(entry.value));
        return out;
    }

    /// The first row of query(sql, params), or nullopt if there is none.
    /// Add LIMIT 1 yourself when more rows could match.
    std::optional<Value> queryOne(std::string_view sql, const std::vector<Value>& params = {}) {
        std::vector<Value> rows = query(sql, params);
        if (rows.empty()) return std::nullopt;
        return std::move(rows.front());
    }

    /// Runs a statement that returns no rows (INSERT, UPDATE, DELETE...).
    ExecResult exec(std::string_view sql, const std::vector<Value>& params = {}) {
        std::uint64_t affected = 0, insertId = 0;
        std::string p = encodeParams(params);
        check(_api->sql_exec(_ctx, buf(sql), buf(p), &affected, &insertId));
        return ExecResult{static_cast<std::int64_t>(affected), static_cast<std::int64_t>(insertId)};
    }

    /// Explicit transaction control; prefer the RAII Transaction below.
    void begin() { check(_api->sql_begin(_ctx)); }
    void commit() { check(_api->sql_commit(_ctx)); }
    void rollback() { check(_api->sql_rollback(_ctx)); }

private:
    static dora_buf buf(std::string_view s) noexcept { return dora_buf{s.data(), s.size()}; }

    // The params list is written directly ("a:N:{i:0;<v>i:1;<v>}") rather
    // than copied into a Value array first: it is built on every statement.
    static std::string encodeParams(const std::vector<Value>& params) {
        std::string out = "a:" + std::to_string(params.size()) + ":{";
        for (std::size_t i = 0; i < params.size(); ++i) {
            out += "i:" + std::to_string(i) + ";";
            serializeTo(out, params[i]);
        }
        out += '}';
        return out;
    }

    void check(std::int32_t status) {
        if (status == DORA_OK) return;
        // The host logs why its pool had no connection; the client only
        // needs to know that it was not the call's fault.
        if (status == DORA_ERR_DB_DOWN) throw SqlError(status, 0, "database unavailable");
        int sqlErrno = _api->ctx_last_sql_errno(_ctx);
        dora_buf text = _api->ctx_last_error(_ctx);
        std::string message(text.ptr ? text.ptr : "", text.ptr ? text.len : 0);
        if (message.empty()) message = "SQL call failed (status " + std::to_string(status) + ")";
        throw SqlError(status, sqlErrno, message);
    }

    const dora_host_api* _api;
    dora_ctx* _ctx;
};

/// A transaction scope: begins on construction and rolls back on
/// destruction unless commit() succeeded. Use on the handler's stack only.
///
///     Transaction tx(call.sql());
///     ... statements ...
///     tx.commit();
class Transaction {
public:
    explicit Transaction(Sql& sql) : _sql(sql) { _sql.begin(); }
    ~Transaction() {
        if (_open) {
            try {
                _sql.rollback();
            } catch (...) { // NOLINT(bugprone-empty-catch): the host rolls back anyway
            }
        }
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

    /// Commits. If the commit throws, the destructor still rolls back.
    void commit() {
        _sql.commit();
        _open = false;
    }
    /// Rolls back now (the destructor then does nothing).
    void rollback() {
        _open = false;
        _sql.rollback();
    }

private:
    Sql& _sql;
    bool _open = true;
};

} // namespace dora::sdk

#endif // DORA_SDK_SQL_H
