#include "plugins/HostApi.h"

#include "pools/MySqlErrors.h"
#include "pools/MySqlPool.h"
#include "protocol/Codes.h"

#include <dora/sdk/serialize.h>

#include <Poco/Logger.h>

#include <optional>

namespace dora::plugins {

namespace {

using dora::sdk::Value;
namespace code = dora::protocol::code;

std::string str(dora_buf b) { return std::string(b.ptr ? b.ptr : "", b.len); }

void hostLog(dora_host* host, int32_t level, dora_buf message) {
    auto& log = Poco::Logger::get("plugin." + (host ? host->pluginName : std::string("?")));
    std::string m = str(message);
    switch (level) {
    case DORA_LOG_DEBUG: log.debug(m); break;
    case DORA_LOG_INFO: log.information(m); break;
    case DORA_LOG_WARN: log.warning(m); break;
    default: log.error(m); break;
    }
}

int32_t registerAny(dora_registrar* reg, dora_buf name, Handler h) {
    if (!reg || !reg->open || !reg->plugin) return DORA_ERR_STATE;
    std::string n = str(name);
    if (n.empty()) return DORA_ERR_ARG;
    return reg->plugin->addHandler(std::move(n), h) ? DORA_OK : DORA_ERR_ARG;
}


int32_t registerHandler(dora_registrar* reg, dora_buf name, dora_handler_fn fn, void* user) {
    if (!fn) return DORA_ERR_ARG;
    return registerAny(reg, name, Handler{fn, nullptr, user});
}

int32_t registerBatchHandler(dora_registrar* reg, dora_buf name, dora_batch_handler_fn fn,
                             void* user) {
    if (!fn) return DORA_ERR_ARG;
    return registerAny(reg, name, Handler{nullptr, fn, user});
}

dora_buf callParams(dora_call* call) {
    if (!call) return {nullptr, 0};
    return {call->params.data(), call->params.size()};
}

dora_buf callApi(dora_call* call) {
    if (!call) return {nullptr, 0};
    return {call->api.data(), call->api.size()};
}

dora_buf callTaskId(dora_call* call) {
    if (!call) return {nullptr, 0};
    return {call->taskId.data(), call->taskId.size()};
}

int32_t callSetResult(dora_call* call, dora_buf result) {
    if (!call || !call->outcome) return DORA_ERR_ARG;
    call->outcome->code = 0;
    call->outcome->msg.clear();
    call->outcome->data.assign(result.ptr ? result.ptr : "", result.len);
    call->answered = true;
    return DORA_OK;
}

int32_t callSetError(dora_call* call, int32_t errCode, dora_buf message) {
    if (!call || !call->outcome) return DORA_ERR_ARG;
    call->outcome->code = errCode == 0 ? code::kHandlerFailed : errCode;
    call->outcome->msg = str(message);
    call->outcome->data.clear();
    call->answered = true;
    return DORA_OK;
}

int32_t sqlFailed(dora_ctx* ctx, const pools::SqlFailure& f) {
    ctx->lastError = f.message;
    ctx->lastErrno = f.mysqlErrno;
    if (f.dbDown) ctx->dbDown = true;
    if (pools::mysqlerr::isLockConflict(f.mysqlErrno)) ctx->lockConflict = true;
    return f.dbDown ? DORA_ERR_DB_DOWN : DORA_ERR_SQL;
}

/// The plugin's parameter list, bound without building a Value tree.
/// Undecodable bytes are the plugin's mistake (DORA_ERR_ARG); a list the
/// database cannot take (an array as a parameter) is a refused statement.
int32_t decodeParams(dora_ctx* ctx, dora_buf params, std::optional<pools::ParamList>& out) {
    try {
        out.emplace(std::string_view(params.ptr ? params.ptr : "", params.len));
        return DORA_OK;
    } catch (const dora::sdk::DecodeError& e) {
        ctx->lastError = std::string("SQL parameters are not PHP-serialized: ") + e.what();
        ctx->lastErrno = 0;
        return DORA_ERR_ARG;
    } catch (const std::exception& e) {
        ctx->lastError = e.what();
        ctx->lastErrno = 0;
        return DORA_ERR_SQL;
    }
}

int32_t noDatabase(dora_ctx* ctx) {
    if (ctx->inlineApi) {
        ctx->lastError = std::string("route '") + ctx->inlineApi +
                         "' is inline (runs on an I/O thread): SQL is not allowed there; remove "
                         "'inline: true' from its route to run it in the task pool";
        ctx->lastErrno = 0;
        return DORA_ERR_STATE;
    }
    ctx->lastError = "no database is configured for this host";
    ctx->lastErrno = 0;
    return DORA_ERR_DB_DOWN;
}

/// Writes rows straight into the PHP-serialized list the SDK decodes
/// ([i => [column => value]]), the same bytes serialize() of the Value rows
/// would give, without building them.
class SerializedRows : public pools::RowSink {
public:
    explicit SerializedRows(std::string& out) : _out(out) { _out.clear(); }

