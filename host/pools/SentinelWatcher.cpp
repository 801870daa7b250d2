#include "pools/SentinelWatcher.h"

#include "pools/Redis.h"

#include <Poco/Logger.h>

#include <sys/socket.h>

#include <chrono>
#include <string>

namespace dora::pools {

namespace {
Poco::Logger& logger() { return Poco::Logger::get("dorahost.redis"); }
} // namespace

SentinelWatcher::SentinelWatcher(RedisSettings settings) : _settings(std::move(settings)) {}

SentinelWatcher::~SentinelWatcher() { stop(); }

void SentinelWatcher::start() {
    if (_settings.sentinels.empty() || _thread.joinable()) return;
    _thread = std::thread([this] { run(); });
}

void SentinelWatcher::stop() {
    _stopping = true;
    {
        // Wakes the thread out of its blocking read.
        std::lock_guard<std::mutex> lock(_mutex);
        if (_ctx) ::shutdown(_ctx->fd, SHUT_RDWR);
    }
    if (_thread.joinable()) _thread.join();
}

void SentinelWatcher::run() {
    const int timeoutMs = std::min(_settings.connectTimeoutMs, 500);
    const timeval tv{timeoutMs / 1000, (timeoutMs % 1000) * 1000};
    const std::string prefix = _settings.masterName + " ";
    bool subscribedBefore = false;
    for (std::size_t next = 0; !_stopping; ++next) {
        const auto& [host, port] = _settings.sentinels[next % _settings.sentinels.size()];
        redisContext* c = redisConnectWithTimeout(host.c_str(), port, tv);
        bool subscribed = false;
        if (c && !c->err) {
            redisSetTimeout(c, tv);
            Reply r(static_cast<redisReply*>(redisCommand(c, "SUBSCRIBE +switch-master")));
            subscribed = r && r->type == REDIS_REPLY_ARRAY;
            redisSetTimeout(c, timeval{0, 0}); // messages come whenever a failover happens
        }
        if (subscribed) {
            {
                std::lock_guard<std::mutex> lock(_mutex);
                _ctx = c;
            }
            if (subscribedBefore)
                ++_settings.sentinelState->generation; // a switch may have been missed
            subscribedBefore = true;
            while (!_stopping) {
                void* raw = nullptr;
                if (redisGetReply(c, &raw) != REDIS_OK) break;
                Reply m(static_cast<redisReply*>(raw));
                // ["message", "+switch-master", "<name> <old ip> <old port> <new ip> <new port>"]
                if (!m || m->type != REDIS_REPLY_ARRAY || m->elements != 3 ||
                    m->element[2]->type != REDIS_REPLY_STRING)
                    continue;
                const std::string text(m->element[2]->str, m->element[2]->len);
                if (text.rfind(prefix, 0) != 0) continue;
                ++_settings.sentinelState->generation;
                logger().information(
                    "redis: sentinel %s:%d announced +switch-master %s; reconnecting", host, port,
                    text);
            }
            std::lock_guard<std::mutex> lock(_mutex);
            _ctx = nullptr;
        }
        if (c) redisFree(c);
        // Next sentinel after a pause (at once only when this one was never reached).
        for (int i = 0; i < 10 && !_stopping; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

} // namespace dora::pools
