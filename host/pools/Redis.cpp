#include "pools/Redis.h"

#include <Poco/Logger.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <stdexcept>

namespace dora::pools {

namespace {

Poco::Logger& logger() { return Poco::Logger::get("dorahost.redis"); }

timeval toTimeval(int ms) { return timeval{ms / 1000, (ms % 1000) * 1000}; }

/// A connected context, or null with `why` set.
redisContext* openContext(const std::string& socket, const std::string& host, int port, int timeoutMs,
                   std::string& why) {
    redisContext* c = socket.empty() ? redisConnectWithTimeout(host.c_str(), port, toTimeval(timeoutMs))
                                     : redisConnectUnixWithTimeout(socket.c_str(), toTimeval(timeoutMs));
    if (c && !c->err) return c;
    why = c ? c->errstr : "out of memory";
    if (c) redisFree(c);
    return nullptr;
}

std::string text(const redisReply* r) {
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) ? std::string(r->str, r->len)
                                                                                 : std::string();
}

/// Asks the sentinels in turn, starting with the one that answered last,
/// for the master's address. Each gets a short timeout (a dead sentinel
/// must not hold up a failover). Throws naming every sentinel's answer.
std::pair<std::string, int> askSentinels(const RedisSettings& s) {
    const int timeoutMs = std::min(s.connectTimeoutMs, 500);
    SentinelState& st = *s.sentinelState;
    std::size_t first;
    {
        std::lock_guard<std::mutex> lock(st.mutex);
        first = st.firstAsked % s.sentinels.size();
    }
    std::string tried;
    for (std::size_t k = 0; k < s.sentinels.size(); ++k) {
        const std::size_t i = (first + k) % s.sentinels.size();
        const auto& [host, port] = s.sentinels[i];
        const std::string where = host + ":" + std::to_string(port);
        std::string why;
        redisContext* c = openContext("", host, port, timeoutMs, why);
        if (c) {
            redisSetTimeout(c, toTimeval(timeoutMs));
            Reply r(static_cast<redisReply*>(
                redisCommand(c, "SENTINEL get-master-addr-by-name %b", s.masterName.data(), s.masterName.size())));
            if (!r)
                why = c->errstr;
            else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && !text(r->element[0]).empty()) {
                std::string ip = text(r->element[0]);
                int p = std::atoi(text(r->element[1]).c_str());
                redisFree(c);
                std::lock_guard<std::mutex> lock(st.mutex);
                st.firstAsked = i;
                return {ip, p};
            } else if (r->type == REDIS_REPLY_NIL)
                why = "does not know a master named '" + s.masterName + "'";
            else
                why = "answered " + replyText(r.get());
            redisFree(c);
        }
        tried += (tried.empty() ? "" : "; ") + where + ": " + why;
    }
    throw std::runtime_error("no sentinel answered with the address of the Redis master '" + s.masterName +
                             "' (" + tried + ")");
}

} // namespace

