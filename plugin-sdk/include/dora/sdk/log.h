// dora/sdk/log.h — writing to the host's log from a plugin.
#ifndef DORA_SDK_LOG_H
#define DORA_SDK_LOG_H

#include <dora/sdk/abi.h>
#include <dora/sdk/host.h>

#include <cstdint>
#include <string_view>

namespace dora::sdk {

/// The host's log. A Log is borrowed pointers: cheap to copy, usable
/// from any thread at any time while the plugin is loaded (the host
/// serialises writes). Get one from Registrar::log() or Call::log(); a
/// call's log puts the request's guid in every line (ABI 1.2 call_log; on
/// an older host it writes plain lines) and is valid until the call ends.
class Log {
public:
    Log(const dora_host_api* api, dora_host* host, dora_call* call = nullptr) noexcept
        : _api(api), _host(host), _call(call && detail::hostHas(api, HostFn::call_log) ? call : nullptr) {}

    /// Writes one message at level (DORA_LOG_*). The text is copied.
    /// Never throws.
    void write(std::int32_t level, std::string_view message) const noexcept {
        if (_call)
            _api->call_log(_call, level, dora_buf{message.data(), message.size()});
        else
            _api->log(_host, level, dora_buf{message.data(), message.size()});
    }
    void debug(std::string_view message) const noexcept { write(DORA_LOG_DEBUG, message); }
    void info(std::string_view message) const noexcept { write(DORA_LOG_INFO, message); }
    void warn(std::string_view message) const noexcept { write(DORA_LOG_WARN, message); }
    void error(std::string_view message) const noexcept { write(DORA_LOG_ERROR, message); }

private:
    const dora_host_api* _api;
    dora_host* _host;
    dora_call* _call;
};

} // namespace dora::sdk

#endif // DORA_SDK_LOG_H
