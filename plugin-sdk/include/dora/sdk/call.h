// dora/sdk/call.h — one call as a handler sees it (Call), and the calls a
// batch handler receives together (Batch).
#ifndef DORA_SDK_CALL_H
#define DORA_SDK_CALL_H

#include <dora/sdk/abi.h>
#include <dora/sdk/error.h>
#include <dora/sdk/host.h>
#include <dora/sdk/log.h>
#include <dora/sdk/options.h>
#include <dora/sdk/redis.h>
#include <dora/sdk/serialize.h>
#include <dora/sdk/sql.h>
#include <dora/sdk/value.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace dora::sdk {

/// How a call came in (ABI 1.2; Call::mode()).
enum class Mode : std::int32_t {
    Unknown = 0,                               ///< a host older than ABI 1.2
    SyncSingle = DORA_MODE_SYNC_SINGLE,        ///< SSS / W_S
    SyncMulti = DORA_MODE_SYNC_MULTI,          ///< SSM / W_M
    AsyncSingle = DORA_MODE_ASYNC_SINGLE,      ///< SRS / AN_S, from the durable queue
    AsyncMulti = DORA_MODE_ASYNC_MULTI,        ///< SRM / AN_M, from the durable queue
    AsyncResultSingle = DORA_MODE_ASYNC_RESULT_SINGLE, ///< AM_S
    AsyncResultMulti = DORA_MODE_ASYNC_RESULT_MULTI,   ///< AM_M
};

/// The protocol generation a call came by (ABI 1.2; Call::generation()).
enum class Generation : std::int32_t {
    Unknown = 0, ///< a host older than ABI 1.2
    V1 = DORA_GEN_V1,
    V2 = DORA_GEN_V2,
    Json = DORA_GEN_JSON, ///< JSON body over TCP
    Http = DORA_GEN_HTTP, ///< the HTTP gateway
};

/// "SyncSingle", ... for logs and answers.
inline const char* toString(Mode m) noexcept {
    switch (m) {
    case Mode::SyncSingle: return "sync_single";
    case Mode::SyncMulti: return "sync_multi";
    case Mode::AsyncSingle: return "async_single";
    case Mode::AsyncMulti: return "async_multi";
    case Mode::AsyncResultSingle: return "async_result_single";
    case Mode::AsyncResultMulti: return "async_result_multi";
    default: return "unknown";
    }
}
inline const char* toString(Generation g) noexcept {
    switch (g) {
    case Generation::V1: return "v1";
    case Generation::V2: return "v2";
    case Generation::Json: return "json";
    case Generation::Http: return "http";
    default: return "unknown";
    }
}

/// One call: its api name and parameters, its answer, and the SQL session
/// and log it may use.
///
/// The SDK creates a Call for each invocation and passes it to the handler
/// by reference; it is valid until the handler returns and must not be kept
/// or shared with other threads (each call runs on one task-pool thread;
/// other calls run concurrently on others).
///
/// A handler answers by returning a Value (the SDK sends it), by calling
/// setResult/setRawResult/setError itself, or by throwing (see error.h).
class Call {
public:
    /// For maxBytes arguments: no length limit.
    static constexpr std::size_t kAnyLength = std::numeric_limits<std::size_t>::max();

    Call(const dora_host_api* api, dora_host* host, dora_ctx* ctx, dora_call* call) noexcept
        : _api(api), _host(host), _call(call), _log(api, host, call), _sql(api, ctx), _redis(api, ctx) {}

    /// The api name the client called. Valid until the call ends.
    std::string_view api() const noexcept { return view(_api->call_api(_call)); }

    /// The parameters exactly as the host holds them (PHP-serialize bytes),
    /// without decoding. Valid until the call ends.
    std::string_view rawParams() const noexcept { return view(_api->call_params(_call)); }

    /// The durable task id of an async call run from the host's queue: the
    /// same on every retry and on every host, unique among the tasks of one
    /// database, so it serves as an idempotency key. Opaque text. Empty for
    /// sync calls. Valid until the call ends. (ABI 1.1; abi.h call_task_id.)
    std::string_view taskId() const noexcept {
        if (!detail::hostHas(_api, HostFn::call_task_id)) return {};
        return view(_api->call_task_id(_call));
    }

    // ---- Call metadata (ABI 1.2). On an older host: empty, Unknown, 1,
    // no deadline. Valid until the call ends; cheap (no copy, no lock).

