#include "plugins/HostApi.h"

#include "config/Schema.h"
#include "pools/MySqlErrors.h"
#include "pools/MySqlSessions.h"
#include "pools/Redis.h"
#include "protocol/Codes.h"
#include "protocol/PhpScan.h"

#include <dora/sdk/serialize.h>

#include <Poco/Logger.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
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


// ---- ABI 1.2: call metadata

dora_buf callGuid(dora_call* call) {
    if (!call || !call->meta) return {nullptr, 0};
    return {call->meta->guid.data(), call->meta->guid.size()};
}

int32_t callMode(dora_call* call) { return call && call->meta ? call->meta->mode : 0; }
int32_t callGeneration(dora_call* call) { return call && call->meta ? call->meta->generation : 0; }

dora_buf callPeer(dora_call* call) {
    if (!call || !call->meta) return {nullptr, 0};
    return {call->meta->peer.data(), call->meta->peer.size()};
}

uint32_t callAttempt(dora_call* call) { return call && call->meta ? call->meta->attempt : 1; }

int64_t callTimeLeftUs(dora_call* call) {
    if (!call || !call->meta || call->timeoutMs <= 0 ||
        call->meta->started == std::chrono::steady_clock::time_point{})
        return -1;
    auto deadline = call->meta->started + std::chrono::milliseconds(call->timeoutMs);
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - std::chrono::steady_clock::now());
    return left.count() > 0 ? left.count() : 0;
}

void callLog(dora_call* call, int32_t level, dora_buf message) {
    std::string m;
    std::string_view guid = call && call->meta ? call->meta->guid : std::string_view();
    m.reserve(guid.size() + message.len + 3);
    m += '[';
    m.append(guid.empty() ? std::string_view("-") : guid);
    m += "] ";
    m.append(message.ptr ? message.ptr : "", message.len);
    hostLog(const_cast<dora_host*>(call ? call->host : nullptr), level, dora_buf{m.data(), m.size()});
}

// ---- ABI 1.2: plugin options

bool optionName(const std::string& n) {
    if (n.empty() || n.size() > 64) return false;
    for (char c : n)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    return true;
}

const char* optionTypeName(int32_t type) {
    switch (type) {
    case DORA_OPT_BOOL: return "a bool (true or false)";
    case DORA_OPT_INT: return "an int";
    case DORA_OPT_FLOAT: return "a number";
    case DORA_OPT_STRING: return "a string";
    default: return "?";
    }
}

/// Parses text as type into its serialized value and shown text; throws
/// std::invalid_argument saying what was expected.
void parseOption(int32_t type, const std::string& text, bool quoted, std::string& value, std::string& shown) {
    using dora::sdk::serialize;
    if (type != DORA_OPT_STRING && quoted)
        throw std::invalid_argument(std::string("expected ") + optionTypeName(type) + ", got the quoted text '" +
                                    text + "'");
    switch (type) {
    case DORA_OPT_BOOL: {
        bool b = config::parseBool(text);
        value = serialize(Value(b));
        shown = b ? "true" : "false";
        return;
    }
    case DORA_OPT_INT: {
        std::int64_t i = config::parseInteger(text, std::numeric_limits<std::int64_t>::min(),
                                              std::numeric_limits<std::int64_t>::max());
        value = serialize(Value(i));
        shown = std::to_string(i);
        return;
    }
    case DORA_OPT_FLOAT: {
        char* end = nullptr;
        errno = 0;
        double d = text.empty() ? 0 : std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(d))
            throw std::invalid_argument("expected a number, got '" + text + "'");
        value = serialize(Value(d));
        shown = text;
        return;
    }
    default:
        value = serialize(Value(text));
        shown = "\"" + text + "\"";
        return;
    }
}

