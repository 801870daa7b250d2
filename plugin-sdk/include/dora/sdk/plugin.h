// dora/sdk/plugin.h — the one header a dorahost plugin includes.
//
//     #include <dora/sdk/plugin.h>
//     using namespace dora::sdk;
//
//     static Value getUser(Call& call) {
//         auto name = call.requireString("name", 64);
//         auto row = call.sql().queryOne("SELECT id, name FROM users WHERE name = ?", {name});
//         if (!row) throw Error(kNotFound, "user '" + name + "' not found");
//         return *row;
//     }
//
//     DORA_PLUGIN("users", "1.0.0", [](Registrar& r) {
//         r.handler("get_user", getUser);
//     });
//
// DORA_PLUGIN exports the only symbol a plugin has, dora_plugin_entry
// (abi.h). Everything else is C++ on the plugin's side of the boundary:
// the host only ever calls the noexcept trampolines below, so no exception
// reaches it.
#ifndef DORA_SDK_PLUGIN_H
#define DORA_SDK_PLUGIN_H

#include <dora/sdk/abi.h>
#include <dora/sdk/call.h>
#include <dora/sdk/error.h>
#include <dora/sdk/host.h>
#include <dora/sdk/log.h>
#include <dora/sdk/metrics.h>
#include <dora/sdk/options.h>
#include <dora/sdk/redis.h>
#include <dora/sdk/serialize.h>
#include <dora/sdk/sql.h>
#include <dora/sdk/value.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace dora::sdk {

namespace detail {

/// One registered handler: what the host's `user` pointer points at.
struct Entry {
    const dora_host_api* api;
    dora_host* host;
    std::string name;
    std::function<void(Call&)> single;
    std::function<void(Batch&)> batch;
};

/// What a loaded plugin owns: handed to the host as init's *state, freed by
/// shutdown (after the last call into the plugin returned).
struct PluginState {
    std::vector<std::unique_ptr<Entry>> entries;
};

inline void answerAll(Call* calls, std::size_t n, std::int32_t code, const std::string& message) {
    for (std::size_t i = 0; i < n; ++i)
        calls[i].setError(code, message);
}

/// Runs body and turns whatever it throws into error answers on all n
/// calls (the last answer wins, so an answer given before the throw is
/// replaced: its work may be lost with the transaction). Unanswered calls
/// then get "gave no answer". Returns DORA_OK if body returned,
/// statusOnThrow if it threw, DORA_ERR_INTERNAL if a call could not be
/// answered.
template <class Body>
std::int32_t runGuarded(const Entry& e, Call* calls, std::size_t n, std::int32_t statusOnThrow,
                        Body&& body) noexcept {
    try {
        std::int32_t rc = DORA_OK;
        // A single call's lines carry its guid.
        Log log = n == 1 ? calls[0].log() : Log(e.api, e.host);
        try {
            body();
        } catch (const SqlError& err) { // the client gets the database's message
            rc = statusOnThrow;
            log.warn("handler '" + e.name + "': " + err.what());
            answerAll(calls, n, err.code(), err.what());
        } catch (const RedisError& err) { // as SqlError: Redis's message
            rc = statusOnThrow;
            log.warn("handler '" + e.name + "': Redis: " + err.what());
            answerAll(calls, n, err.code(), err.what());
        } catch (const Error& err) { // a business answer: nothing to log
            rc = statusOnThrow;
            answerAll(calls, n, err.code(), err.what());
        } catch (const std::exception& ex) {
            rc = statusOnThrow;
            std::string message = "handler '" + e.name + "' failed: " + ex.what();
            log.error(message);
            answerAll(calls, n, kHandlerFailed, message);
        } catch (...) {
            rc = statusOnThrow;
            std::string message = "handler '" + e.name + "' failed: unknown exception";
            log.error(message);
            answerAll(calls, n, kHandlerFailed, message);
        }
        for (std::size_t i = 0; i < n; ++i) {
            if (!calls[i].answered())
                calls[i].setError(kHandlerFailed, "handler '" + e.name + "' gave no answer");
            if (!calls[i].answered()) rc = DORA_ERR_INTERNAL;
        }
        return rc;
    } catch (...) { // e.g. bad_alloc while building a message
        return DORA_ERR_INTERNAL;
    }
}

/// The dora_handler_fn every single-call handler is registered with.
inline std::int32_t callTrampoline(void* user, dora_ctx* ctx, dora_call* call) noexcept {
    const Entry& e = *static_cast<const Entry*>(user);
    Call c(e.api, e.host, ctx, call);
    // A single call's error answer is its whole outcome: report success.
    return runGuarded(e, &c, 1, DORA_OK, [&] { e.single(c); });
}

/// The dora_batch_handler_fn every batch handler is registered with. A
/// batch that threw returns DORA_ERR_INTERNAL so the host does not commit
/// what the batch did before the throw.
inline std::int32_t batchTrampoline(void* user, dora_ctx* ctx, dora_call* const* calls,
                                    std::size_t n) noexcept {
    const Entry& e = *static_cast<const Entry*>(user);
    try {
        Batch b(e.api, e.host, ctx, calls, n);
        Call* first = b.size() ? &b[0] : nullptr;
        return runGuarded(e, first, b.size(), DORA_ERR_INTERNAL, [&] { e.batch(b); });
    } catch (...) { // building the Batch failed: nothing was run
        return DORA_ERR_INTERNAL;
    }
}

inline const char* statusText(std::int32_t status) {
    switch (status) {
    case DORA_ERR_ARG:
        return "bad argument (bad or empty name, bad type or default, or registered twice)";
    case DORA_ERR_STATE:
        return "not allowed now (registration is only allowed during init)";
    default:
        return "host error";
    }
}

/// Text for init's *error, which the ABI requires to outlive the call. One
/// buffer per plugin library (hidden visibility); init is never run twice
/// at once for one library.
inline std::string& initErrorText() {
    static std::string text;
    return text;
}

} // namespace detail

