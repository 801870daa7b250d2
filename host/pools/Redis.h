// pools/Redis.h — one hiredis connection, with RAII replies and argv-style
// commands (binary safe). Not thread-safe: each user owns its connection.
#pragma once

#include "pools/RedisSettings.h"

#include <hiredis/hiredis.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dora::pools {

struct ReplyDeleter {
    void operator()(redisReply* r) const {
        if (r) freeReplyObject(r);
    }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

class RedisConnection {
public:
    /// Connects; throws std::runtime_error naming the server on failure.
    /// With sentinels: asks them for the master (each in turn, short
    /// timeouts), connects there and checks with ROLE that it is the
    /// master; the error then names every sentinel's answer.
    explicit RedisConnection(const RedisSettings& settings);
    ~RedisConnection();
    RedisConnection(const RedisConnection&) = delete;
    RedisConnection& operator=(const RedisConnection&) = delete;

    /// Runs one command. Returns null when the connection failed (then
    /// broken() is true and error() says why). A Redis error reply is
    /// returned as a reply of type REDIS_REPLY_ERROR.
    Reply command(const std::vector<std::string_view>& argv);
    /// Pipelining: queue commands, then read one reply per command (the
    /// replies of commands already sent are read also after a READONLY).
    void append(const std::vector<std::string_view>& argv);
    Reply reply();

    /// True when the connection failed, or (Sentinel) the server answered
    /// READONLY or the sentinels announced another master since it was
    /// made: it was demoted, and a new connection finds the master.
    bool broken() const {
        return lost() || _demoted ||
               (_sentinel && _sentinel->generation.load(std::memory_order_relaxed) != _generation);
    }
    std::string error() const;

private:
    bool lost() const { return _ctx == nullptr || _ctx->err != 0; }
    /// Counts an error reply, or the connection breaking (once).
    void count(const redisReply* r);
    void checkDemoted(const redisReply* r);
    /// Writes argv as one RESP command into hiredis' output buffer.
    void appendCommand(const std::vector<std::string_view>& argv);

    redisContext* _ctx = nullptr;
    std::string _out; ///< the command being formatted (kept for its capacity)
    std::shared_ptr<RedisCounters> _counters;
    bool _countedBroken = false;
    bool _viaSentinel = false;
    bool _demoted = false;
    std::shared_ptr<SentinelState> _sentinel; ///< set with sentinels
    std::uint64_t _generation = 0;            ///< _sentinel's when this connection asked them
};

/// Text of a reply for messages ("(nil)", the error string, ...).
std::string replyText(const redisReply* r);

} // namespace dora::pools