int32_t registerOption(dora_registrar* reg, dora_buf name, int32_t type, dora_buf defaultText, dora_buf help) {
    if (!reg || !reg->open || !reg->plugin) return DORA_ERR_STATE;
    std::string n = str(name);
    if (!optionName(n) || type < DORA_OPT_BOOL || type > DORA_OPT_STRING) return DORA_ERR_ARG;
    dora_host& host = reg->plugin->host();
    if (host.options.count(n)) return DORA_ERR_ARG;
    dora_host::Option o;
    o.type = type;
    o.help = str(help);
    try {
        parseOption(type, str(defaultText), false, o.value, o.shown);
    } catch (const std::exception&) {
        return DORA_ERR_ARG; // the plugin's own default does not fit its type
    }
    if (host.routeFile) {
        for (const auto& fo : host.routeFile->options) {
            if (fo.name != n) continue;
            try {
                std::string value, shown;
                parseOption(type, fo.text, fo.quoted, value, shown);
                o.value = std::move(value);
                o.shown = std::move(shown);
                o.line = fo.line;
            } catch (const std::exception& e) {
                host.optionErrors.push_back(host.routeFile->path + ":" + std::to_string(fo.line) + ": option '" + n +
                                            "' of plugin '" + host.pluginName + "': " + e.what());
            }
        }
    }
    host.options.emplace(std::move(n), std::move(o));
    return DORA_OK;
}

int32_t optionGet(dora_host* host, dora_buf name, dora_buf* out) {
    if (!host || !out) return DORA_ERR_ARG;
    auto it = host->options.find(std::string_view(name.ptr ? name.ptr : "", name.len));
    if (it == host->options.end()) return DORA_ERR_ARG;
    *out = {it->second.value.data(), it->second.value.size()};
    return DORA_OK;
}

// ---- ABI 1.2: Redis

int32_t redisDown(dora_ctx* ctx, const std::string& why) {
    ctx->lastError = why;
    ctx->lastErrno = 0;
    Poco::Logger::get("dorahost.redis").warning("handler Redis call failed: %s", why);
    return DORA_ERR_REDIS_DOWN;
}

/// The ctx's connection, taken from the pool on first use.
pools::RedisConnection* redisConnection(dora_ctx* ctx, int32_t& rc) {
    if (ctx->redis) return ctx->redis.get();
    if (ctx->inlineApi) {
        ctx->lastError = std::string("route '") + ctx->inlineApi +
                         "' is inline (runs on an I/O thread): Redis is not allowed there; remove "
                         "'inline: true' from its route to run it in the task pool";
        ctx->lastErrno = 0;
        rc = DORA_ERR_STATE;
        return nullptr;
    }
    if (!ctx->redisPool) {
        rc = redisDown(ctx, "no Redis is configured for this host");
        return nullptr;
    }
    std::string error;
    ctx->redis = ctx->redisPool->take(error);
    if (!ctx->redis) {
        rc = redisDown(ctx, error);
        return nullptr;
    }
    return ctx->redis.get();
}

/// The SDK's argv layout, a:N:{i:0;s:L:"...";i:1;...}, read in place
/// (protocol/PhpScan.h): views into `in`. False at anything else (other
/// keys, other types, cut input): the full decode then reads it, or says
/// exactly why not.
bool fastArgv(std::string_view in, std::vector<std::string_view>& argv) {
    protocol::PhpScan s(in);
    std::size_t n = 0;
    if (!s.header('a', n) || n == 0) return false;
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t k = 0;
        std::string_view arg;
        if (!s.lit("i:") || !s.digits(k) || k != i || !s.lit(";") || !s.string(arg)) return false;
        argv.push_back(arg);
    }
    return s.close() && s.atEnd();
}

bool argvOf(const Value& v, std::vector<std::string_view>& argv, std::string& error) {
    if (!v.isArray() || v.asArray().size() == 0) {
        error = "a Redis command must be a non-empty list of strings";
        return false;
    }
    for (const auto& e : v.asArray()) {
        if (!e.value.isString()) {
            error = std::string("a Redis command's arguments must be strings, got ") + Value::typeName(e.value.type());
            return false;
        }
        argv.emplace_back(e.value.asString());
    }
    return true;
}

void serializeReply(std::string& out, const redisReply* r) {
    switch (r->type) {
    // hiredis 0.14 (Debian 12) speaks RESP2 only: no doubles, maps or bools.
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR: // inside an array: its text
        out += "s:" + std::to_string(r->len) + ":\"";
        out.append(r->str, r->len);
        out += "\";";
        return;
    case REDIS_REPLY_INTEGER: out += "i:" + std::to_string(r->integer) + ";"; return;
    case REDIS_REPLY_NIL: out += "N;"; return;
    default: // arrays
        out += "a:" + std::to_string(r->elements) + ":{";
        for (std::size_t i = 0; i < r->elements; ++i) {
            out += "i:" + std::to_string(i) + ";";
            serializeReply(out, r->element[i]);
        }
        out += '}';
        return;
    }
}