/// Registers a plugin's handlers. Exists only while the plugin's init
/// function runs (DORA_PLUGIN's third argument): registering later is
/// impossible by construction. Not thread-safe (init runs on one thread).
class Registrar {
public:
    Registrar(const dora_host_api* api, dora_host* host, dora_registrar* reg,
              detail::PluginState& state) noexcept
        : _api(api), _host(host), _reg(reg), _state(state) {}
    Registrar(const Registrar&) = delete;
    Registrar& operator=(const Registrar&) = delete;

    /// Registers fn for route handler name (the route file's `handler:`).
    /// fn is Value(Call&) or void(Call&), a function or a lambda; the SDK
    /// keeps a copy until shutdown. It runs concurrently on many threads, so
    /// it must be const-callable and whatever it captures thread-safe.
    /// Throws Error if the host refuses (e.g. the name is taken).
    template <class F> void handler(std::string_view name, F fn) {
        detail::Entry& e = add(name);
        e.single = [fn = std::move(fn)](Call& call) { detail::answerWith(fn, call); };
        check(name, _api->register_handler(_reg, buf(name), &detail::callTrampoline, &e));
    }

    /// Registers a batch handler: fn is void(Batch&) and answers every call
    /// (Batch::each does so). Same rules as handler().
    template <class F> void batchHandler(std::string_view name, F fn) {
        static_assert(std::is_invocable_v<const F&, Batch&>,
                      "a batch handler must be callable as void(Batch&), and const");
        detail::Entry& e = add(name);
        e.batch = [fn = std::move(fn)](Batch& batch) { fn(batch); };
        check(name, _api->register_batch_handler(_reg, buf(name), &detail::batchTrampoline, &e));
    }

    /// The host's log; copies of it stay usable after init.
    Log log() const noexcept { return Log(_api, _host); }

    /// The host: its ABI version and which functions it has, to probe the
    /// ones newer than DORA_PLUGIN_MIN_ABI_MINOR. Copies stay usable after init.
    Host host() const noexcept { return Host(_api, _host); }

