#include "cluster/Registry.h"

#include "pools/Redis.h"

#include <Poco/Logger.h>

#include <ctime>

namespace dora::cluster {

namespace reg = wire::registry;
using pools::Reply;

namespace {

Poco::Logger& logger() { return Poco::Logger::get("dorahost.registry"); }

bool failed(const redisReply* r) { return !r || r->type == REDIS_REPLY_ERROR; }

} // namespace

Registry::Registry(pools::RedisSettings redis, RegistrySettings settings)
    : _redis(std::move(redis)), _settings(std::move(settings)) {
    // A registry write must never hang the host's stop.
    _redis.commandTimeoutMs = 2000;
}

Registry::~Registry() { stop(); }

bool Registry::connect() {
    if (_conn && !_conn->broken()) return true;
    try {
        _conn = std::make_unique<pools::RedisConnection>(_redis);
        return true;
    } catch (const std::exception& e) {
        _conn.reset();
        if (!_wasDown)
            logger().warning("registry: %s; retrying every %d s", std::string(e.what()),
                             _settings.intervalSec);
        _wasDown = true;
        return false;
    }
}

void Registry::start() {
    {
        std::lock_guard<std::mutex> lock(_mutex);
        if (beat())
            logger().information("registered %s in %s, groups %s, heartbeat every %d s",
                                 _settings.node.address(), std::string(reg::kServerList),
                                 reg::member(_settings.node), _settings.intervalSec);
    }
    _thread = std::thread([this] { run(); });
}

void Registry::markDraining() {
    std::lock_guard<std::mutex> lock(_mutex);
    if (_draining || _stopping) return;
    _draining = true;
    if (beat()) logger().information("registry: %s marked draining", _settings.node.address());
}

void Registry::stop() {
    {
        std::lock_guard<std::mutex> lock(_mutex);
        if (_stopping) return;
        _stopping = true;
    }
    _cv.notify_all();
    if (_thread.joinable()) _thread.join();
    std::lock_guard<std::mutex> lock(_mutex);
    reg::Node live = _settings.node, draining = _settings.node;
    live.draining = false;
    draining.draining = true;
    const std::string key = reg::timeKey(_settings.node.ip, _settings.node.port);
    if (!connect()) {
        logger().warning("registry: could not remove %s (Redis unreachable); its heartbeat expires "
                         "in at most %d s",
                         _settings.node.address(), ttlSec());
        return;
    }
    _conn->append({"SREM", reg::kServerList, reg::member(live), reg::member(draining)});
    _conn->append({"DEL", key});
    Reply a = _conn->reply(), b = _conn->reply();
    if (failed(a.get()) || failed(b.get()))
        logger().warning("registry: removing %s failed: %s", _settings.node.address(),
                         pools::replyText(failed(a.get()) ? a.get() : b.get()));
    else
        logger().information("registry: %s removed", _settings.node.address());
}

bool Registry::beat() {
    if (!connect()) return false;
    reg::Node me = _settings.node;
    me.draining = _draining;
    reg::Node other = me;
    other.draining = !me.draining;
    const std::string key = reg::timeKey(me.ip, me.port);
    const std::string now = me.draining ? "0" : std::to_string(std::time(nullptr));
    const std::string ttl = std::to_string(ttlSec());
    // The time first: a sweeping host that sees the member sees its time.
    _conn->append({"SET", key, now, "EX", ttl});
    _conn->append({"SADD", reg::kServerList, reg::member(me)});
    _conn->append({"SREM", reg::kServerList, reg::member(other)});
    bool ok = true;
    std::string why;
    for (int i = 0; i < 3; ++i) {
        Reply r = _conn->reply();
        if (failed(r.get())) {
            ok = false;
            why = r ? pools::replyText(r.get()) : _conn->error();
        }
    }
    if (!ok) {
        if (!_wasDown) logger().warning("registry: heartbeat of %s failed: %s", me.address(), why);
        _wasDown = true;
        if (_conn->broken()) _conn.reset();
        return false;
    }
    if (_wasDown) logger().information("registry: %s registered again", me.address());
    _wasDown = false;
    return true;
}

void Registry::sweep() {
    if (!connect()) return;
    Reply list = _conn->command({"SMEMBERS", reg::kServerList});
    if (!list || list->type != REDIS_REPLY_ARRAY) return;
    reg::Node me = _settings.node;
    me.draining = _draining;
    const std::string mine = reg::member(me);
    std::vector<std::pair<std::string, reg::Node>> others;
    for (std::size_t i = 0; i < list->elements; ++i) {
        const redisReply* e = list->element[i];
        if (e->type != REDIS_REPLY_STRING) continue;
        std::string text(e->str, e->len);
        reg::Node n;
        if (text == mine || !reg::parseMember(text, n)) continue; // not ours to judge
        if (n.ip == me.ip && n.port == me.port) {
            // Ours from before a restart with other groups.
            _conn->command({"SREM", reg::kServerList, text});
            logger().information("registry: removed this node's outdated entry %s", text);
            continue;
        }
        others.emplace_back(std::move(text), std::move(n));
    }
    for (auto& [text, n] : others)
        _conn->append({"EXISTS", reg::timeKey(n.ip, n.port)});
    std::vector<std::string> dead;
    for (auto& [text, n] : others) {
        Reply r = _conn->reply();
        if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 0) dead.push_back(text);
    }
    for (const auto& text : dead) {
        _conn->command({"SREM", reg::kServerList, text});
        logger().information("registry: removed %s: its heartbeat expired", text);
    }
}

void Registry::run() {
    std::unique_lock<std::mutex> lock(_mutex);
    for (;;) {
        _cv.wait_for(lock, std::chrono::seconds(_settings.intervalSec), [&] { return _stopping; });
        if (_stopping) return;
        if (beat()) sweep();
    }
}

} // namespace dora::cluster