    void start(const std::vector<std::string_view>& columns, std::size_t rows) override {
        _keys.clear();
        _keep.clear();
        _columns = 0;
        for (std::size_t c = 0; c < columns.size(); ++c) {
            // Of two columns with one name the later wins, as in an array.
            bool later = false;
            for (std::size_t d = c + 1; d < columns.size(); ++d) later = later || columns[d] == columns[c];
            _keep.push_back(!later);
            if (later) continue;
            ++_columns;
            std::string key;
            appendString(key, columns[c]);
            _keys.push_back(std::move(key));
        }
        _out += "a:" + std::to_string(rows) + ":{";
        _rows = rows;
    }

    void row(const std::vector<pools::SqlValue>& cells) override {
        _out += "i:" + std::to_string(_index++) + ";a:" + std::to_string(_columns) + ":{";
        std::size_t k = 0;
        for (std::size_t c = 0; c < cells.size(); ++c) {
            if (!_keep[c]) continue;
            _out += _keys[k++];
            const pools::SqlValue& v = cells[c];
            switch (v.kind) {
            case pools::SqlValue::Kind::Null: _out += "N;"; break;
            case pools::SqlValue::Kind::Int: _out += "i:" + std::to_string(v.i) + ";"; break;
            case pools::SqlValue::Kind::Float: dora::sdk::serializeTo(_out, Value(v.d)); break;
            case pools::SqlValue::Kind::String: appendString(_out, v.s); break;
            }
        }
        _out += '}';
    }

    void finish() {
        if (_out.empty()) _out = "a:0:{"; // start() is skipped only on failure; be safe
        _out += '}';
    }

private:
    static void appendString(std::string& out, std::string_view s) {
        out += "s:" + std::to_string(s.size()) + ":\"";
        out.append(s.data(), s.size());
        out += "\";";
    }

