// dora/sdk/testing.h — unit-test a plugin's handlers without a host.
//
// A fake host that loads nothing: it runs the plugin's init in-process
// (link the plugin's sources into the test), calls a handler with the
// params you give, answers the handler's SQL and Redis calls from a script
// you write, and hands back the answer, what the handler asked for, and
// what it logged and counted. Header-only, no test framework needed.
//
//     #include <dora/sdk/testing.h>
//     extern "C" const dora_plugin_info* dora_plugin_entry(void); // DORA_PLUGIN's
//
//     dora::sdk::testing::FakeHost host(dora_plugin_entry(), {{"greeting", "hi"}});
//     host.sql.rows({Value::array().set("id", 7)});          // the next query's rows
//     auto r = host.call("get_user", Value::array().set("name", "ann"));
//     assert(r.ok() && r.value.find("id")->asInt() == 7);
//     assert(host.sql.trace[0] == "query SELECT id FROM users WHERE name = ? [\"ann\"]");
//
// Define the host's opaque types: include this header in the test's own
// source files only, never in the plugin's. One FakeHost per plugin at a
// time; not thread-safe (a test drives it from one thread).
#ifndef DORA_SDK_TESTING_H
#define DORA_SDK_TESTING_H

#include <dora/sdk/abi.h>
#include <dora/sdk/serialize.h>
#include <dora/sdk/value.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace dora::sdk::testing {

/// One scripted answer to a SQL call (query or exec).
struct SqlAnswer {
    std::int32_t status = DORA_OK; ///< DORA_ERR_SQL, DORA_ERR_DB_DOWN to fail
    int sqlErrno = 0;              ///< e.g. 1062 (duplicate key) with DORA_ERR_SQL
    std::string error;
    std::vector<Value> rows; ///< a query's rows (arrays column => value)
    std::uint64_t affected = 0, insertId = 0;
};

/// One scripted answer to a Redis command.
struct RedisAnswer {
    std::int32_t status = DORA_OK; ///< DORA_ERR_REDIS (error reply), DORA_ERR_REDIS_DOWN
    Value value;                   ///< the reply
    std::string error;             ///< the error reply's text
};

/// A statement a handler ran, as `backend` sees it.
struct SqlRequest {
    std::string kind; ///< "query", "exec", "begin", "commit", "rollback"
    std::string sql;  ///< with its ? placeholders (empty for begin/commit/rollback)
    Value params;     ///< the bound values, a list
};

/// The SQL side of the fake: a script consumed in order by query and exec
/// (begin, commit and rollback are only traced), and the trace of what the
/// handlers ran: "query <sql> <params as JSON-ish text>", "exec ...",
/// "begin", "commit", "rollback". A query or exec with nothing scripted
/// fails the call with "no scripted answer", so a test states every answer.
///
/// Or a live answerer: set `backend` and every statement (transactions
/// too) goes to it instead of the script, e.g. to a real database through
/// the client library of your choice (the SDK links none); what it returns
/// is the answer. The trace is kept either way.
struct SqlScript {
    std::deque<SqlAnswer> script;
    std::vector<std::string> trace;
    std::function<SqlAnswer(const SqlRequest&)> backend;
    void rows(std::vector<Value> r) { script.push_back(SqlAnswer{DORA_OK, 0, {}, std::move(r), 0, 0}); }
    void exec(std::uint64_t affected, std::uint64_t insertId = 0) {
        script.push_back(SqlAnswer{DORA_OK, 0, {}, {}, affected, insertId});
    }
    void fail(int sqlErrno, std::string message) {
        script.push_back(SqlAnswer{DORA_ERR_SQL, sqlErrno, std::move(message), {}, 0, 0});
    }
    void down() { script.push_back(SqlAnswer{DORA_ERR_DB_DOWN, 0, "database down (scripted)", {}, 0, 0}); }
};

/// The Redis side: the same, per command ("GET k", pipelines trace each
/// command); a pipeline consumes one answer per command.
struct RedisScript {
    std::deque<RedisAnswer> script;
    std::vector<std::string> trace;
    /// Set: every command (each of a pipeline too) goes to it instead of
    /// the script, e.g. to a real Redis; argv as the handler gave it.
    std::function<RedisAnswer(const std::vector<std::string>& argv)> backend;
    void reply(Value v) { script.push_back(RedisAnswer{DORA_OK, std::move(v), {}}); }
    void error(std::string text) { script.push_back(RedisAnswer{DORA_ERR_REDIS, {}, std::move(text)}); }
    void down() { script.push_back(RedisAnswer{DORA_ERR_REDIS_DOWN, {}, "Redis down (scripted)"}); }
};

