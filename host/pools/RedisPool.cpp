#include "pools/RedisPool.h"

#include "pools/Redis.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace dora::pools {

RedisLease::RedisLease(RedisPool* pool, std::unique_ptr<RedisConnection> conn)
    : _pool(pool), _conn(std::move(conn)) {}

RedisLease::~RedisLease() { release(); }

RedisLease::RedisLease(RedisLease&& o) noexcept : _pool(o._pool), _conn(std::move(o._conn)) {}

RedisLease& RedisLease::operator=(RedisLease&& o) noexcept {
    if (this != &o) {
        release();
        _pool = o._pool;
        _conn = std::move(o._conn);
    }
    return *this;
}

void RedisLease::release() {
    if (_conn && _pool) _pool->giveBack(std::move(_conn));
    _conn.reset();
}

RedisPool::RedisPool(RedisSettings settings, unsigned size)
    : _settings(std::move(settings)), _size(size) {
    _settings.commandTimeoutMs = _settings.connectTimeoutMs;
}

RedisPool::~RedisPool() = default;

RedisLease RedisPool::take(std::string& error) {
    if (_size == 0) {
        error = "no Redis is lent to handlers (redis.handler_connections is 0)";
        return {};
    }
    std::unique_lock<std::mutex> lock(_mutex);
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(_settings.connectTimeoutMs);
    for (;;) {
        if (!_idle.empty()) {
            std::unique_ptr<RedisConnection> c = std::move(_idle.back());
            _idle.pop_back();
            if (c->broken()) { // e.g. to a master the sentinels replaced since
                --_open;
                continue;
            }
            return RedisLease(this, std::move(c));
        }
        if (_open < _size) break;
        if (_freed.wait_until(lock, until) == std::cv_status::timeout && _idle.empty() &&
            _open >= _size) {
            error = "all " + std::to_string(_size) + " handler Redis connections stayed busy for " +
                    std::to_string(_settings.connectTimeoutMs) + " ms";
            return {};
        }
    }
    ++_open; // counted while connecting, so the bound holds
    _peak = std::max(_peak, _open);
    lock.unlock();
    try {
        auto c = std::make_unique<RedisConnection>(_settings);
        return RedisLease(this, std::move(c));
    } catch (const std::exception& e) {
        error = e.what();
        lock.lock();
        --_open;
        _freed.notify_one();
        return {};
    }
}

void RedisPool::giveBack(std::unique_ptr<RedisConnection> conn) {
    std::lock_guard<std::mutex> lock(_mutex);
    if (conn->broken()) {
        --_open;
        conn.reset();
    } else {
        _idle.push_back(std::move(conn));
    }
    _freed.notify_one();
}

unsigned RedisPool::open() const {
    std::lock_guard<std::mutex> lock(_mutex);
    return _open;
}

unsigned RedisPool::lent() const {
    std::lock_guard<std::mutex> lock(_mutex);
    return _open - static_cast<unsigned>(_idle.size());
}

unsigned RedisPool::peakOpen() const {
    std::lock_guard<std::mutex> lock(_mutex);
    return _peak;
}

} // namespace dora::pools