    /// The request's guid, as the client sent it.
    std::string_view guid() const noexcept {
        return detail::hostHas(_api, HostFn::call_guid) ? view(_api->call_guid(_call)) : std::string_view();
    }
    Mode mode() const noexcept {
        return detail::hostHas(_api, HostFn::call_mode) ? static_cast<Mode>(_api->call_mode(_call))
                                                        : Mode::Unknown;
    }
    Generation generation() const noexcept {
        return detail::hostHas(_api, HostFn::call_generation)
                   ? static_cast<Generation>(_api->call_generation(_call))
                   : Generation::Unknown;
    }
    /// True for a task run from the durable queue (SRS/SRM, AN_*).
    bool queued() const noexcept { return mode() == Mode::AsyncSingle || mode() == Mode::AsyncMulti; }
    /// "ip:port" of the client; empty for queued tasks.
    std::string_view peer() const noexcept {
        return detail::hostHas(_api, HostFn::call_peer) ? view(_api->call_peer(_call)) : std::string_view();
    }
    /// 1 on the first run; the retry number + 1 for a queued task run again,
    /// counting the runs on a host it was taken over from.
    unsigned attempt() const noexcept {
        return detail::hostHas(_api, HostFn::call_attempt) ? _api->call_attempt(_call) : 1u;
    }
    /// Time left before the route's timeout_ms passes (zero once it has):
    /// past it the client has its timeout answer and a result is dropped,
    /// so a long handler may give up early. nullopt: no timeout.
    std::optional<std::chrono::microseconds> timeLeft() const noexcept {
        if (!detail::hostHas(_api, HostFn::call_time_left_us)) return std::nullopt;
        std::int64_t us = _api->call_time_left_us(_call);
        if (us < 0) return std::nullopt;
        return std::chrono::microseconds(us);
    }
    /// True once the route's timeout passed.
    bool expired() const noexcept {
        auto left = timeLeft();
        return left && left->count() == 0;
    }

    /// The decoded parameters (decoded once, on first use). No parameters
    /// decode as null. Throws Error(kBadParam) if the bytes do not decode.
    const Value& params() {
        if (!_params) {
            std::string_view raw = rawParams();
            try {
                _params = raw.empty() ? Value() : unserialize(raw);
            } catch (const DecodeError& e) {
                throw Error(kBadParam, std::string("params do not decode: ") + e.what());
            }
        }
        return *_params;
    }

    /// The parameter called name, or nullptr if it is absent. Throws
    /// Error(kBadParam) if the params are neither an array nor null.
    const Value* param(std::string_view name) {
        const Value& p = params();
        if (p.isNull()) return nullptr;
        if (!p.isArray())
            throw Error(kBadParam,
                        std::string("params must be an array, got ") + Value::typeName(p.type()));
        return p.asArray().find(Key(name));
    }

    /// True if the parameter is present and not null.
    bool has(std::string_view name) {
        const Value* v = param(name);
        return v != nullptr && !v->isNull();
    }

    /// A required string parameter: present, a string (an int is refused,
    /// a numeric string is fine), not empty and at most maxBytes long.
    /// Otherwise throws Error(kBadParam, "param '<name>' ...").
    std::string requireString(std::string_view name, std::size_t maxBytes = kAnyLength) {
        std::string_view fast;
        if (rawString(name, fast) && !fast.empty() && fast.size() <= maxBytes) return std::string(fast);
        const Value* v = param(name);
        if (v == nullptr || v->isNull()) throw badParam(name, "is required");
        const std::string& s = checkString(name, *v, maxBytes);
        if (s.empty()) throw badParam(name, "must not be empty");
        return s;
    }

    /// An optional string parameter: fallback if absent or null, else it
    /// must be a string (empty allowed) of at most maxBytes.
    std::string optString(std::string_view name, std::string_view fallback,
                          std::size_t maxBytes = kAnyLength) {
        std::string_view fast;
        if (rawString(name, fast) && fast.size() <= maxBytes) return std::string(fast);
        const Value* v = param(name);
        if (v == nullptr || v->isNull()) return std::string(fallback);
        return checkString(name, *v, maxBytes);
    }

    /// A required integer parameter (an int, not a numeric string).
    std::int64_t requireInt(std::string_view name) {
        const Value* v = param(name);
        if (v == nullptr || v->isNull()) throw badParam(name, "is required");
        return checkInt(name, *v);
    }

    /// An optional integer parameter: fallback if absent or null.
    std::int64_t optInt(std::string_view name, std::int64_t fallback) {
        const Value* v = param(name);
        if (v == nullptr || v->isNull()) return fallback;
        return checkInt(name, *v);
    }

    /// Answers with result. The last answer given wins.
    void setResult(const Value& result) { setRawResult(serialize(result)); }

    /// Answers with bytes that already are one PHP-serialized value (e.g.
    /// rawParams() to echo). The bytes are copied. Throws Error if the host
    /// refuses them.
    void setRawResult(std::string_view serialized) {
        std::int32_t rc = _api->call_set_result(_call, buf(serialized));
        if (rc != DORA_OK)
            throw Error(kHandlerFailed,
                        "the host refused the result (status " + std::to_string(rc) + ")");
        _answered = true;
    }

