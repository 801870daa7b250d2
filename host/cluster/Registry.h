// cluster/Registry.h — this host's entry in the DoraRPC v2 service registry
// (PROTOCOL.md §7; format in dora/wire/Registry.h): every interval it adds
// its member to dora.serverlist and writes its heartbeat time. Better than
// a DoraRPC server: the heartbeat key expires (3 intervals) when the host
// dies, live hosts remove members whose heartbeat has expired, a draining
// host is marked, and a stopped host removes itself.
#pragma once

#include "pools/RedisSettings.h"

#include <dora/wire/Registry.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace dora::pools {
class RedisConnection;
}

namespace dora::cluster {

struct RegistrySettings {
    wire::registry::Node node; ///< ip, port, groups as advertised
    int intervalSec = 10;
};

/// One thread and one Redis connection of its own. start(), markDraining()
/// and stop() may be called from any thread; Redis being away is logged
/// and retried every interval, never fatal.
class Registry {
public:
    Registry(pools::RedisSettings redis, RegistrySettings settings);
    ~Registry();
    Registry(const Registry&) = delete;
    Registry& operator=(const Registry&) = delete;

    /// Registers at once (on the calling thread, so the host is listed
    /// when start returns, if Redis is there), then every interval.
    void start();
    /// Marks the node draining now (member with "state":"draining",
    /// heartbeat time 0) and keeps it so until stop().
    void markDraining();
    /// Removes this node's member and heartbeat, and stops. Idempotent.
    void stop();

    const wire::registry::Node& node() const { return _settings.node; }
    /// Seconds a heartbeat key lives: three intervals.
    int ttlSec() const { return 3 * _settings.intervalSec; }

private:
    void run();
    bool beat();  ///< false if Redis could not be reached
    void sweep(); ///< members of dead nodes, and our own outdated ones
    bool connect();

    pools::RedisSettings _redis;
    const RegistrySettings _settings;
    std::unique_ptr<pools::RedisConnection> _conn; ///< the registry thread's (or start's/stop's)
    std::mutex _mutex;                             ///< the connection, and the flags below
    std::condition_variable _cv;
    bool _draining = false;
    bool _stopping = false;
    bool _wasDown = false;
    std::thread _thread;
};

} // namespace dora::cluster
