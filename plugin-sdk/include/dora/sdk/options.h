// dora/sdk/options.h — a plugin's own settings (ABI 1.2): the `options:`
// map of its route file, declared by the plugin during init
// (Registrar::option) and read as typed values by init and by handlers.
//
//     # cache.yaml
//     plugin: cache
//     library: libcache.so
//     options:
//       ttl_sec: 30
//     routes: ...
//
//     r.option("ttl_sec", OptionType::Int, "60", "seconds a cached entry lives");
//     ...
//     std::int64_t ttl = call.options().integer("ttl_sec");
//
// The host checks the file against the declarations when it loads the
// plugin: a key nobody declared, or a value of the wrong type, refuses the
// load with the file and line (like any route file error), and
// `dorahost --check-config` lists every option with its value. A reload
// loads the plugin afresh with the file as it is then.
#ifndef DORA_SDK_OPTIONS_H
#define DORA_SDK_OPTIONS_H

#include <dora/sdk/abi.h>
#include <dora/sdk/error.h>
#include <dora/sdk/host.h>
#include <dora/sdk/serialize.h>
#include <dora/sdk/value.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace dora::sdk {

enum class OptionType : std::int32_t {
    Bool = DORA_OPT_BOOL,     ///< true / false
    Int = DORA_OPT_INT,       ///< a 64-bit integer
    Float = DORA_OPT_FLOAT,   ///< a number (an integer is fine)
    String = DORA_OPT_STRING, ///< any scalar, as text
};

/// The plugin's option values. Two borrowed pointers, cheap to copy; any
/// thread, from the option's declaration until shutdown. Reading an
/// undeclared option, or as another type than declared, throws Error
/// (kHandlerFailed): a plugin bug, not the caller's.
class Options {
public:
    Options(const dora_host_api* api, dora_host* host) noexcept : _api(api), _host(host) {}

    bool boolean(std::string_view name) const {
        return get(name, "a bool", &Value::isBool).asBool();
    }
    std::int64_t integer(std::string_view name) const {
        return get(name, "an int", &Value::isInt).asInt();
    }
    double number(std::string_view name) const {
        Value v = value(name);
        if (!v.isInt() && !v.isFloat())
            throw Error(kHandlerFailed, "option '" + std::string(name) + "' is not a float");
        return v.isInt() ? static_cast<double>(v.asInt()) : v.asFloat();
    }
    std::string string(std::string_view name) const {
        return get(name, "a string", &Value::isString).asString();
    }
    /// The value whatever its type.
    Value value(std::string_view name) const {
        if (!detail::hostHas(_api, HostFn::option_get))
            throw Error(kHandlerFailed, "this host lacks " + detail::describe(HostFn::option_get));
        dora_buf out{nullptr, 0};
        if (_api->option_get(_host, dora_buf{name.data(), name.size()}, &out) != DORA_OK)
            throw Error(kHandlerFailed, "option '" + std::string(name) + "' is not declared");
        try {
            return unserialize(std::string_view(out.ptr ? out.ptr : "", out.len));
        } catch (const DecodeError& e) {
            throw Error(kHandlerFailed,
                        "option '" + std::string(name) + "' does not decode: " + e.what());
        }
    }

private:
    Value get(std::string_view name, const char* what, bool (Value::*is)() const) const {
        Value v = value(name);
        if (!(v.*is)())
            throw Error(kHandlerFailed, "option '" + std::string(name) + "' is not " + what);
        return v;
    }

    const dora_host_api* _api;
    dora_host* _host;
};

} // namespace dora::sdk

#endif // DORA_SDK_OPTIONS_H
