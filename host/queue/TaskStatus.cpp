#include "queue/TaskStatus.h"

#include "pools/Redis.h"

#include <dora/wire/Json.h>

#include <Poco/Logger.h>

#include <chrono>

namespace dora::queue {

using dora::sdk::Value;
using pools::Reply;

namespace {

Poco::Logger& logger() { return Poco::Logger::get("dorahost.queue"); }

std::string str(const redisReply* r) {
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) ? std::string(r->str, r->len)
                                                                                   : std::string();
}

} // namespace

std::string statusKey(const std::string& stream, std::string_view guid) {
    std::string k;
    k.reserve(stream.size() + 8 + guid.size());
    k += stream;
    k += ":status:";
    k += guid;
    return k;
}

std::int64_t unixMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

StatusRecorder::StatusRecorder(pools::RedisSettings redis, QueueSettings settings)
    : _redis(std::move(redis)), _settings(std::move(settings)) {
    _thread = std::thread([this] { run(); });
}

StatusRecorder::~StatusRecorder() { stop(); }

void StatusRecorder::queued(std::string_view guid, std::string_view entryId) {
    std::string record = "{\"state\":\"queued\",\"entry\":\"";
    record += entryId; // digits and '-'
    record += "\",\"stored_at\":";
    record += std::to_string(unixMs());
    record += '}';
    std::string key = statusKey(_settings.stream, guid);
    bool wake = false;
    {
        std::lock_guard<std::mutex> lock(_mutex);
        wake = _waiting.empty(); // the writer sleeps only when it has nothing
        _waiting.emplace_back(std::move(key), std::move(record));
    }
    if (wake) _cv.notify_one();
}

void StatusRecorder::stop() {
    {
        std::lock_guard<std::mutex> lock(_mutex);
        if (_stopping) return;
        _stopping = true;
    }
    _cv.notify_one();
    if (_thread.joinable()) _thread.join();
}

std::uint64_t StatusRecorder::written() const {
    std::lock_guard<std::mutex> lock(_mutex);
    return _written;
}

void StatusRecorder::run() {
    const std::string ttl = std::to_string(_settings.statusTtlSec);
    std::vector<std::pair<std::string, std::string>> batch;
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(_mutex);
            _cv.wait(lock, [&] { return _stopping || !_waiting.empty(); });
            if (_waiting.empty() && _stopping) return;
            batch.swap(_waiting);
        }
        if (!_conn || _conn->broken()) {
            try {
                _conn = std::make_unique<pools::RedisConnection>(_redis);
            } catch (const std::exception& e) {
                // A status is best effort: the task itself is stored.
                logger().warning("task status not recorded for %z requests: %s", batch.size(), std::string(e.what()));
                _conn.reset();
                batch.clear();
                continue;
            }
        }
        // NX: a consumer that already recorded an outcome keeps it.
        for (const auto& [key, record] : batch) _conn->append({"SET", key, record, "EX", ttl, "NX"});
        std::size_t ok = 0;
        for (std::size_t i = 0; i < batch.size(); ++i) {
            Reply r = _conn->reply();
            if (!r) break;
            if (r->type != REDIS_REPLY_ERROR) ++ok;
        }
        {
            std::lock_guard<std::mutex> lock(_mutex);
            _written += ok;
        }
        batch.clear();
    }
}

Value readTaskStatus(const pools::RedisSettings& redis, const QueueSettings& settings, std::string_view guid) {
    pools::RedisSettings s = redis;
    s.commandTimeoutMs = 1000;
    s.counters.reset();
    pools::RedisConnection c(s);
    Reply r = c.command({"GET", statusKey(settings.stream, guid)});
    if (!r) throw std::runtime_error("Redis went away: " + c.error());
    if (r->type == REDIS_REPLY_NIL) return Value();
    if (r->type != REDIS_REPLY_STRING) throw std::runtime_error("unexpected reply: " + pools::replyText(r.get()));
    Value rec = dora::wire::fromJson(std::string_view(r->str, r->len));
    Value out = Value::array();
    out.set("guid", std::string(guid));
    for (const auto& e : rec.asArray()) out.set(e.key, e.value);
    const Value* state = rec.find("state");
    const Value* entry = rec.find("entry");
    if (state && state->isString() && state->asString() == "queued" && entry && entry->isString()) {
        const std::string id = entry->asString();
        // Delivered to a consumer and not acknowledged: running there.
        Reply p = c.command({"XPENDING", settings.stream, settings.group, id, id, "1"});
        if (p && p->type == REDIS_REPLY_ARRAY && p->elements == 1 && p->element[0]->type == REDIS_REPLY_ARRAY &&
            p->element[0]->elements >= 4) {
            const redisReply* e = p->element[0];
            out.set("state", "running");
            out.set("node", str(e->element[1]));
            out.set("idle_ms", static_cast<std::int64_t>(e->element[2]->integer));
            out.set("deliveries", static_cast<std::int64_t>(e->element[3]->integer));
            return out;
        }
        Reply x = c.command({"XRANGE", settings.stream, id, id});
        if (x && x->type == REDIS_REPLY_ARRAY && x->elements == 0) {
            // Settled, and its outcome record not written (yet).
            out.set("state", "unknown");
            out.set("detail", "the entry has left the stream; its outcome was not recorded");
        }
    }
    return out;
}

} // namespace dora::queue