RedisConnection::RedisConnection(const RedisSettings& s) : _counters(s.counters), _viaSentinel(!s.sentinels.empty()) {
    std::string why, where = s.describe();
    try {
        if (!_viaSentinel) {
            _ctx = openContext(s.socket, s.host, s.port, s.connectTimeoutMs, why);
        } else {
            // Before asking: a switch announced from here on makes this
            // connection stale, even if the answer was already the old one.
            _sentinel = s.sentinelState;
            _generation = _sentinel->generation.load();
            auto [host, port] = askSentinels(s);
            where = host + ":" + std::to_string(port) + " (the master '" + s.masterName + "' of the sentinels)";
            _ctx = openContext("", host, port, s.connectTimeoutMs, why);
            if (_ctx) {
                // The sentinels' answer may be stale (a failover under way):
                // a demoted master must never be written to.
                redisSetTimeout(_ctx, toTimeval(s.connectTimeoutMs));
                Reply role(static_cast<redisReply*>(redisCommand(_ctx, "ROLE")));
                std::string r = role && role->type == REDIS_REPLY_ARRAY && role->elements > 0
                                    ? text(role->element[0])
                                    : replyText(role.get());
                if (r != "master") {
                    why = "it is not the master (ROLE: " + (role ? r : std::string(_ctx->errstr)) +
                          "); a failover may be under way";
                    redisFree(_ctx);
                    _ctx = nullptr;
                } else {
                    const std::string addr = host + ":" + std::to_string(port);
                    std::lock_guard<std::mutex> lock(s.sentinelState->mutex);
                    std::string& known = s.sentinelState->master;
                    if (known != addr) {
                        if (known.empty())
                            logger().information("redis: master for %s is %s (from the sentinels)", s.masterName, addr);
                        else
                            logger().warning("redis: master for %s is now %s (was %s)", s.masterName, addr, known);
                        known = addr;
                    }
                }
            }
        }
    } catch (const std::exception& e) {
        if (_counters) _counters->connectFailures.fetch_add(1, std::memory_order_relaxed);
        throw std::runtime_error(std::string("cannot connect to Redis: ") + e.what());
    }
    if (!_ctx) {
        if (_counters) _counters->connectFailures.fetch_add(1, std::memory_order_relaxed);
        throw std::runtime_error("cannot connect to Redis at " + where + ": " + why);
    }
    if (s.commandTimeoutMs > 0)
        redisSetTimeout(_ctx, toTimeval(s.commandTimeoutMs));
    else if (_viaSentinel)
        redisSetTimeout(_ctx, timeval{0, 0}); // the ROLE check's timeout must not stay
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

void RedisConnection::checkDemoted(const redisReply* r) {
    // A master the sentinels demoted answers writes with READONLY while the
    // connection stays up: count it broken, so the next connect asks them.
    if (!_viaSentinel || _demoted || !r || r->type != REDIS_REPLY_ERROR) return;
    if (std::string_view(r->str, r->len).rfind("READONLY", 0) != 0) return;
    _demoted = true;
    logger().warning("redis: the master's connection answered READONLY (demoted by a failover); reconnecting "
                     "through the sentinels");
    if (_counters && !_countedBroken) {
        _countedBroken = true;
        _counters->disconnects.fetch_add(1, std::memory_order_relaxed);
    }
}

RedisConnection::~RedisConnection() {
    if (_ctx) redisFree(_ctx);
}

void RedisConnection::appendCommand(const std::vector<std::string_view>& argv) {
    // RESP written here in one pass into a buffer that keeps its capacity:
    // hiredis' own formatter (redisFormatSdsCommandArgv) grows an sds
    // through sdscatfmt per argument, ~9% of the host's instructions in the
    // seed (XADD per request; XACK, XDEL and HSET of a whole settle).
    auto number = [this](char tag, std::size_t n) {
        char buf[24];
        buf[0] = tag;
        auto r = std::to_chars(buf + 1, buf + sizeof buf - 2, n);
        *r.ptr++ = '\r';
        *r.ptr++ = '\n';
        _out.append(buf, r.ptr);
    };
    std::size_t bytes = 16;
    for (auto a : argv)
        bytes += a.size() + 16;
    _out.clear();
    _out.reserve(bytes);
    number('*', argv.size());
    for (auto a : argv) {
        number('$', a.size());
        _out.append(a.data(), a.size());
        _out.append("\r\n", 2);
    }
    redisAppendFormattedCommand(_ctx, _out.data(), _out.size());
    // A settle's command can be megabytes: do not keep that much per connection.
    if (_out.capacity() > (1u << 20)) std::string().swap(_out);
}

Reply RedisConnection::command(const std::vector<std::string_view>& argv) {
    if (broken()) return nullptr;
    appendCommand(argv);
    void* r = nullptr;
    if (redisGetReply(_ctx, &r) != REDIS_OK) r = nullptr;
    Reply reply(static_cast<redisReply*>(r));
    count(reply.get());
    checkDemoted(reply.get());
    return reply;
}

void RedisConnection::append(const std::vector<std::string_view>& argv) {
    if (lost()) return;
    appendCommand(argv);
}

Reply RedisConnection::reply() {
    if (lost()) return nullptr;
    void* r = nullptr;
    if (redisGetReply(_ctx, &r) != REDIS_OK) {
        count(nullptr);
        return nullptr;
    }
    count(static_cast<redisReply*>(r));
    checkDemoted(static_cast<redisReply*>(r));
    return Reply(static_cast<redisReply*>(r));
}

std::string RedisConnection::error() const {
    if (!_ctx) return "not connected";
    if (_demoted && !_ctx->err) return "the server is no longer the master (READONLY)";
    if (!_ctx->err && broken()) return "the sentinels announced another master";
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
