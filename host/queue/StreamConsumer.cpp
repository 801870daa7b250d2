#include "queue/StreamConsumer.h"

#include "pools/Redis.h"
#include "queue/Pack.h"
#include "queue/TaskStatus.h"

#include <dora/wire/Json.h>

#include <Poco/Logger.h>

#include <algorithm>
#include <string_view>

namespace dora::queue {

using pools::Reply;

namespace {

Poco::Logger& logger() { return Poco::Logger::get("dorahost.queue"); }

bool isError(const redisReply* r) { return !r || r->type == REDIS_REPLY_ERROR; }

std::string str(const redisReply* r) {
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
               ? std::string(r->str, r->len)
               : std::string();
}

std::string_view view(const redisReply* r) {
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
               ? std::string_view(r->str, r->len)
               : std::string_view();
}

/// The requests of an XREADGROUP / XAUTOCLAIM reply's entry, appended to
/// `out` (several for a packed entry); false if it has no fields (pending,
/// but deleted from the stream). `id` receives the entry's id.
bool toEntries(const redisReply* entry, std::vector<StreamEntry>& out, std::string& id) {
    id = str(entry->element[0]);
    const redisReply* fields = entry->elements > 1 ? entry->element[1] : nullptr;
    if (!fields || fields->type != REDIS_REPLY_ARRAY) return false;
    StreamEntry e;
    e.id = id;
    std::string_view pack;
    bool packed = false;
    for (std::size_t i = 0; i + 1 < fields->elements; i += 2) {
        std::string_view k = view(fields->element[i]);
        const redisReply* v = fields->element[i + 1];
        if (k == "type")
            e.type = str(v);
        else if (k == "guid")
            e.guid = str(v);
        else if (k == "calls")
            e.calls = str(v);
        else if (k == "origin")
            e.origin = str(v);
        else if (k == "pack") {
            pack = view(v);
            packed = true;
        }
    }
    if (!packed) {
        out.push_back(std::move(e));
        return true;
    }
    std::vector<PackedTask> tasks;
    std::string error;
    if (!unpack(pack, tasks, error)) {
        // Run nothing of it; the consumer dead-letters it with this reason.
        e.error = "task record is unreadable: " + error;
        out.push_back(std::move(e));
        return true;
    }
    for (std::size_t i = 0; i < tasks.size(); ++i) {
        StreamEntry t;
        t.id = packedId(id, i);
        t.streamId = id;
        t.packSize = tasks.size();
        t.type = std::move(tasks[i].type);
        t.guid = std::move(tasks[i].guid);
        t.calls = std::move(tasks[i].calls);
        out.push_back(std::move(t));
    }
    return true;
}

} // namespace

StreamConsumer::StreamConsumer(pools::RedisSettings redis, QueueSettings settings)
    : _redis(std::move(redis)), _settings(std::move(settings)) {}

StreamConsumer::~StreamConsumer() = default;

bool StreamConsumer::connected() const { return _conn && !_conn->broken(); }

bool StreamConsumer::setup() {
    try {
        if (!connected()) _conn = std::make_unique<pools::RedisConnection>(_redis);
    } catch (const std::exception& e) {
        logger().warning("queue consumer waiting for Redis: %s", std::string(e.what()));
        _conn.reset();
        return false;
    }
    Reply r =
        _conn->command({"XGROUP", "CREATE", _settings.stream, _settings.group, "0", "MKSTREAM"});
    if (!r) return false;
    if (r->type == REDIS_REPLY_ERROR &&
        pools::replyText(r.get()).find("BUSYGROUP") == std::string::npos) {
        logger().error("cannot create consumer group: %s", pools::replyText(r.get()));
        // E.g. LOADING after a Redis restart. Kept, the connection would look
        // healthy and our pending entries would wait for XAUTOCLAIM.
        _conn.reset();
        return false;
    }
    return true;
}

void StreamConsumer::read(const std::string& fromId, std::size_t count, int blockMs,
                          std::vector<StreamEntry>& out, std::string* lastId) {
    if (!connected()) return;
    std::string countText = std::to_string(count);
    std::vector<std::string_view> argv{"XREADGROUP",       "GROUP", _settings.group,
                                       _settings.consumer, "COUNT", countText};
    std::string block = std::to_string(blockMs);
    if (blockMs > 0) {
        argv.push_back("BLOCK");
        argv.push_back(block);
    }
    argv.push_back("STREAMS");
    argv.push_back(_settings.stream);
    argv.push_back(fromId);
    const std::size_t before = out.size();
    Reply r = _conn->command(argv);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        if (r && r->type == REDIS_REPLY_ERROR) {
            logger().error("XREADGROUP: %s", pools::replyText(r.get()));
            if (pools::replyText(r.get()).find("NOGROUP") != std::string::npos) setup();
        }
        return;
    }
    for (std::size_t s = 0; s < r->elements; ++s) {
        const redisReply* entries = r->element[s]->element[1];
        for (std::size_t i = 0; i < entries->elements; ++i) {
            std::string id;
            bool present = toEntries(entries->element[i], out, id);
            if (lastId) *lastId = id;
            if (!present) {
                // Pending but already deleted: only the acknowledgement was lost.
                _conn->command({"XACK", _settings.stream, _settings.group, id});
            }
        }
    }
    if (fromId != ">") annotatePrior(out, before); // our own pending list: read before (a restart)
}

