#include "pools/Redis.h"

#include <stdexcept>

namespace dora::pools {

RedisConnection::RedisConnection(const RedisSettings& s) : _counters(s.counters) {
    timeval tv{s.connectTimeoutMs / 1000, (s.connectTimeoutMs % 1000) * 1000};
    _ctx = s.socket.empty() ? redisConnectWithTimeout(s.host.c_str(), s.port, tv)
                            : redisConnectUnixWithTimeout(s.socket.c_str(), tv);
    if (!_ctx || _ctx->err) {
        std::string why = _ctx ? _ctx->errstr : "out of memory";
        if (_ctx) redisFree(_ctx);
        _ctx = nullptr;
        if (_counters) _counters->connectFailures.fetch_add(1, std::memory_order_relaxed);
        throw std::runtime_error("cannot connect to Redis at " + s.describe() + ": " + why);
    }
    if (s.commandTimeoutMs > 0) {
        timeval ct{s.commandTimeoutMs / 1000, (s.commandTimeoutMs % 1000) * 1000};
        redisSetTimeout(_ctx, ct);
    }
    if (_counters) _counters->connects.fetch_add(1, std::memory_order_relaxed);
}

void RedisConnection::count(const redisReply* r) {
    if (!_counters) return;
    if (!r) {
        _counters->commandErrors.fetch_add(1, std::memory_order_relaxed);
        if (!_countedBroken && broken()) {
            _countedBroken = true;
            _counters->disconnects.fetch_add(1, std::memory_order_relaxed);
        }
    } else if (r->type == REDIS_REPLY_ERROR) {
        _counters->commandErrors.fetch_add(1, std::memory_order_relaxed);
    }
}

RedisConnection::~RedisConnection() {
    if (_ctx) redisFree(_ctx);
}

namespace {
void toArgv(const std::vector<std::string_view>& argv, std::vector<const char*>& p,
            std::vector<size_t>& l) {
    p.reserve(argv.size());
    l.reserve(argv.size());
    for (auto a : argv) {
        p.push_back(a.data());
        l.push_back(a.size());
    }
}
} // namespace

Reply RedisConnection::command(const std::vector<std::string_view>& argv) {
    if (broken()) return nullptr;
    std::vector<const char*> p;
    std::vector<size_t> l;
    toArgv(argv, p, l);
    Reply r(static_cast<redisReply*>(
        redisCommandArgv(_ctx, static_cast<int>(argv.size()), p.data(), l.data())));
    count(r.get());
    return r;
}

void RedisConnection::append(const std::vector<std::string_view>& argv) {
    if (broken()) return;
    std::vector<const char*> p;
    std::vector<size_t> l;
    toArgv(argv, p, l);
    redisAppendCommandArgv(_ctx, static_cast<int>(argv.size()), p.data(), l.data());
}

Reply RedisConnection::reply() {
    if (broken()) return nullptr;
    void* r = nullptr;
    if (redisGetReply(_ctx, &r) != REDIS_OK) {
        count(nullptr);
        return nullptr;
    }
    count(static_cast<redisReply*>(r));
    return Reply(static_cast<redisReply*>(r));
}

std::string RedisConnection::error() const {
    if (!_ctx) return "not connected";
    return _ctx->err ? std::string(_ctx->errstr) : std::string();
}

std::string replyText(const redisReply* r) {
    if (!r) return "(no reply)";
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR: return std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER: return std::to_string(r->integer);
    case REDIS_REPLY_NIL: return "(nil)";
    default: return "(reply type " + std::to_string(r->type) + ")";
    }
}

} // namespace dora::pools
