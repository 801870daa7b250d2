// pools/SentinelWatcher.h — hears the sentinels announce a failover
// (`+switch-master`), so connections to a master that was demoted while
// still running (SENTINEL FAILOVER, a partition) are dropped at once,
// not only when the sentinels later reconfigure it and close them.
#pragma once

#include "pools/RedisSettings.h"

#include <atomic>
#include <mutex>
#include <thread>

struct redisContext;

namespace dora::pools {

/// One thread subscribed to `+switch-master` on one sentinel at a time
/// (the next one when it goes away). A switch of settings.masterName bumps
/// settings.sentinelState->generation: every RedisConnection made from
/// those settings before it then reports broken(), and its owner's next
/// connect asks the sentinels again. A subscription lost and made again
/// bumps it too (a switch may have been missed meanwhile).
class SentinelWatcher {
public:
    explicit SentinelWatcher(RedisSettings settings);
    ~SentinelWatcher();
    SentinelWatcher(const SentinelWatcher&) = delete;
    SentinelWatcher& operator=(const SentinelWatcher&) = delete;
    void start();
    void stop();

private:
    void run();

    RedisSettings _settings;
    std::atomic<bool> _stopping{false};
    std::mutex _mutex;            ///< guards _ctx against stop()
    redisContext* _ctx = nullptr; ///< the subscription (the thread's)
    std::thread _thread;
};

} // namespace dora::pools
