// dora/client/Discovery.h — finding servers in the DoraRPC v2 registry
// (PROTOCOL.md §7, dora/wire/Registry.h) the way the DoraRPC monitor does:
// members of dora.serverlist in the group, whose heartbeat is at most 20 s
// old; dorahost's draining nodes (marked in their member) are skipped.
// Speaks the few Redis commands it needs itself (no Redis library).
#pragma once

#include <dora/client/Client.h>

#include <string>
#include <string_view>
#include <vector>

namespace dora::client {

/// Where the registry is: "HOST:PORT" or "unix:PATH". Throws
/// std::invalid_argument with the reason.
struct RegistryAddress {
    std::string socket; ///< unix socket path; empty for TCP
    std::string host;
    std::uint16_t port = 0;
    std::string toString() const;
};
RegistryAddress parseRegistry(std::string_view text);

/// The live, not draining servers of `group`, in the registry's order.
/// Throws std::runtime_error when the registry cannot be read (naming it).
std::vector<Server> discover(const RegistryAddress& registry, const std::string& group,
                             int timeoutMs = 3000);

} // namespace dora::client
