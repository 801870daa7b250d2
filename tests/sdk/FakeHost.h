// A fake host for unit tests of the plugin seam: a dora_host_api whose
// functions record what the plugin asked for and answer SQL from a script.
// It defines the ABI's opaque types the way a host would, so the plugin
// side sees exactly the C boundary it sees in production.
#ifndef DORA_TESTS_SDK_FAKEHOST_H
#define DORA_TESTS_SDK_FAKEHOST_H

#include <dora/sdk/abi.h>

#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

struct dora_host {
    std::vector<std::pair<std::int32_t, std::string>> logs;
    std::vector<std::pair<std::string, std::string>> options; ///< name, serialized value
    std::vector<std::string> metrics;                         ///< names registered
};

struct dora_metric {
    std::int64_t count = 0;
};

struct dora_registrar {
    dora_host* host = nullptr; ///< for options and metrics
    struct Handler {
        std::string name;
        dora_handler_fn fn = nullptr;
        dora_batch_handler_fn batch = nullptr;
        void* user = nullptr;
    };
    std::vector<Handler> handlers;
    bool open = true; // registration is refused once init returned
};

struct dora_call {
    std::string api;
    std::string params;
    std::string guid = "0123456789abcdef0123456789abcdef";
    dora_host* host = nullptr; ///< set by FakeHost::invoke: where call_log writes
    int answers = 0;
    bool isError = false;
    std::string result;
    std::int32_t code = 0;
    std::string message;
};

struct dora_ctx {
    /// One scripted answer to an SQL call (query, exec, begin, commit,
    /// rollback consume them in order; with none left: DORA_OK, no rows).
    struct Reply {
        std::int32_t status = DORA_OK;
        std::int32_t sqlErrno = 0;
        std::string error;
        std::string rows = "a:0:{}";
        std::uint64_t affected = 0;
        std::uint64_t insertId = 0;
    };
    std::deque<Reply> script;
    /// What the plugin did: "query <sql> <params>", "exec <sql> <params>",
    /// "begin", "commit", "rollback".
    std::vector<std::string> trace;

    std::int32_t lastErrno = 0;
    std::string lastError;
    std::string rowsHeld;

    std::int32_t next(Reply& r) {
        if (!script.empty()) {
            r = script.front();
            script.pop_front();
        }
        lastErrno = r.status == DORA_OK ? 0 : r.sqlErrno;
        lastError = r.status == DORA_OK ? "" : r.error;
        return r.status;
    }
};