int32_t redisCommand(dora_ctx* ctx, dora_buf argvBytes, dora_buf* outReply) {
    if (!ctx) return DORA_ERR_ARG;
    Value decoded;
    std::vector<std::string_view> argv;
    const std::string_view in(argvBytes.ptr ? argvBytes.ptr : "", argvBytes.len);
    if (!fastArgv(in, argv)) {
        argv.clear();
        try {
            decoded = dora::sdk::unserialize(in);
        } catch (const std::exception& e) {
            ctx->lastError = std::string("Redis command is not PHP-serialized: ") + e.what();
            return DORA_ERR_ARG;
        }
        if (!argvOf(decoded, argv, ctx->lastError)) return DORA_ERR_ARG;
    }
    int32_t rc = DORA_OK;
    pools::RedisConnection* c = redisConnection(ctx, rc);
    if (!c) return rc;
    pools::Reply r = c->command(argv);
    if (!r) return redisDown(ctx, "Redis connection failed: " + c->error());
    if (r->type == REDIS_REPLY_ERROR) {
        ctx->lastError.assign(r->str, r->len);
        ctx->lastErrno = 0;
        return DORA_ERR_REDIS;
    }
    ctx->scratch.clear();
    serializeReply(ctx->scratch, r.get());
    if (outReply) *outReply = {ctx->scratch.data(), ctx->scratch.size()};
    return DORA_OK;
}

int32_t redisPipeline(dora_ctx* ctx, dora_buf commandsBytes, dora_buf* outReplies) {
    if (!ctx) return DORA_ERR_ARG;
    Value decoded;
    try {
        decoded = dora::sdk::unserialize(std::string_view(commandsBytes.ptr ? commandsBytes.ptr : "", commandsBytes.len));
    } catch (const std::exception& e) {
        ctx->lastError = std::string("Redis pipeline is not PHP-serialized: ") + e.what();
        return DORA_ERR_ARG;
    }
    if (!decoded.isArray()) {
        ctx->lastError = "a Redis pipeline must be a list of commands";
        return DORA_ERR_ARG;
    }
    std::vector<std::vector<std::string_view>> commands;
    for (const auto& e : decoded.asArray()) {
        commands.emplace_back();
        if (!argvOf(e.value, commands.back(), ctx->lastError)) return DORA_ERR_ARG;
    }
    ctx->scratch = "a:" + std::to_string(commands.size()) + ":{";
    if (!commands.empty()) {
        int32_t rc = DORA_OK;
        pools::RedisConnection* c = redisConnection(ctx, rc);
        if (!c) return rc;
        for (const auto& argv : commands) c->append(argv);
        for (std::size_t i = 0; i < commands.size(); ++i) {
            pools::Reply r = c->reply();
            if (!r) return redisDown(ctx, "Redis connection failed during a pipeline: " + c->error());
            ctx->scratch += "i:" + std::to_string(i) + ";a:2:{i:0;";
            ctx->scratch += r->type == REDIS_REPLY_ERROR ? "b:0;" : "b:1;";
            ctx->scratch += "i:1;";
            serializeReply(ctx->scratch, r.get());
            ctx->scratch += '}';
        }
    }
    ctx->scratch += '}';
    if (outReplies) *outReplies = {ctx->scratch.data(), ctx->scratch.size()};
    return DORA_OK;
}

// ---- ABI 1.2: plugin metrics

dora_metric* registerMetric(dora_registrar* reg, int32_t kind, dora_buf name, dora_buf help, const double* bounds,
                            size_t nBounds) {
    if (!reg || !reg->open || !reg->plugin) return nullptr;
    std::string n = str(name);
    if (!optionName(n)) return nullptr; // the same [a-z0-9_]+ rule
    dora_host& host = reg->plugin->host();
    for (const auto& m : host.metrics)
        if (m->name == n) return nullptr;
    auto m = std::make_unique<dora_metric>();
    m->name = std::move(n);
    m->help = str(help);
    m->kind = kind;
    if (kind == DORA_METRIC_HISTOGRAM) {
        if (!bounds || nBounds == 0 || nBounds > 64) return nullptr;
        for (std::size_t i = 0; i < nBounds; ++i) {
            if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) return nullptr;
            m->bounds.push_back(bounds[i]);
        }
        m->buckets = std::make_unique<std::atomic<std::uint64_t>[]>(nBounds + 1);
        for (std::size_t i = 0; i <= nBounds; ++i) m->buckets[i].store(0);
    } else if (kind != DORA_METRIC_COUNTER || nBounds != 0) {
        return nullptr;
    }
    host.metrics.push_back(std::move(m));
    return host.metrics.back().get();
}