/// What a call got.
struct Result {
    bool answered = false;
    bool isError = false;
    std::int32_t code = 0; ///< the error's code (kBadParam, ...); 0 on success
    std::string message;   ///< the error's message
    Value value;           ///< the result on success
    bool ok() const { return answered && !isError; }
};

/// Who "called" (call metadata a handler reads).
struct CallSetup {
    std::string guid = "00000000000000000000000000000001";
    std::int32_t mode = DORA_MODE_SYNC_SINGLE;
    std::int32_t generation = DORA_GEN_V1;
    std::string peer = "127.0.0.1:40000";
    std::uint32_t attempt = 1;
    std::int64_t timeLeftUs = -1; ///< -1: no deadline
    std::string taskId;           ///< a queued task's id
};

class FakeHost;

} // namespace dora::sdk::testing

// ---- the host's opaque types, as this fake defines them

struct dora_host {
    dora::sdk::testing::FakeHost* fake = nullptr;
};
struct dora_registrar {
    dora::sdk::testing::FakeHost* fake = nullptr;
    bool open = true;
};
struct dora_ctx {
    dora::sdk::testing::FakeHost* fake = nullptr;
    std::string held; ///< bytes handed back (rows, replies)
    std::string lastError;
    std::int32_t lastErrno = 0;
};
struct dora_call {
    std::string api, params;
    const dora::sdk::testing::CallSetup* setup = nullptr;
    dora::sdk::testing::Result* result = nullptr;
    dora::sdk::testing::FakeHost* fake = nullptr;
};
struct dora_metric {
    std::string name;
    std::int32_t kind = 0;
    std::int64_t count = 0;
    double sum = 0;
};

namespace dora::sdk::testing {

class FakeHost {
public:
    /// Runs the plugin's init. options: the route file's `options:` as
    /// YAML text per key (checked against what init declares, as the host
    /// does: an unknown key or a value of the wrong type fails the load).
    explicit FakeHost(const dora_plugin_info* info, std::map<std::string, std::string> options = {})
        : _info(info), _fileOptions(std::move(options)) {
        _host.fake = this;
        _api = table();
        dora_registrar reg;
        reg.fake = this;
        const char* why = nullptr;
        if (!info || !info->init) {
            _error = "no plugin description";
            return;
        }
        std::int32_t rc = info->init(&_api, &_host, &reg, &_state, &why);
        reg.open = false;
        if (rc != DORA_OK) {
            _error = why ? why : "init failed (status " + std::to_string(rc) + ")";
            return;
        }
        _initialised = true;
        for (const auto& [k, v] : _fileOptions)
            if (!_options.count(k)) _error = "unknown option '" + k + "'";
        if (_error.empty()) _error = _optionError;
        _loaded = _error.empty();
    }
    ~FakeHost() {
        if (_initialised && _info->shutdown) _info->shutdown(_state);
    }
    FakeHost(const FakeHost&) = delete;
    FakeHost& operator=(const FakeHost&) = delete;

    /// True if init succeeded and the options fit; else error() says why.
    bool loaded() const { return _loaded; }
    const std::string& error() const { return _error; }

    /// Calls the handler registered as `handler` with params (a Value,
    /// serialized as the host would pass it). Throws std::logic_error if
    /// there is no such handler or the plugin did not load.
    Result call(const std::string& handler, const Value& params = Value::array(), const CallSetup& setup = {}) {
        auto it = _handlers.find(handler);
        if (!_loaded || it == _handlers.end())
            throw std::logic_error(!_loaded ? "the plugin did not load: " + _error : "no handler '" + handler + "'");
        Result r;
        dora_ctx ctx;
        ctx.fake = this;
        dora_call c;
        c.api = handler;
        c.params = serialize(params);
        c.setup = &setup;
        c.result = &r;
        c.fake = this;
        if (it->second.fn) {
            it->second.fn(it->second.user, &ctx, &c);
        } else {
            dora_call* one = &c;
            it->second.batch(it->second.user, &ctx, &one, 1);
        }
        return r;
    }

    /// A counter's value, or a histogram's number of observations; -1 if
    /// the plugin registered no metric of that name.
    std::int64_t metric(const std::string& name) const {
        for (const auto& m : _metrics)
            if (m->name == name) return m->count;
        return -1;
    }
    /// Everything the plugin logged, "LEVEL message" (call logs "LEVEL [guid] message").
    const std::vector<std::string>& logs() const { return _logs; }

