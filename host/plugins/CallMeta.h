// plugins/CallMeta.h — who called and how, as SDK 1.2's call metadata
// answers it (call_guid, call_mode, ...). Apart from HostApi.h so the
// request runner can hold one without the plugin boundary's internals.
#pragma once

#include "protocol/Request.h"

#include <chrono>
#include <cstdint>
#include <string_view>

namespace dora::plugins {

/// Who called and how (SDK 1.2 call metadata). Points at what the request
/// already holds (its guid, its peer); nothing is copied per call. Owned by
/// the caller of invoke, alive until the call returns.
struct CallMeta {
    std::string_view guid;
    std::string_view peer;
    std::int32_t mode = 0;       ///< DORA_MODE_*
    std::int32_t generation = 0; ///< DORA_GEN_*
    std::uint32_t attempt = 1;
    /// When the request was taken in: the route's timeout_ms counts from
    /// here. Default (epoch): no deadline is known (queued tasks).
    std::chrono::steady_clock::time_point started{};
};

std::int32_t sdkMode(protocol::Mode m);
std::int32_t sdkGeneration(protocol::Generation g);

} // namespace dora::plugins
