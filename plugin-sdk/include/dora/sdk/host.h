// dora/sdk/host.h — which host functions the host running the plugin
// has, by name, for probing optional ones (as Redis modules probe
// RedisModule_* functions) and for refusals that name what is missing.
//
//     if (r.host().has(HostFn::redis_command)) ... // else serve without a cache
//
// Every member the ABI appended after 1.0 is listed once below with the
// minor that brought it; the 1.0 members every host has.
#ifndef DORA_SDK_HOST_H
#define DORA_SDK_HOST_H

#include <dora/sdk/abi.h>

#include <cstddef>
#include <cstdint>
#include <string>

/// Members appended after ABI 1.0: X(member, minor).
#define DORA_SDK_HOST_FUNCTIONS(X)                                                                 \
    X(call_task_id, 1)                                                                             \
    X(call_guid, 2)                                                                                \
    X(call_mode, 2)                                                                                \
    X(call_generation, 2)                                                                          \
    X(call_peer, 2)                                                                                \
    X(call_attempt, 2)                                                                             \
    X(call_time_left_us, 2)                                                                        \
    X(call_log, 2)                                                                                 \
    X(register_option, 2)                                                                          \
    X(option_get, 2)                                                                               \
    X(redis_command, 2)                                                                            \
    X(redis_pipeline, 2)                                                                           \
    X(register_metric, 2)                                                                          \
    X(metric_add, 2)                                                                               \
    X(metric_observe, 2)

/// The plugin requires every host function up to this minor (the host
/// refuses to start it otherwise, naming the first one missing) and
/// probes newer ones with Host::has. Define it before including any SDK
/// header to run on older hosts: e.g. 1 to load on a 1.1 host. The plugin
/// is stamped with it (dora_plugin_info::abi_minor), so a 1.1 host
/// accepts it. Default: the SDK's own minor (every function is required).
#ifndef DORA_PLUGIN_MIN_ABI_MINOR
#define DORA_PLUGIN_MIN_ABI_MINOR DORA_ABI_MINOR
#endif

namespace dora::sdk {

/// A host function appended after ABI 1.0.
enum class HostFn {
#define DORA_SDK_X(member, minor) member,
    DORA_SDK_HOST_FUNCTIONS(DORA_SDK_X)
#undef DORA_SDK_X
};

namespace detail {

struct HostFnInfo {
    const char* name;
    std::size_t end; ///< the table must be at least this long to hold it
    std::size_t offset;
    unsigned minor;
};

inline const HostFnInfo& hostFnInfo(HostFn f) noexcept {
    static const HostFnInfo table[] = {
#define DORA_SDK_X(member, minor)                                                                  \
    {#member, offsetof(dora_host_api, member) + sizeof(dora_host_api::member),                     \
     offsetof(dora_host_api, member), minor},
        DORA_SDK_HOST_FUNCTIONS(DORA_SDK_X)
#undef DORA_SDK_X
    };
    return table[static_cast<std::size_t>(f)];
}

inline constexpr std::size_t kHostFnCount = 0
#define DORA_SDK_X(member, minor) +1
    DORA_SDK_HOST_FUNCTIONS(DORA_SDK_X)
#undef DORA_SDK_X
    ;

/// True if api's table reaches f and f is set.
inline bool hostHas(const dora_host_api* api, HostFn f) noexcept {
    if (api == nullptr) return false;
    const HostFnInfo& i = hostFnInfo(f);
    if (api->struct_size < i.end) return false;
    void* const* slot =
        reinterpret_cast<void* const*>(reinterpret_cast<const char*>(api) + i.offset);
    return *slot != nullptr;
}

/// "host function 'x' (ABI 1.n)".
inline std::string describe(HostFn f) {
    const HostFnInfo& i = hostFnInfo(f);
    return std::string("host function '") + i.name + "' (ABI " + std::to_string(DORA_ABI_MAJOR) +
           "." + std::to_string(i.minor) + ")";
}

} // namespace detail

/// The host a plugin runs in: its ABI version and which functions it has.
/// Two borrowed pointers, cheap to copy; usable from any thread while the
/// plugin is loaded.
class Host {
public:
    Host(const dora_host_api* api, dora_host* host) noexcept : _api(api), _host(host) {}

    /// True if the host provides f. Functions up to DORA_PLUGIN_MIN_ABI_MINOR
    /// are always there (the plugin would not have started otherwise).
    bool has(HostFn f) const noexcept { return detail::hostHas(_api, f); }
    unsigned abiMajor() const noexcept { return _api->abi_major; }
    unsigned abiMinor() const noexcept { return _api->abi_minor; }

    const dora_host_api* api() const noexcept { return _api; }
    dora_host* handle() const noexcept { return _host; }

private:
    const dora_host_api* _api;
    dora_host* _host;
};

} // namespace dora::sdk

#endif // DORA_SDK_HOST_H