void metricAdd(dora_metric* m, int64_t delta) {
    if (m && m->kind == DORA_METRIC_COUNTER && delta >= 0) m->add(delta);
}

void metricObserve(dora_metric* m, double v) {
    if (m && m->kind == DORA_METRIC_HISTOGRAM && !std::isnan(v)) m->observe(v);
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
    // ABI 1.2
    callGuid,
    callMode,
    callGeneration,
    callPeer,
    callAttempt,
    callTimeLeftUs,
    callLog,
    registerOption,
    optionGet,
    redisCommand,
    redisPipeline,
    registerMetric,
    metricAdd,
    metricObserve,
};
static_assert(sizeof(kApi) == sizeof(dora_host_api), "every member of the function table is set");

} // namespace

const dora_host_api* hostApi() { return &kApi; }

std::int32_t sdkMode(protocol::Mode m) {
    switch (m) {
    case protocol::Mode::SyncSingle: return DORA_MODE_SYNC_SINGLE;
    case protocol::Mode::SyncMulti: return DORA_MODE_SYNC_MULTI;
    case protocol::Mode::AsyncSingle: return DORA_MODE_ASYNC_SINGLE;
    case protocol::Mode::AsyncMulti: return DORA_MODE_ASYNC_MULTI;
    case protocol::Mode::AsyncResultSingle: return DORA_MODE_ASYNC_RESULT_SINGLE;
    case protocol::Mode::AsyncResultMulti: return DORA_MODE_ASYNC_RESULT_MULTI;
    default: return 0;
    }
}

std::int32_t sdkGeneration(protocol::Generation g) {
    switch (g) {
    case protocol::Generation::V1: return DORA_GEN_V1;
    case protocol::Generation::V2: return DORA_GEN_V2;
    case protocol::Generation::Json: return DORA_GEN_JSON;
    }
    return 0;
}

protocol::CallOutcome invoke(const Route& route, pools::SqlSessions* mysql, unsigned slot,
                             std::string_view api, std::string_view params, const CallMeta* meta) {
    // A handler that lost a deadlock is run again (InnoDB rolled its
    // transaction back), as long as nothing it did was committed yet.
    protocol::CallOutcome outcome;
    for (int attempt = 1;; ++attempt) {
        outcome = protocol::CallOutcome{};
        dora_ctx ctx;
        ctx.mysql = route.spec.inlineRun ? nullptr : mysql;
        ctx.slot = slot;
        if (route.spec.inlineRun) ctx.inlineApi = route.spec.api.c_str();
        else ctx.redisPool = route.plugin->host().redis; // an I/O thread must not block on Redis either
        dora_call call;
        call.api = api;
        call.params = params;
        call.meta = meta;
        call.timeoutMs = route.spec.timeoutMs;
        call.host = &route.plugin->host();
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

GroupedOutcome invokeInHostTransaction(const Route& route, pools::SqlSessions& mysql, unsigned slot,
                                       std::string_view api, std::string_view params, const CallMeta* meta) {
    GroupedOutcome r;
    dora_ctx ctx;
    ctx.mysql = &mysql;
    ctx.slot = slot;
    ctx.hostTransaction = true;
    ctx.redisPool = route.plugin->host().redis;
    dora_call call;
    call.api = api;
    call.params = params;
    call.meta = meta;
    call.timeoutMs = route.spec.timeoutMs;
    call.host = &route.plugin->host();
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

BatchInvocation invokeInTransaction(const Route& route, pools::SqlSessions& mysql, unsigned slot,
                                   const std::vector<BatchCall>& calls) {
    BatchInvocation result;
    result.outcomes.resize(calls.size());
    dora_ctx ctx;
    ctx.mysql = &mysql;
    ctx.slot = slot;
    ctx.hostTransaction = true;
    ctx.redisPool = route.plugin->host().redis;
    std::vector<dora_call> cs(calls.size());
    for (std::size_t i = 0; i < calls.size(); ++i) {
        cs[i].api = calls[i].api;
        cs[i].params = calls[i].params;
        cs[i].taskId = calls[i].taskId;
        cs[i].meta = calls[i].meta;
        cs[i].host = &route.plugin->host();
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
