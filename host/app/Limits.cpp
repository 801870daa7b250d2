#include "app/Limits.h"

#include <Poco/Logger.h>

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace dora::app {

namespace {

Poco::Logger& logger() { return Poco::Logger::get("dorahost"); }

/// Fewer client connections than this is no server at all: refuse to start.
constexpr std::size_t kMinConnections = 64;

std::string number(rlim_t v) { return v == RLIM_INFINITY ? std::string("unlimited") : std::to_string(v); }

} // namespace

std::size_t hostDescriptors(int ioThreads, int taskWorkers, bool httpEnabled, int httpThreads,
                            int httpQueued) {
    // Per task worker: a MySQL and a Redis connection plus the queue's;
    // per loop: epoll and eventfd; 64 for listeners, logs, plugin .so files
    // and what plugins open themselves.
    std::size_t n = 64 + 4 * static_cast<std::size_t>(taskWorkers) + 2 * static_cast<std::size_t>(ioThreads);
    // The gateway holds a socket per thread and per queued connection.
    if (httpEnabled) n += static_cast<std::size_t>(httpThreads) + static_cast<std::size_t>(httpQueued);
    return n;
}

std::size_t raiseOpenFilesLimit(std::size_t maxConnections, std::size_t hostFds) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        throw std::runtime_error(std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(errno));
    const rlim_t need = static_cast<rlim_t>(maxConnections + hostFds);
    const rlim_t minimum = static_cast<rlim_t>(hostFds + std::min(maxConnections, kMinConnections));
    const rlim_t before = rl.rlim_cur;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        rlimit want = rl;
        want.rlim_cur = rl.rlim_max == RLIM_INFINITY ? need : std::min(need, rl.rlim_max);
        if (setrlimit(RLIMIT_NOFILE, &want) == 0)
            rl = want;
        else
            logger().warning("cannot raise the open-files limit from %s to %s: %s", number(before),
                             number(want.rlim_cur), std::string(std::strerror(errno)));
    }
    const std::string why = "server.max_connections " + std::to_string(maxConnections) + " + " +
                            std::to_string(hostFds) + " for the host itself";
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < minimum)
        throw std::runtime_error(
            "the open-files limit is too low to start: the hard limit is " + number(rl.rlim_max) +
            " (soft " + number(rl.rlim_cur) + ") and the host needs at least " + std::to_string(minimum) +
            " descriptors (" + std::to_string(hostFds) + " for itself and " +
            std::to_string(std::min(maxConnections, kMinConnections)) + " connections; " +
            std::to_string(need) + " for " + why +
            "); raise the hard limit (ulimit -Hn, or LimitNOFILE= in the systemd unit)");
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        std::size_t fits = static_cast<std::size_t>(rl.rlim_cur) - hostFds;
        logger().warning("open-files limit is %s (was %s, hard limit %s), below the %s needed for %s: "
                         "serving at most %z connections; raise the hard limit (ulimit -Hn, or "
                         "LimitNOFILE= in the systemd unit)",
                         number(rl.rlim_cur), number(before), number(rl.rlim_max), number(need), why, fits);
        return fits;
    }
    if (rl.rlim_cur != before)
        logger().information("open-files limit raised from %s to %s (%s)", number(before),
                             number(rl.rlim_cur), why);
    else
        logger().information("open-files limit %s is enough (%s needed: %s)", number(rl.rlim_cur),
                             number(need), why);
    return maxConnections;
}

} // namespace dora::app
