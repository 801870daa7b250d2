// plugins/HostApi.h — the host side of the plugin boundary: the function
// table plugins call, the handles it hands out, and invoking a handler.
#pragma once

#include "plugins/Plugin.h"
#include "protocol/Response.h"

#include <string>
#include <string_view>

namespace dora::pools {
class MySqlPool;
}

/// One handler invocation: the database session it may borrow and the
/// scratch space for buffers handed back to the plugin.
struct dora_ctx {
    dora::pools::MySqlPool* mysql = nullptr; ///< may be null (no DB configured)
    unsigned slot = 0;                       ///< the worker running the handler
    std::string scratch;                     ///< rows of the last query
    std::string lastError;
    int lastErrno = 0;
};

/// One call inside an invocation.
struct dora_call {
    std::string_view api;
    std::string_view params;
    dora::protocol::CallOutcome* outcome = nullptr;
    bool answered = false;
};

/// Only valid during a plugin's init.
struct dora_registrar {
    dora::plugins::LoadedPlugin* plugin = nullptr;
    bool open = true;
};

namespace dora::plugins {

/// The table every plugin receives. Static data, no state of its own.
const dora_host_api* hostApi();

/// Runs one call through `route` on the calling task worker. Never
/// throws; a handler that fails or gives no answer yields kHandlerFailed.
/// A transaction the handler left open is rolled back.
protocol::CallOutcome invoke(const Route& route, pools::MySqlPool* mysql, unsigned slot,
                             std::string_view api, std::string_view params);

} // namespace dora::plugins