void StreamConsumer::claimIdle(std::size_t count, std::vector<StreamEntry>& out) {
    if (!connected()) return;
    std::string idle = std::to_string(_settings.claimIdleMs);
    std::string countText = std::to_string(count);
    Reply r = _conn->command({"XAUTOCLAIM", _settings.stream, _settings.group, _settings.consumer,
                              idle, "0-0", "COUNT", countText});
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2) return;
    const redisReply* list = r->element[1];
    const std::size_t before = out.size();
    for (std::size_t i = 0; i < list->elements; ++i) {
        const redisReply* entry = list->element[i];
        if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 2) continue;
        std::string id;
        toEntries(entry, out, id);
    }
    annotatePrior(out, before);
}

namespace {

/// A stream id's (ms, seq), for ordering.
std::pair<std::uint64_t, std::uint64_t> idKey(const std::string& id) {
    const auto dash = id.find('-');
    try {
        return {std::stoull(id.substr(0, dash)), dash == std::string::npos ? 0 : std::stoull(id.substr(dash + 1))};
    } catch (const std::exception&) {
        return {0, 0};
    }
}

} // namespace

void StreamConsumer::annotatePrior(std::vector<StreamEntry>& out, std::size_t from) {
    for (std::size_t i = from; i < out.size(); ++i)
        out[i].redelivered = true;
    if (from >= out.size() || !connected()) return;
    // Deliveries so far (this one included), from the group's pending list.
    std::string lo = out[from].entryId(), hi = out[from].entryId();
    for (std::size_t i = from; i < out.size(); ++i) {
        if (idKey(out[i].entryId()) < idKey(lo)) lo = out[i].entryId();
        if (idKey(hi) < idKey(out[i].entryId())) hi = out[i].entryId();
    }
    std::map<std::string, std::int64_t> deliveries;
    const std::string count = std::to_string(out.size() - from);
    Reply p = _conn->command({"XPENDING", _settings.stream, _settings.group, lo, hi, count, _settings.consumer});
    if (p && p->type == REDIS_REPLY_ARRAY)
        for (std::size_t i = 0; i < p->elements; ++i) {
            const redisReply* e = p->element[i];
            if (e->type == REDIS_REPLY_ARRAY && e->elements >= 4 && e->element[3]->type == REDIS_REPLY_INTEGER)
                deliveries[str(e->element[0])] = e->element[3]->integer;
        }
    // A host that retried it in-process (no redelivery) left its count in
    // the task's "retrying" record (when statuses are on): one round trip.
    std::vector<std::size_t> asked;
    if (_settings.statusTtlSec > 0) {
        for (std::size_t i = from; i < out.size(); ++i)
            if (!out[i].guid.empty()) {
                _conn->append({"GET", statusKey(_settings.stream, out[i].guid)});
                asked.push_back(i);
            }
    }
    std::map<std::size_t, std::int64_t> retried;
    for (std::size_t i : asked) {
        Reply r = _conn->reply();
        if (!r) return; // the connection broke: the next setup() starts afresh
        if (r->type != REDIS_REPLY_STRING) continue;
        try {
            const dora::sdk::Value rec = dora::wire::fromJson(std::string_view(r->str, r->len));
            const dora::sdk::Value* state = rec.find("state");
            const dora::sdk::Value* attempts = rec.find("attempts");
            const dora::sdk::Value* entry = rec.find("entry");
            if (state && state->isString() && state->asString() == "retrying" && attempts && attempts->isInt() &&
                entry && entry->isString() && entry->asString() == out[i].id)
                retried[i] = attempts->asInt();
        } catch (const std::exception&) { // NOLINT(bugprone-empty-catch): not a record we wrote; ignored
        }
    }
    for (std::size_t i = from; i < out.size(); ++i) {
        auto d = deliveries.find(out[i].entryId());
        std::int64_t prior = d != deliveries.end() ? d->second - 1 : 0;
        if (auto t = retried.find(i); t != retried.end()) prior = std::max(prior, t->second);
        out[i].prior = static_cast<int>(std::clamp<std::int64_t>(prior, 0, 1000000));
    }
}