    std::string& _out;
    std::vector<std::string> _keys;
    std::vector<bool> _keep;
    std::size_t _columns = 0, _rows = 0, _index = 0;
};

int32_t sqlQuery(dora_ctx* ctx, dora_buf sql, dora_buf params, dora_buf* outRows) {
    if (!ctx) return DORA_ERR_ARG;
    if (!ctx->mysql) return noDatabase(ctx);
    std::optional<pools::ParamList> p;
    if (int32_t rc = decodeParams(ctx, params, p); rc != DORA_OK) return rc;
    pools::SqlFailure f;
    SerializedRows rows(ctx->scratch);
    if (!ctx->mysql->query(ctx->slot, std::string_view(sql.ptr ? sql.ptr : "", sql.len), p->params(), rows, f))
        return sqlFailed(ctx, f);
    rows.finish();
    ctx->lastErrno = 0;
    if (outRows) *outRows = {ctx->scratch.data(), ctx->scratch.size()};
    return DORA_OK;
}

int32_t sqlExec(dora_ctx* ctx, dora_buf sql, dora_buf params, uint64_t* affected,
                uint64_t* insertId) {
    if (!ctx) return DORA_ERR_ARG;
    if (!ctx->mysql) return noDatabase(ctx);
    std::optional<pools::ParamList> p;
    if (int32_t rc = decodeParams(ctx, params, p); rc != DORA_OK) return rc;
    pools::SqlFailure f;
    pools::ExecResult r;
    if (!ctx->mysql->exec(ctx->slot, std::string_view(sql.ptr ? sql.ptr : "", sql.len), p->params(), r, f))
        return sqlFailed(ctx, f);
    if (!ctx->hostTransaction && !ctx->mysql->inTransaction(ctx->slot)) ctx->committed = true;
    ctx->lastErrno = 0;
    if (affected) *affected = r.affected;
    if (insertId) *insertId = r.insertId;
    return DORA_OK;
}

// Inside a host transaction the plugin's own transaction nests as a
// savepoint, so its begin/commit/rollback keep their meaning.
int32_t savepoint(dora_ctx* ctx, const char* verb, int depth) {
    pools::SqlFailure f;
    pools::ExecResult r;
    std::string sql = std::string(verb) + " dora_sp" + std::to_string(depth);
    if (!ctx->mysql->exec(ctx->slot, sql, pools::SqlParams{}, r, f)) return sqlFailed(ctx, f);
    return DORA_OK;
}

enum class TxnOp { Begin, Commit, Rollback };

template <TxnOp Op> int32_t sqlTxn(dora_ctx* ctx) {
    if (!ctx) return DORA_ERR_ARG;
    if (!ctx->mysql) return noDatabase(ctx);
    if (ctx->hostTransaction) {
        if (Op == TxnOp::Begin) {
            int32_t rc = savepoint(ctx, "SAVEPOINT", ctx->savepointDepth + 1);
            if (rc == DORA_OK) ++ctx->savepointDepth;
            return rc;
        }
        if (ctx->savepointDepth == 0) {
            ctx->lastError = "no transaction is open";
            return DORA_ERR_STATE;
        }
        int32_t rc = savepoint(ctx, Op == TxnOp::Commit ? "RELEASE SAVEPOINT" : "ROLLBACK TO SAVEPOINT",
                               ctx->savepointDepth);
        --ctx->savepointDepth;
        return rc;
    }
    pools::SqlFailure f;
    bool ok = Op == TxnOp::Begin    ? ctx->mysql->begin(ctx->slot, f)
              : Op == TxnOp::Commit ? ctx->mysql->commit(ctx->slot, f)
                                    : ctx->mysql->rollback(ctx->slot, f);
    if (!ok) return sqlFailed(ctx, f);
    if (Op == TxnOp::Commit) ctx->committed = true;
    return DORA_OK;
}

int32_t lastSqlErrno(dora_ctx* ctx) { return ctx ? ctx->lastErrno : 0; }

dora_buf lastError(dora_ctx* ctx) {
    if (!ctx) return {nullptr, 0};
    return {ctx->lastError.data(), ctx->lastError.size()};
}

const dora_host_api kApi = {
    sizeof(dora_host_api),
    DORA_ABI_MAJOR,
    DORA_ABI_MINOR,
    hostLog,
    registerHandler,
    registerBatchHandler,
    callParams,
    callApi,
    callSetResult,
    callSetError,
    sqlQuery,
    sqlExec,
    sqlTxn<TxnOp::Begin>,
    sqlTxn<TxnOp::Commit>,
    sqlTxn<TxnOp::Rollback>,
    lastSqlErrno,
    lastError,
    callTaskId,
};

} // namespace

const dora_host_api* hostApi() { return &kApi; }

protocol::CallOutcome invoke(const Route& route, pools::MySqlPool* mysql, unsigned slot,
                             std::string_view api, std::string_view params) {
    // A handler that lost a deadlock is run again (InnoDB rolled its
    // transaction back), as long as nothing it did was committed yet.
    protocol::CallOutcome outcome;
    for (int attempt = 1;; ++attempt) {
        outcome = protocol::CallOutcome{};
        dora_ctx ctx;
        ctx.mysql = route.spec.inlineRun ? nullptr : mysql;
        ctx.slot = slot;
        if (route.spec.inlineRun) ctx.inlineApi = route.spec.api.c_str();
        dora_call call;
        call.api = api;
        call.params = params;
        call.outcome = &outcome;
        int32_t rc = DORA_OK;
        if (route.handler.fn) {
            rc = route.handler.fn(route.handler.user, &ctx, &call);
        } else if (route.handler.batch) {
            dora_call* one = &call;
            rc = route.handler.batch(route.handler.user, &ctx, &one, 1);
        }
        if (!call.answered) {
            outcome.code = code::kHandlerFailed;
            outcome.msg = "handler '" + route.spec.handler + "' of plugin '" + route.plugin->name() +
                          "' failed (status " + std::to_string(rc) + ") without an answer";
        }
        if (mysql && mysql->inTransaction(slot)) {
            pools::SqlFailure f;
            mysql->rollback(slot, f);
            if (!ctx.lockConflict)
                Poco::Logger::get("dorahost.plugins")
                    .warning("handler '%s' left a transaction open; rolled back", route.spec.handler);
        }
        if (outcome.code == 0 || !ctx.lockConflict || ctx.committed || ctx.dbDown ||
            !pools::LockConflictRetry::shouldRetry(attempt))
            break;
        pools::LockConflictRetry::pause(attempt);
    }
    return outcome;
}

namespace {

void noAnswer(const Route& route, protocol::CallOutcome& o, int32_t rc) {
    o.code = code::kHandlerFailed;
    o.msg = "handler '" + route.spec.handler + "' of plugin '" + route.plugin->name() +
            "' failed (status " + std::to_string(rc) + ") without an answer";
}

} // namespace

GroupedOutcome invokeInHostTransaction(const Route& route, pools::MySqlPool& mysql, unsigned slot,
                                       std::string_view api, std::string_view params) {
    GroupedOutcome r;
    dora_ctx ctx;
    ctx.mysql = &mysql;
    ctx.slot = slot;
    ctx.hostTransaction = true;
    dora_call call;
    call.api = api;
    call.params = params;
    call.outcome = &r.outcome;
    int32_t rc = DORA_OK;
    if (route.handler.fn) {
        rc = route.handler.fn(route.handler.user, &ctx, &call);
    } else if (route.handler.batch) {
        dora_call* one = &call;
        rc = route.handler.batch(route.handler.user, &ctx, &one, 1);
    }
    if (!call.answered) noAnswer(route, r.outcome, rc);
    r.dbDown = ctx.dbDown;
    r.lockConflict = ctx.lockConflict;
    return r;
}

BatchInvocation invokeInTransaction(const Route& route, pools::MySqlPool& mysql, unsigned slot,
                                   const std::vector<BatchCall>& calls) {
    BatchInvocation result;
    result.outcomes.resize(calls.size());
    dora_ctx ctx;
    ctx.mysql = &mysql;
    ctx.slot = slot;
    ctx.hostTransaction = true;
    std::vector<dora_call> cs(calls.size());
    for (std::size_t i = 0; i < calls.size(); ++i) {
        cs[i].api = calls[i].api;
        cs[i].params = calls[i].params;
        cs[i].taskId = calls[i].taskId;
        cs[i].outcome = &result.outcomes[i];
    }
    bool batchFailed = false;
    if (route.handler.batch) {
        std::vector<dora_call*> ptrs;
        ptrs.reserve(cs.size());
        for (auto& c : cs) ptrs.push_back(&c);
        int32_t rc = route.handler.batch(route.handler.user, &ctx, ptrs.data(), ptrs.size());
        batchFailed = rc != DORA_OK;
        for (auto& c : cs)
            if (!c.answered) noAnswer(route, *c.outcome, rc);
    } else {
        for (auto& c : cs) {
            // Each call under its own savepoint: a failure undoes only it.
            if (savepoint(&ctx, "SAVEPOINT", 0) != DORA_OK) break;
            ctx.savepointDepth = 0;
            int32_t rc = route.handler.fn(route.handler.user, &ctx, &c);
            if (!c.answered) noAnswer(route, *c.outcome, rc);
            if (ctx.dbDown || ctx.lockConflict) break;
            savepoint(&ctx, c.outcome->code == 0 ? "RELEASE SAVEPOINT" : "ROLLBACK TO SAVEPOINT", 0);
        }
    }
    // In this order: a batch handler that lost the database or a lock
    // conflict also reports failure, and what matters is the cause.
    if (ctx.dbDown)
        result.status = BatchStatus::DatabaseDown;
    else if (ctx.lockConflict)
        result.status = BatchStatus::LockConflict;
    else if (batchFailed)
        result.status = BatchStatus::HandlerFailed;
    else
        result.status = BatchStatus::Ran;
    return result;
}

} // namespace dora::plugins