    /// Declares option name ([a-z0-9_]+) of the route file's `options:`
    /// map: its type, its default as YAML text ("60", "true", "a text")
    /// and one line of help for --check-config. Readable at once through
    /// options(), with the file's value if it has one. Throws Error if the
    /// host refuses (a bad name, type or default, or declared twice). A
    /// file value of the wrong type is the host's to report: it refuses the
    /// plugin after init with the file and line (until then, the default
    /// is what options() reads). (ABI 1.2.)
    void option(std::string_view name, OptionType type, std::string_view defaultText,
                std::string_view help) {
        need(HostFn::register_option);
        std::int32_t rc = _api->register_option(_reg, buf(name), static_cast<std::int32_t>(type),
                                                buf(defaultText), buf(help));
        if (rc != DORA_OK)
            throw Error(kHandlerFailed, "cannot declare option '" + std::string(name) + "': " +
                                            detail::statusText(rc));
    }
    /// The plugin's options (after their declaration); copies stay usable.
    Options options() const noexcept { return Options(_api, _host); }

    /// Registers a counter shown in getStat under plugin_metrics.<plugin>.
    /// name [a-z0-9_]+, unique in the plugin. Throws Error if refused. (ABI 1.2.)
    Counter counter(std::string_view name, std::string_view help) {
        return Counter(_api, metric(DORA_METRIC_COUNTER, name, help, {}));
    }
    /// Registers a histogram with the given upper bounds (strictly
    /// increasing, at least one; +Inf is implied).
    Histogram histogram(std::string_view name, std::string_view help,
                        const std::vector<double>& bounds) {
        return Histogram(_api, metric(DORA_METRIC_HISTOGRAM, name, help, bounds));
    }

private:
    static dora_buf buf(std::string_view s) noexcept { return dora_buf{s.data(), s.size()}; }

    void need(HostFn f) const {
        if (!detail::hostHas(_api, f)) throw Error(kHandlerFailed, "this host lacks " + detail::describe(f));
    }
    dora_metric* metric(std::int32_t kind, std::string_view name, std::string_view help,
                        const std::vector<double>& bounds) {
        need(HostFn::register_metric);
        dora_metric* m = _api->register_metric(_reg, kind, buf(name), buf(help),
                                               bounds.empty() ? nullptr : bounds.data(), bounds.size());
        if (m == nullptr)
            throw Error(kHandlerFailed, "cannot register metric '" + std::string(name) +
                                            "' (bad or duplicate name, or bad bounds)");
        return m;
    }

    detail::Entry& add(std::string_view name) {
        _state.entries.push_back(
            std::make_unique<detail::Entry>(detail::Entry{_api, _host, std::string(name), {}, {}}));
        return *_state.entries.back();
    }
    void check(std::string_view name, std::int32_t status) {
        if (status == DORA_OK) return;
        _state.entries.pop_back();
        throw Error(kHandlerFailed, "cannot register handler '" + std::string(name) +
                                        "': " + detail::statusText(status));
    }

    const dora_host_api* _api;
    dora_host* _host;
    dora_registrar* _reg;
    detail::PluginState& _state;
};