bool StreamConsumer::settle(const std::vector<DeadLetter>& dead, const std::vector<std::string_view>& ack,
                            const std::vector<std::pair<std::string, std::string>>& status,
                            const std::vector<std::pair<std::string_view, std::string_view>>& applied) {
    if (!connected()) return false;
    std::size_t appended = 0;
    for (const DeadLetter& d : dead) {
        const StreamEntry* e = d.entry;
        _conn->append({"XADD", _settings.deadLetterStream, "*", "entry", e->id, "reason", d.reason,
                       "type", e->type, "guid", e->guid, "calls", e->calls, "origin", e->taskBase()});
        ++appended;
    }
    if (!ack.empty()) {
        std::vector<std::string_view> xack{"XACK", _settings.stream, _settings.group};
        std::vector<std::string_view> xdel{"XDEL", _settings.stream};
        xack.reserve(ack.size() + 3);
        xdel.reserve(ack.size() + 2);
        for (const auto& id : ack) {
            xack.push_back(id);
            xdel.push_back(id);
        }
        _conn->append(xack);
        _conn->append(xdel);
        appended += 2;
    }
    const std::string ttl = std::to_string(_settings.statusTtlSec);
    for (const auto& [key, record] : status) {
        _conn->append({"SET", key, record, "EX", ttl});
        ++appended;
    }
    if (!applied.empty()) {
        const int ttlSec = _settings.statusTtlSec;
        const std::string key = statusHashKey(_settings.stream, 'a', unixMs() / 1000, ttlSec);
        std::vector<std::string_view> hset{"HSET", key};
        hset.reserve(2 + 2 * applied.size());
        for (const auto& [guid, record] : applied) {
            hset.push_back(guid);
            hset.push_back(record);
        }
        _conn->append(hset);
        const std::string expire = statusHashTtl(ttlSec);
        _conn->append({"EXPIRE", key, expire, "NX"});
        appended += 2;
    }
    bool ok = true;
    for (std::size_t i = 0; i < appended; ++i) {
        Reply r = _conn->reply();
        if (isError(r.get())) ok = false;
    }
    return ok;
}

std::map<std::string, std::int64_t> StreamConsumer::depth() const {
    std::map<std::string, std::int64_t> d{
        {"stream_length", -1}, {"pending", -1}, {"oldest_pending_age_ms", -1}, {"dead_letters", -1}};
    try {
        pools::RedisSettings s = _redis;
        s.commandTimeoutMs = 500;
        s.counters.reset(); // a probe, not one of the host's connections
        pools::RedisConnection c(s);
        if (Reply r = c.command({"XLEN", _settings.stream}); r && r->type == REDIS_REPLY_INTEGER)
            d["stream_length"] = r->integer;
        if (Reply r = c.command({"XPENDING", _settings.stream, _settings.group});
            r && r->type == REDIS_REPLY_ARRAY && r->elements > 1 &&
            r->element[0]->type == REDIS_REPLY_INTEGER) {
            d["pending"] = r->element[0]->integer;
            // The oldest pending entry's id starts with the Redis time (ms)
            // it was stored at; its age on Redis' own clock is the lag.
            std::string oldest = str(r->element[1]);
            Reply t = c.command({"TIME"});
            if (!oldest.empty() && t && t->type == REDIS_REPLY_ARRAY && t->elements == 2) {
                std::int64_t nowMs = std::stoll(str(t->element[0])) * 1000 + std::stoll(str(t->element[1])) / 1000;
                std::int64_t storedMs = std::stoll(oldest.substr(0, oldest.find('-')));
                d["oldest_pending_age_ms"] = std::max<std::int64_t>(0, nowMs - storedMs);
            } else {
                d["oldest_pending_age_ms"] = 0;
            }
        }
        if (Reply r = c.command({"XLEN", _settings.deadLetterStream});
            r && r->type == REDIS_REPLY_INTEGER)
            d["dead_letters"] = r->integer;
    } catch (const std::exception&) { // NOLINT(bugprone-empty-catch): -1 says "unreachable"
    }
    return d;
}

} // namespace dora::queue
