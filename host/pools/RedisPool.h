// pools/RedisPool.h — the Redis connections handlers borrow (SDK 1.2
// redis_command / redis_pipeline). Bounded: never more than `size`
// connections are open, whatever the load; they open on first need and a
// broken one is dropped and replaced on a later take. Thread-safe.
#pragma once

#include "pools/RedisSettings.h"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace dora::pools {

class RedisConnection;
class RedisPool;

/// One borrowed connection; gives it back when destroyed (a broken one
/// is closed instead). Movable, used by one thread.
class RedisLease {
public:
    RedisLease() = default;
    RedisLease(RedisPool* pool, std::unique_ptr<RedisConnection> conn);
    ~RedisLease();
    RedisLease(RedisLease&& o) noexcept;
    RedisLease& operator=(RedisLease&& o) noexcept;
    RedisLease(const RedisLease&) = delete;
    RedisLease& operator=(const RedisLease&) = delete;

    RedisConnection* get() const { return _conn.get(); }
    explicit operator bool() const { return _conn != nullptr; }
    void release();

private:
    RedisPool* _pool = nullptr;
    std::unique_ptr<RedisConnection> _conn;
};

class RedisPool {
public:
    /// size 0: handlers get no Redis (every take fails). Command timeouts
    /// are the settings' connect timeout, so a stalled Redis cannot hold a
    /// task worker forever.
    RedisPool(RedisSettings settings, unsigned size);
    ~RedisPool();
    RedisPool(const RedisPool&) = delete;
    RedisPool& operator=(const RedisPool&) = delete;

    /// An idle connection, a new one while fewer than size are open, or
    /// the first one given back within the connect timeout. On failure an
    /// empty lease and `error` says why (none configured, none free, Redis
    /// unreachable).
    RedisLease take(std::string& error);

    unsigned size() const { return _size; }
    unsigned open() const;     ///< connections open now (idle + lent)
    unsigned lent() const;     ///< connections lent to handlers now
    unsigned peakOpen() const; ///< the most ever open at once

private:
    friend class RedisLease;
    void giveBack(std::unique_ptr<RedisConnection> conn);

    RedisSettings _settings;
    const unsigned _size;
    mutable std::mutex _mutex;
    std::condition_variable _freed;
    std::vector<std::unique_ptr<RedisConnection>> _idle;
    unsigned _open = 0; ///< idle + lent + being opened
    unsigned _peak = 0;
};

} // namespace dora::pools