    SqlScript sql;
    RedisScript redis;

private:
    struct Handler {
        dora_handler_fn fn = nullptr;
        dora_batch_handler_fn batch = nullptr;
        void* user = nullptr;
    };

    static std::string str(dora_buf b) { return b.ptr ? std::string(b.ptr, b.len) : std::string(); }
    static std::string describe(dora_buf serialized) {
        try {
            return toText(unserialize(str(serialized)));
        } catch (...) {
            return "<undecodable>";
        }
    }
    static std::string toText(const Value& v) {
        if (v.isNull()) return "null";
        if (v.isBool()) return v.asBool() ? "true" : "false";
        if (v.isInt()) return std::to_string(v.asInt());
        if (v.isFloat()) return std::to_string(v.asFloat());
        if (v.isString()) return "\"" + v.asString() + "\"";
        std::string out = "[";
        bool first = true;
        for (const auto& e : v.asArray()) {
            out += (first ? "" : ", ") + toText(e.value);
            first = false;
        }
        return out + "]";
    }
    static std::string level(std::int32_t l) {
        return l == DORA_LOG_DEBUG ? "DEBUG" : l == DORA_LOG_INFO ? "INFO" : l == DORA_LOG_WARN ? "WARN" : "ERROR";
    }

    /// The backend's view of a statement (kept in the fake: valid until the next one).
    const SqlRequest* request(const char* kind, dora_buf q, dora_buf params) {
        _request.kind = kind;
        _request.sql = str(q);
        try {
            _request.params = params.len ? unserialize(str(params)) : Value::array();
        } catch (...) {
            _request.params = Value::array();
        }
        return &_request;
    }
    SqlRequest _request;

    static std::int32_t noScript(dora_ctx* x, const std::string& what) {
        x->lastError = "no scripted answer for: " + what;
        x->lastErrno = 0;
        return DORA_ERR_INTERNAL;
    }

    std::int32_t nextSql(dora_ctx* x, const std::string& traced, SqlAnswer& a, const SqlRequest* req = nullptr) {
        sql.trace.push_back(traced);
        if (sql.backend && req) {
            a = sql.backend(*req);
        } else {
            if (sql.script.empty()) return noScript(x, traced);
            a = std::move(sql.script.front());
            sql.script.pop_front();
        }
        x->lastError = a.error;
        x->lastErrno = a.sqlErrno;
        return a.status;
    }
    std::int32_t nextRedis(dora_ctx* x, const std::string& traced, RedisAnswer& a, dora_buf argv = {nullptr, 0}) {
        redis.trace.push_back(traced);
        if (redis.backend) {
            std::vector<std::string> args;
            try {
                const Value list = unserialize(str(argv));
                for (const auto& e : list.asArray()) args.push_back(e.value.isString() ? e.value.asString() : toText(e.value));
            } catch (...) {
                return DORA_ERR_ARG;
            }
            a = redis.backend(args);
        } else {
            if (redis.script.empty()) return noScript(x, traced);
            a = std::move(redis.script.front());
            redis.script.pop_front();
        }
        x->lastError = a.error;
        return a.status;
    }
    static std::string command(dora_buf argv) {
        std::string text = describe(argv); // ["GET", "k"] -> GET k
        std::string out;
        try {
            const Value list = unserialize(str(argv)); // kept alive while iterating
            for (const auto& e : list.asArray())
                out += (out.empty() ? "" : " ") + (e.value.isString() ? e.value.asString() : toText(e.value));
        } catch (...) {
            return text;
        }
        return out;
    }

    bool parseOption(std::int32_t type, const std::string& text, std::string& out) {
        try {
            std::size_t used = 0;
            switch (type) {
            case DORA_OPT_BOOL:
                if (text != "true" && text != "false") return false;
                out = serialize(Value(text == "true"));
                return true;
            case DORA_OPT_INT: {
                long long v = std::stoll(text, &used);
                if (used != text.size()) return false;
                out = serialize(Value(v));
                return true;
            }
            case DORA_OPT_FLOAT: {
                double v = std::stod(text, &used);
                if (used != text.size()) return false;
                out = serialize(Value(v));
                return true;
            }
            case DORA_OPT_STRING: out = serialize(Value(text)); return true;
            default: return false;
            }
        } catch (...) {
            return false;
        }
    }