namespace dora::test {

inline std::string str(dora_buf b) { return b.ptr ? std::string(b.ptr, b.len) : std::string(); }

/// The fake's function table: plain functions reaching their state only
/// through the handles they are given, as the host's do.
inline dora_host_api fakeHostApi() {
    dora_host_api a{};
    a.struct_size = sizeof(dora_host_api);
    a.abi_major = DORA_ABI_MAJOR;
    a.abi_minor = DORA_ABI_MINOR;
    a.log = [](dora_host* h, std::int32_t level, dora_buf m) {
        h->logs.emplace_back(level, str(m));
    };
    a.register_handler = [](dora_registrar* r, dora_buf name, dora_handler_fn fn,
                            void* user) -> std::int32_t {
        if (!r->open) return DORA_ERR_STATE;
        for (const auto& h : r->handlers)
            if (h.name == str(name)) return DORA_ERR_ARG;
        r->handlers.push_back({str(name), fn, nullptr, user});
        return DORA_OK;
    };
    a.register_batch_handler = [](dora_registrar* r, dora_buf name, dora_batch_handler_fn fn,
                                  void* user) -> std::int32_t {
        if (!r->open) return DORA_ERR_STATE;
        for (const auto& h : r->handlers)
            if (h.name == str(name)) return DORA_ERR_ARG;
        r->handlers.push_back({str(name), nullptr, fn, user});
        return DORA_OK;
    };
    a.call_params = [](dora_call* c) { return dora_buf{c->params.data(), c->params.size()}; };
    a.call_api = [](dora_call* c) { return dora_buf{c->api.data(), c->api.size()}; };
    a.call_set_result = [](dora_call* c, dora_buf r) -> std::int32_t {
        if (r.len == 0) return DORA_ERR_ARG; // not one serialized value
        ++c->answers;
        c->isError = false;
        c->result = str(r);
        return DORA_OK;
    };
    a.call_set_error = [](dora_call* c, std::int32_t code, dora_buf m) -> std::int32_t {
        ++c->answers;
        c->isError = true;
        c->code = code;
        c->message = str(m);
        return DORA_OK;
    };
    a.sql_query = [](dora_ctx* x, dora_buf sql, dora_buf params, dora_buf* out) -> std::int32_t {
        x->trace.push_back("query " + str(sql) + " " + str(params));
        dora_ctx::Reply r;
        std::int32_t rc = x->next(r);
        if (rc == DORA_OK && out) {
            x->rowsHeld = r.rows;
            *out = dora_buf{x->rowsHeld.data(), x->rowsHeld.size()};
        }
        return rc;
    };
    a.sql_exec = [](dora_ctx* x, dora_buf sql, dora_buf params, std::uint64_t* affected,
                    std::uint64_t* insertId) -> std::int32_t {
        x->trace.push_back("exec " + str(sql) + " " + str(params));
        dora_ctx::Reply r;
        std::int32_t rc = x->next(r);
        if (rc == DORA_OK) {
            if (affected) *affected = r.affected;
            if (insertId) *insertId = r.insertId;
        }
        return rc;
    };
    a.sql_begin = [](dora_ctx* x) {
        x->trace.push_back("begin");
        dora_ctx::Reply r;
        return x->next(r);
    };
    a.sql_commit = [](dora_ctx* x) {
        x->trace.push_back("commit");
        dora_ctx::Reply r;
        return x->next(r);
    };
    a.sql_rollback = [](dora_ctx* x) {
        x->trace.push_back("rollback");
        dora_ctx::Reply r;
        return x->next(r);
    };
    a.ctx_last_sql_errno = [](dora_ctx* x) { return x->lastErrno; };
    a.ctx_last_error = [](dora_ctx* x) {
        return dora_buf{x->lastError.data(), x->lastError.size()};
    };
    a.call_task_id = [](dora_call*) { return dora_buf{nullptr, 0}; };
    // ABI 1.2: enough for the SDK layer's own tests (the test kit,
    // dora/sdk/testing.h, is the full fake).
    a.call_guid = [](dora_call* c) { return dora_buf{c->guid.data(), c->guid.size()}; };
    a.call_mode = [](dora_call*) -> std::int32_t { return DORA_MODE_SYNC_SINGLE; };
    a.call_generation = [](dora_call*) -> std::int32_t { return DORA_GEN_V1; };
    a.call_peer = [](dora_call*) { return dora_buf{nullptr, 0}; };
    a.call_attempt = [](dora_call*) -> std::uint32_t { return 1; };
    a.call_time_left_us = [](dora_call*) -> std::int64_t { return -1; };
    a.call_log = [](dora_call* c, std::int32_t level, dora_buf m) {
        if (c->host) c->host->logs.emplace_back(level, str(m));
    };
    a.register_option = [](dora_registrar* r, dora_buf name, std::int32_t type, dora_buf def,
                           dora_buf) -> std::int32_t {
        if (!r->open || !r->host) return DORA_ERR_STATE;
        // The default, serialized as the declared type (what the host's option_get gives).
        const std::string d = str(def);
        std::string v = "s:" + std::to_string(d.size()) + ":\"" + d + "\";";
        if (type == DORA_OPT_INT) v = "i:" + d + ";";
        if (type == DORA_OPT_BOOL) v = std::string("b:") + (d == "true" ? "1" : "0") + ";";
        if (type == DORA_OPT_FLOAT) v = "d:" + d + ";";
        r->host->options.emplace_back(str(name), v);
        return DORA_OK;
    };
    a.option_get = [](dora_host* h, dora_buf name, dora_buf* out) -> std::int32_t {
        for (auto& o : h->options)
            if (o.first == str(name)) {
                *out = dora_buf{o.second.data(), o.second.size()};
                return DORA_OK;
            }
        return DORA_ERR_ARG;
    };
    a.redis_command = [](dora_ctx* x, dora_buf, dora_buf*) -> std::int32_t {
        x->lastError = "no Redis in this fake";
        return DORA_ERR_REDIS_DOWN;
    };
    a.redis_pipeline = [](dora_ctx* x, dora_buf, dora_buf*) -> std::int32_t {
        x->lastError = "no Redis in this fake";
        return DORA_ERR_REDIS_DOWN;
    };
    a.register_metric = [](dora_registrar* r, std::int32_t, dora_buf name, dora_buf, const double*,
                           std::size_t) -> dora_metric* {
        if (!r->open || !r->host) return nullptr;
        r->host->metrics.push_back(str(name));
        static dora_metric m;
        return &m;
    };
    a.metric_add = [](dora_metric* m, std::int64_t d) { m->count += d; };
    a.metric_observe = [](dora_metric* m, double) { ++m->count; };
    return a;
}

/// A plugin initialised against the fake: init on construction, shutdown
/// on destruction.
class FakeHost {
public:
    explicit FakeHost(const dora_plugin_info* info, dora_host_api api = fakeHostApi())
        : _info(info), _api(api) {
        const char* error = nullptr;
        reg.host = &host;
        status = _info->init(&_api, &host, &reg, &_state, &error);
        if (error) initError = error;
        reg.open = false;
    }
    ~FakeHost() {
        if (status == DORA_OK && _info->shutdown) _info->shutdown(_state);
    }
    FakeHost(const FakeHost&) = delete;
    FakeHost& operator=(const FakeHost&) = delete;

    const dora_registrar::Handler* find(const std::string& name) const {
        for (const auto& h : reg.handlers)
            if (h.name == name) return &h;
        return nullptr;
    }

    /// Runs single-call handler `name` on call within ctx. -1 if there is no
    /// such handler.
    std::int32_t invoke(const std::string& name, dora_call& call, dora_ctx& ctx) const {
        const dora_registrar::Handler* h = find(name);
        if (h == nullptr || h->fn == nullptr) return -1;
        if (call.api.empty()) call.api = name;
        call.host = const_cast<dora_host*>(&host);
        return h->fn(h->user, &ctx, &call);
    }

    /// Runs batch handler `name` on calls within ctx.
    std::int32_t invokeBatch(const std::string& name, std::vector<dora_call>& calls,
                             dora_ctx& ctx) const {
        const dora_registrar::Handler* h = find(name);
        if (h == nullptr || h->batch == nullptr) return -1;
        std::vector<dora_call*> ptrs;
        for (auto& c : calls) {
            c.host = const_cast<dora_host*>(&host);
            ptrs.push_back(&c);
        }
        return h->batch(h->user, &ctx, ptrs.data(), ptrs.size());
    }

    std::int32_t status = -1;
    std::string initError;
    dora_host host;
    dora_registrar reg;
    void* state() const { return _state; }

private:
    const dora_plugin_info* _info;
    dora_host_api _api;
    void* _state = nullptr;
};

} // namespace dora::test

#endif // DORA_TESTS_SDK_FAKEHOST_H