namespace detail {

/// Checks the host's function table, then runs the plugin's init function
/// with a Registrar. What init throws refuses the load, with its message.
template <class F>
std::int32_t runInit(const dora_host_api* api, dora_host* host, dora_registrar* reg, void** state,
                     const char** error, const F& init) noexcept {
    std::string& text = initErrorText();
    auto refuse = [&](std::int32_t status) {
        if (state) *state = nullptr;
        if (error) *error = text.c_str();
        return status;
    };
    try {
        text.clear();
        if (api == nullptr || api->struct_size < offsetof(dora_host_api, log)) {
            text = "the host passed no usable function table";
            return refuse(DORA_ERR_ARG);
        }
        // Majors must match; the host must have every function up to the
        // minor we require (DORA_PLUGIN_MIN_ABI_MINOR, by default ours).
        // Newer ones are probed (Host::has) where they are used.
        const std::string versions = "plugin ABI " + std::to_string(DORA_ABI_MAJOR) + "." +
                                     std::to_string(DORA_ABI_MINOR) + ", host ABI " +
                                     std::to_string(api->abi_major) + "." +
                                     std::to_string(api->abi_minor) + ", function table " +
                                     std::to_string(api->struct_size) + " bytes";
        if (api->abi_major != DORA_ABI_MAJOR || api->struct_size < offsetof(dora_host_api, call_task_id)) {
            text = "plugin is not binary compatible with the host (" + versions + ")";
            return refuse(DORA_ERR_STATE);
        }
        for (std::size_t i = 0; i < kHostFnCount; ++i) {
            const HostFn f = static_cast<HostFn>(i);
            if (hostFnInfo(f).minor <= DORA_PLUGIN_MIN_ABI_MINOR && !hostHas(api, f)) {
                text = "plugin needs " + describe(f) + ", which this host lacks (" + versions +
                       "); build the plugin against the host's SDK, or define "
                       "DORA_PLUGIN_MIN_ABI_MINOR and probe with Host::has";
                return refuse(DORA_ERR_STATE);
            }
        }
        auto owned = std::make_unique<PluginState>();
        Registrar registrar(api, host, reg, *owned);
        init(registrar);
        if (state) *state = owned.release();
        return DORA_OK;
    } catch (const std::exception& e) {
        try {
            text = std::string("plugin init failed: ") + e.what();
        } catch (...) { // NOLINT(bugprone-empty-catch): out of memory; no text then
        }
    } catch (...) {
        try {
            text = "plugin init failed: unknown exception";
        } catch (...) { // NOLINT(bugprone-empty-catch): as above
        }
    }
    return refuse(DORA_ERR_INTERNAL);
}

/// dora_plugin_info::shutdown for every SDK plugin.
inline void shutdownPlugin(void* state) noexcept { delete static_cast<PluginState*>(state); }

} // namespace detail

} // namespace dora::sdk

/// Defines `static const dora_plugin_info* FUNC()` describing a plugin
/// called NAME (a string literal) at VERSION (a string literal), whose
/// handlers are registered by the remaining argument: a void(Registrar&)
/// function or captureless lambda, run once at load. Plugins use
/// DORA_PLUGIN; this form exists for tests that drive the SDK in-process.
#define DORA_PLUGIN_INFO(FUNC, NAME, VERSION, ...)                                                 \
    static const dora_plugin_info* FUNC() noexcept {                                               \
        struct DoraInit {                                                                          \
            static std::int32_t run(const dora_host_api* api, dora_host* host,                     \
                                    dora_registrar* reg, void** state,                             \
                                    const char** error) noexcept {                                 \
                return ::dora::sdk::detail::runInit(api, host, reg, state, error, __VA_ARGS__);    \
            }                                                                                      \
        };                                                                                         \
        static const dora_plugin_info info = {sizeof(dora_plugin_info),                            \
                                              DORA_ABI_MAJOR,                                      \
                                              DORA_PLUGIN_MIN_ABI_MINOR,                           \
                                              NAME,                                                \
                                              VERSION,                                             \
                                              &DoraInit::run,                                      \
                                              &::dora::sdk::detail::shutdownPlugin};               \
        return &info;                                                                              \
    }

/// Declares the plugin: use once, at namespace scope, in one source file.
///     DORA_PLUGIN("sync_user", "1.0.0", [](Registrar& r) { r.handler(...); });
/// Exports dora_plugin_entry, the plugin's only visible symbol, stamped with
/// the ABI version the plugin was compiled against.
#define DORA_PLUGIN(NAME, VERSION, ...)                                                            \
    DORA_PLUGIN_INFO(doraPluginInfo, NAME, VERSION, __VA_ARGS__)                                   \
    extern "C" __attribute__((visibility("default"))) const dora_plugin_info* dora_plugin_entry(   \
        void) {                                                                                    \
        return doraPluginInfo();                                                                   \
    }                                                                                              \
    static_assert(true, "DORA_PLUGIN needs a trailing semicolon")

#endif // DORA_SDK_PLUGIN_H