    dora_host_api table() {
        dora_host_api a{};
        a.struct_size = sizeof(dora_host_api);
        a.abi_major = DORA_ABI_MAJOR;
        a.abi_minor = DORA_ABI_MINOR;
        a.log = [](dora_host* h, std::int32_t l, dora_buf m) { h->fake->_logs.push_back(level(l) + " " + str(m)); };
        a.register_handler = [](dora_registrar* r, dora_buf name, dora_handler_fn fn, void* user) -> std::int32_t {
            if (!r->open) return DORA_ERR_STATE;
            return r->fake->_handlers.emplace(str(name), Handler{fn, nullptr, user}).second ? DORA_OK : DORA_ERR_ARG;
        };
        a.register_batch_handler = [](dora_registrar* r, dora_buf name, dora_batch_handler_fn fn,
                                      void* user) -> std::int32_t {
            if (!r->open) return DORA_ERR_STATE;
            return r->fake->_handlers.emplace(str(name), Handler{nullptr, fn, user}).second ? DORA_OK : DORA_ERR_ARG;
        };
        a.call_params = [](dora_call* c) { return dora_buf{c->params.data(), c->params.size()}; };
        a.call_api = [](dora_call* c) { return dora_buf{c->api.data(), c->api.size()}; };
        a.call_set_result = [](dora_call* c, dora_buf r) -> std::int32_t {
            try {
                c->result->value = unserialize(str(r));
            } catch (...) {
                return DORA_ERR_ARG;
            }
            c->result->answered = true;
            c->result->isError = false;
            c->result->code = 0;
            c->result->message.clear();
            return DORA_OK;
        };
        a.call_set_error = [](dora_call* c, std::int32_t code, dora_buf m) -> std::int32_t {
            c->result->answered = true;
            c->result->isError = true;
            c->result->code = code;
            c->result->message = str(m);
            c->result->value = Value();
            return DORA_OK;
        };
        a.sql_query = [](dora_ctx* x, dora_buf q, dora_buf params, dora_buf* out) -> std::int32_t {
            SqlAnswer ans;
            std::int32_t rc = x->fake->nextSql(x, "query " + str(q) + " " + describe(params), ans,
                                               x->fake->request("query", q, params));
            if (rc != DORA_OK) return rc;
            Value rows = Value::array();
            for (auto& row : ans.rows) rows.push(std::move(row));
            x->held = serialize(rows);
            if (out) *out = dora_buf{x->held.data(), x->held.size()};
            return DORA_OK;
        };
        a.sql_exec = [](dora_ctx* x, dora_buf q, dora_buf params, std::uint64_t* affected,
                        std::uint64_t* insertId) -> std::int32_t {
            SqlAnswer ans;
            std::int32_t rc = x->fake->nextSql(x, "exec " + str(q) + " " + describe(params), ans,
                                               x->fake->request("exec", q, params));
            if (rc != DORA_OK) return rc;
            if (affected) *affected = ans.affected;
            if (insertId) *insertId = ans.insertId;
            return DORA_OK;
        };
        a.sql_begin = [](dora_ctx* x) -> std::int32_t {
            if (x->fake->sql.backend) {
                SqlAnswer ans;
                return x->fake->nextSql(x, "begin", ans, x->fake->request("begin", {nullptr, 0}, {nullptr, 0}));
            }
            x->fake->sql.trace.push_back("begin");
            return DORA_OK;
        };
        a.sql_commit = [](dora_ctx* x) -> std::int32_t {
            if (x->fake->sql.backend) {
                SqlAnswer ans;
                return x->fake->nextSql(x, "commit", ans, x->fake->request("commit", {nullptr, 0}, {nullptr, 0}));
            }
            x->fake->sql.trace.push_back("commit");
            return DORA_OK;
        };
        a.sql_rollback = [](dora_ctx* x) -> std::int32_t {
            if (x->fake->sql.backend) {
                SqlAnswer ans;
                return x->fake->nextSql(x, "rollback", ans, x->fake->request("rollback", {nullptr, 0}, {nullptr, 0}));
            }
            x->fake->sql.trace.push_back("rollback");
            return DORA_OK;
        };
        a.ctx_last_sql_errno = [](dora_ctx* x) { return x->lastErrno; };
        a.ctx_last_error = [](dora_ctx* x) { return dora_buf{x->lastError.data(), x->lastError.size()}; };
        a.call_task_id = [](dora_call* c) { return dora_buf{c->setup->taskId.data(), c->setup->taskId.size()}; };
        a.call_guid = [](dora_call* c) { return dora_buf{c->setup->guid.data(), c->setup->guid.size()}; };
        a.call_mode = [](dora_call* c) { return c->setup->mode; };
        a.call_generation = [](dora_call* c) { return c->setup->generation; };
        a.call_peer = [](dora_call* c) { return dora_buf{c->setup->peer.data(), c->setup->peer.size()}; };
        a.call_attempt = [](dora_call* c) { return c->setup->attempt; };
        a.call_time_left_us = [](dora_call* c) { return c->setup->timeLeftUs; };
        a.call_log = [](dora_call* c, std::int32_t l, dora_buf m) {
            c->fake->_logs.push_back(level(l) + " [" + c->setup->guid + "] " + str(m));
        };
        a.register_option = [](dora_registrar* r, dora_buf name, std::int32_t type, dora_buf def,
                               dora_buf) -> std::int32_t {
            FakeHost& f = *r->fake;
            if (!r->open) return DORA_ERR_STATE;
            std::string n = str(name), value;
            if (f._options.count(n) || !f.parseOption(type, str(def), value)) return DORA_ERR_ARG;
            auto it = f._fileOptions.find(n);
            if (it != f._fileOptions.end()) {
                std::string fromFile;
                if (f.parseOption(type, it->second, fromFile))
                    value = fromFile;
                else if (f._optionError.empty())
                    f._optionError = "option '" + n + "': '" + it->second + "' is not of its type";
            }
            f._options[n] = value;
            return DORA_OK;
        };
        a.option_get = [](dora_host* h, dora_buf name, dora_buf* out) -> std::int32_t {
            auto it = h->fake->_options.find(str(name));
            if (it == h->fake->_options.end()) return DORA_ERR_ARG;
            *out = dora_buf{it->second.data(), it->second.size()};
            return DORA_OK;
        };
        a.redis_command = [](dora_ctx* x, dora_buf argv, dora_buf* out) -> std::int32_t {
            RedisAnswer ans;
            std::int32_t rc = x->fake->nextRedis(x, command(argv), ans, argv);
            if (rc != DORA_OK) return rc;
            x->held = serialize(ans.value);
            if (out) *out = dora_buf{x->held.data(), x->held.size()};
            return DORA_OK;
        };
        a.redis_pipeline = [](dora_ctx* x, dora_buf commands, dora_buf* out) -> std::int32_t {
            Value replies = Value::array();
            Value cmds;
            try {
                cmds = unserialize(str(commands));
            } catch (...) {
                return DORA_ERR_ARG;
            }
            for (const auto& e : cmds.asArray()) {
                RedisAnswer ans;
                std::string argv = serialize(e.value);
                std::int32_t rc = x->fake->nextRedis(x, command(dora_buf{argv.data(), argv.size()}), ans,
                                                     dora_buf{argv.data(), argv.size()});
                if (rc == DORA_ERR_REDIS)
                    replies.push(Value::array().push(false).push(ans.error));
                else if (rc != DORA_OK)
                    return rc;
                else
                    replies.push(Value::array().push(true).push(ans.value));
            }
            x->held = serialize(replies);
            if (out) *out = dora_buf{x->held.data(), x->held.size()};
            return DORA_OK;
        };
        a.register_metric = [](dora_registrar* r, std::int32_t kind, dora_buf name, dora_buf, const double*,
                               std::size_t) -> dora_metric* {
            if (!r->open) return nullptr;
            for (const auto& m : r->fake->_metrics)
                if (m->name == str(name)) return nullptr;
            r->fake->_metrics.push_back(std::make_unique<dora_metric>());
            r->fake->_metrics.back()->name = str(name);
            r->fake->_metrics.back()->kind = kind;
            return r->fake->_metrics.back().get();
        };
        a.metric_add = [](dora_metric* m, std::int64_t d) { m->count += d; };
        a.metric_observe = [](dora_metric* m, double v) {
            ++m->count;
            m->sum += v;
        };
        return a;
    }

    const dora_plugin_info* _info;
    dora_host_api _api{};
    dora_host _host;
    void* _state = nullptr;
    bool _initialised = false, _loaded = false;
    std::string _error, _optionError;
    std::map<std::string, std::string> _fileOptions;
    std::map<std::string, std::string> _options; ///< name -> serialized value
    std::map<std::string, Handler> _handlers;
    std::vector<std::unique_ptr<dora_metric>> _metrics;
    std::vector<std::string> _logs;
};

} // namespace dora::sdk::testing

#endif // DORA_SDK_TESTING_H