    /// Answers with an error. Prefer throwing Error from the handler.
    void setError(std::int32_t code, std::string_view message) noexcept {
        if (_api->call_set_error(_call, code, buf(message)) == DORA_OK) _answered = true;
    }

    /// True once the host accepted an answer for this call.
    bool answered() const noexcept { return _answered; }

    /// SQL on the session the host lends to this call's ctx.
    Sql& sql() noexcept { return _sql; }
    /// Redis on the connection the host lends to this call's ctx (ABI 1.2).
    Redis& redis() noexcept { return _redis; }
    /// The plugin's options (ABI 1.2).
    Options options() const noexcept { return Options(_api, _host); }
    /// The host this plugin runs in (probe optional functions).
    Host host() const noexcept { return Host(_api, _host); }
    /// The host's log; each line carries the request's guid (ABI 1.2).
    const Log& log() const noexcept { return _log; }

private:
    static std::string_view view(dora_buf b) noexcept {
        return b.ptr ? std::string_view(b.ptr, b.len) : std::string_view();
    }
    static dora_buf buf(std::string_view s) noexcept { return dora_buf{s.data(), s.size()}; }

    static Error badParam(std::string_view name, const std::string& what) {
        return Error(kBadParam, "param '" + std::string(name) + "' " + what);
    }
    /// A string param read straight from the serialized params, before
    /// (and instead of) decoding them all: the usual case of the string
    /// getters. False sends the getter down the full path, which decides
    /// (and words any error) exactly as before.
    bool rawString(std::string_view name, std::string_view& out) const {
        return !_params && findStringElement(rawParams(), name, out);
    }

    static const std::string& checkString(std::string_view name, const Value& v,
                                          std::size_t maxBytes) {
        if (!v.isString())
            throw badParam(name, std::string("must be a string, got ") + Value::typeName(v.type()));
        if (v.asString().size() > maxBytes)
            throw badParam(name, "must be at most " + std::to_string(maxBytes) + " bytes");
        return v.asString();
    }
    static std::int64_t checkInt(std::string_view name, const Value& v) {
        if (!v.isInt())
            throw badParam(name, std::string("must be an int, got ") + Value::typeName(v.type()));
        return v.asInt();
    }

    const dora_host_api* _api;
    dora_host* _host;
    dora_call* _call;
    Log _log;
    Sql _sql;
    Redis _redis;
    std::optional<Value> _params;
    bool _answered = false;
};

namespace detail {
/// Runs a handler fn on call and sends what it returns, if anything.
template <class F> void answerWith(const F& fn, Call& call) {
    static_assert(std::is_invocable_v<const F&, Call&>,
                  "a handler must be callable as Value(Call&) or void(Call&), and const");
    if constexpr (std::is_void_v<std::invoke_result_t<const F&, Call&>>) {
        fn(call);
    } else {
        call.setResult(Value(fn(call)));
    }
}
} // namespace detail

/// The calls a batch handler receives together. They share one ctx, hence
/// one SQL session (and one transaction when the host runs the batch
/// transactionally). Each call must be answered individually; each() does
/// that for the common case.
///
/// Valid until the batch handler returns; used by one thread only.
class Batch {
public:
    Batch(const dora_host_api* api, dora_host* host, dora_ctx* ctx, dora_call* const* calls,
          std::size_t n)
        : _log(api, host), _sql(api, ctx), _redis(api, ctx) {
        _calls.reserve(n);
        for (std::size_t i = 0; i < n; ++i)
            _calls.emplace_back(api, host, ctx, calls[i]);
    }

    std::size_t size() const noexcept { return _calls.size(); }
    Call& operator[](std::size_t i) noexcept { return _calls[i]; }
    std::vector<Call>::iterator begin() noexcept { return _calls.begin(); }
    std::vector<Call>::iterator end() noexcept { return _calls.end(); }

    /// Runs fn (a single-call handler: Value(Call&) or void(Call&)) on
    /// every call in order. An Error thrown for one call answers that call
    /// only. A SqlError or any other exception stops the batch and fails
    /// every call: a failed statement may have cost the whole transaction.
    template <class F> void each(const F& fn) {
        for (Call& call : _calls) {
            try {
                detail::answerWith(fn, call);
            } catch (const SqlError&) {
                throw;
            } catch (const Error& e) {
                call.setError(e.code(), e.what());
            }
        }
    }

    /// SQL on the batch's session.
    Sql& sql() noexcept { return _sql; }
    /// Redis on the batch's connection (ABI 1.2).
    Redis& redis() noexcept { return _redis; }
    const Log& log() const noexcept { return _log; }

private:
    Log _log;
    Sql _sql;
    Redis _redis;
    std::vector<Call> _calls;
};

} // namespace dora::sdk

#endif // DORA_SDK_CALL_H
