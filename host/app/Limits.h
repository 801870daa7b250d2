// app/Limits.h — the process limits the host sets for itself at start.
#pragma once

#include <cstddef>

namespace dora::app {

/// Descriptors the host needs besides its client connections: pools,
/// listeners, epoll and eventfds, the HTTP gateway's connections, log and
/// plugin files.
std::size_t hostDescriptors(int ioThreads, int taskWorkers, bool httpEnabled, int httpThreads,
                            int httpQueued);

/// Raises the open-files soft limit (RLIMIT_NOFILE) to what maxConnections
/// plus `hostFds` need, up to the hard limit, as Redis does, and logs what
/// it did. Returns the connections the host can hold: maxConnections, or
/// fewer (with a warning) when the hard limit is lower than the need.
/// Throws std::runtime_error with a sentence naming both numbers when the
/// hard limit cannot hold hostFds and a minimum of connections.
/// Call once at start, before descriptors are opened in bulk.
std::size_t raiseOpenFilesLimit(std::size_t maxConnections, std::size_t hostFds);

} // namespace dora::app
