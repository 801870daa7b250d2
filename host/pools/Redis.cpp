#include "pools/Redis.h"

#include <stdexcept>

namespace dora::pools {

RedisConnection::RedisConnection(const RedisSettings& s) {
    timeval tv{s.connectTimeoutMs / 1000, (s.connectTimeoutMs % 1000) * 1000};
    _ctx = s.socket.empty() ? redisConnectWithTimeout(s.host.c_str(), s.port, tv)
                            : redisConnectUnixWithTimeout(s.socket.c_str(), tv);
    if (!_ctx || _ctx->err) {
        std::string why = _ctx ? _ctx->errstr : "out of memory";
        if (_ctx) redisFree(_ctx);
        _ctx = nullptr;
        throw std::runtime_error("cannot connect to Redis at " + s.describe() + ": " + why);
    }
    if (s.commandTimeoutMs > 0) {
        timeval ct{s.commandTimeoutMs / 1000, (s.commandTimeoutMs % 1000) * 1000};
        redisSetTimeout(_ctx, ct);
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
    return Reply(static_cast<redisReply*>(
        redisCommandArgv(_ctx, static_cast<int>(argv.size()), p.data(), l.data())));
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
    if (redisGetReply(_ctx, &r) != REDIS_OK) return nullptr;
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
