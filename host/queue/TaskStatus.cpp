#include "queue/TaskStatus.h"

#include "queue/Pack.h"

#include "pools/Redis.h"

#include <dora/wire/Json.h>

#include <algorithm>
#include <chrono>

namespace dora::queue {

using dora::sdk::Value;
using pools::Reply;

namespace {

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

int statusSlotSec(int ttlSec) { return std::max(10, (ttlSec + 359) / 360); }

std::string statusHashKey(const std::string& stream, char kind, std::int64_t unixSec, int ttlSec) {
    const int w = statusSlotSec(ttlSec);
    std::string k;
    k.reserve(stream.size() + 32);
    k += stream;
    k += ":status:";
    k += kind;
    k += ':';
    k += std::to_string(unixSec / w);
    return k;
}

std::string statusHashTtl(int ttlSec) { return std::to_string(ttlSec + statusSlotSec(ttlSec)); }

std::string appliedRecord(std::string_view entry, std::string_view node, std::int64_t atMs, int attempts,
                          const std::vector<AppliedCall>& calls) {
    std::string r;
    r.reserve(48 + entry.size() + node.size() + calls.size() * 24);
    appendAppliedRecord(r, entry, node, atMs, attempts, calls);
    return r;
}

void appendAppliedRecord(std::string& r, std::string_view entry, std::string_view node, std::int64_t atMs,
                         int attempts, const std::vector<AppliedCall>& calls) {
    r += '~';
    appendField(r, entry);
    appendField(r, node);
    appendField(r, std::to_string(atMs));
    appendField(r, std::to_string(attempts));
    for (const AppliedCall& c : calls) {
        appendField(r, c.key);
        appendField(r, c.api);
        appendField(r, std::to_string(c.code));
        appendField(r, c.msg == "OK" ? std::string_view() : c.msg);
    }
}

Value appliedStatus(std::string_view record) {
    if (record.empty() || record.front() != '~') return dora::wire::fromJson(record);
    std::size_t at = 1;
    std::string entry, node, when, attempts;
    auto number = [](const std::string& t) {
        std::size_t used = 0;
        const long long v = std::stoll(t, &used);
        if (used != t.size()) throw std::invalid_argument(t);
        return static_cast<std::int64_t>(v);
    };
    try {
        if (!takeField(record, at, entry) || !takeField(record, at, node) || !takeField(record, at, when) ||
            !takeField(record, at, attempts))
            throw std::invalid_argument("head");
        Value out = Value::array();
        out.set("state", "applied");
        out.set("entry", entry);
        out.set("node", node);
        out.set("at", number(when));
        out.set("attempts", number(attempts));
        Value calls = Value::array();
        while (at < record.size()) {
            std::string key, api, code, msg;
            if (!takeField(record, at, key) || !takeField(record, at, api) || !takeField(record, at, code) ||
                !takeField(record, at, msg))
                throw std::invalid_argument("call");
            Value c = Value::array();
            c.set("key", key);
            c.set("api", api);
            c.set("code", number(code));
            c.set("msg", msg.empty() ? std::string("OK") : msg);
            calls.push(std::move(c));
        }
        out.set("calls", std::move(calls));
        return out;
    } catch (const std::exception&) {
        throw std::runtime_error("unreadable applied record at byte " + std::to_string(at));
    }
}

namespace {

/// A record's time: when its outcome was written (at) or it was stored.
std::int64_t recordTime(const Value& rec) {
    const Value* t = rec.find("at");
    if (!t) t = rec.find("stored_at");
    return t && t->isInt() ? t->asInt() : 0;
}

/// The ms time a stream entry id starts with.
std::int64_t entryMs(const std::string& id) {
    try {
        return std::stoll(id.substr(0, id.find('-')));
    } catch (const std::exception&) {
        return 0;
    }
}

} // namespace

namespace {

/// The id of the oldest stream entry whose guid field is `guid`, scanning
/// at most kStatusScanMax entries in pages; "" when none.
std::string findEntry(pools::RedisConnection& c, const std::string& stream, const std::string& guid,
                      std::int64_t& scanned) {
    std::string from = "-";
    while (scanned < kStatusScanMax) {
        Reply r = c.command({"XRANGE", stream, from, "+", "COUNT", "1000"});
        if (!r) throw std::runtime_error("Redis went away: " + c.error());
        if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) return {};
        std::string last;
        for (std::size_t i = 0; i < r->elements; ++i) {
            const redisReply* e = r->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements < 2) continue;
            last = str(e->element[0]);
            const redisReply* f = e->element[1];
            for (std::size_t k = 0; f->type == REDIS_REPLY_ARRAY && k + 1 < f->elements; k += 2) {
                const std::string field = str(f->element[k]);
                if (field == "guid" && str(f->element[k + 1]) == guid) return last;
                if (field == "pack") { // several requests in one entry (queue/Pack.h)
                    std::vector<PackedTask> tasks;
                    std::string error;
                    if (!unpack(str(f->element[k + 1]), tasks, error)) continue;
                    for (std::size_t t = 0; t < tasks.size(); ++t)
                        if (tasks[t].guid == guid) return packedId(last, t);
                }
            }
        }
        scanned += static_cast<std::int64_t>(r->elements);
        if (r->elements < 1000 || last.empty()) return {};
        from = "(" + last; // exclusive: the next page
    }
    return {};
}

} // namespace

Value readTaskStatus(const pools::RedisSettings& redis, const QueueSettings& settings, std::string_view guid) {
    pools::RedisSettings s = redis;
    s.commandTimeoutMs = 1000;
    s.counters.reset();
    pools::RedisConnection c(s);
    // One round trip: the key record, and the guid's field in every slot
    // a live record can be in.
    const int ttl = settings.statusTtlSec;
    const int w = statusSlotSec(ttl);
    const std::int64_t now = unixMs() / 1000;
    std::vector<std::string> hashes;
    for (std::int64_t t = now - ttl - 2 * w; t <= now + w; t += w) hashes.push_back(statusHashKey(settings.stream, 'a', t, ttl));
    const std::string g(guid);
    const std::string key = statusKey(settings.stream, guid);
    c.append({"GET", key});
    for (const auto& h : hashes) c.append({"HGET", h, g});
    Reply k = c.reply();
    if (!k) throw std::runtime_error("Redis went away: " + c.error());
    if (k->type == REDIS_REPLY_ERROR) throw std::runtime_error("unexpected reply: " + pools::replyText(k.get()));
    Value rec, applied;
    bool haveRec = false, haveApplied = false;
    if (k->type == REDIS_REPLY_STRING) {
        rec = dora::wire::fromJson(std::string_view(k->str, k->len));
        haveRec = true;
    }
    for (std::size_t i = 0; i < hashes.size(); ++i) {
        Reply r = c.reply();
        if (!r) throw std::runtime_error("Redis went away: " + c.error());
        if (r->type != REDIS_REPLY_STRING) continue;
        Value a = appliedStatus(std::string_view(r->str, r->len));
        if (!haveApplied || recordTime(a) >= recordTime(applied)) applied = std::move(a);
        haveApplied = true;
    }
    Value out = Value::array();
    out.set("guid", g);
    // The newest outcome wins: an entry retried (or dead, then redriven)
    // and then applied is applied.
    if (haveApplied && (!haveRec || recordTime(applied) >= recordTime(rec))) {
        for (const auto& e : applied.asArray()) out.set(e.key, e.value);
        return out;
    }
    std::string entry;
    if (haveRec) {
        for (const auto& e : rec.asArray()) out.set(e.key, e.value);
        const Value* state = rec.find("state");
        const Value* id = rec.find("entry");
        if (!(state && state->isString() && state->asString() == "queued" && id && id->isString())) return out;
        entry = id->asString();
    } else {
        // No record: queued is not written, it is found. The stream holds
        // only entries not yet settled (each is deleted once acknowledged),
        // so a short scan of it, a page at a time, finds a waiting task.
        std::int64_t scanned = 0, length = -1;
        entry = findEntry(c, settings.stream, g, scanned);
        if (entry.empty()) {
            if (scanned < kStatusScanMax) return Value(); // no such task (or its outcome expired)
            Reply n = c.command({"XLEN", settings.stream});
            if (n && n->type == REDIS_REPLY_INTEGER) length = n->integer;
            out.set("state", "unknown");
            out.set("detail", "no outcome recorded, and not among the first " + std::to_string(scanned) + " of " +
                                  std::to_string(length) + " entries waiting in the stream");
            return out;
        }
        out.set("state", "queued");
        out.set("entry", entry);
        out.set("stored_at", entryMs(entry)); // the id starts with Redis' time of the XADD
    }
    // Delivered to a consumer and not acknowledged: running there.
    const std::string streamId(streamIdOf(entry)); // a packed request's entry
    Reply p = c.command({"XPENDING", settings.stream, settings.group, streamId, streamId, "1"});
    if (p && p->type == REDIS_REPLY_ARRAY && p->elements == 1 && p->element[0]->type == REDIS_REPLY_ARRAY &&
        p->element[0]->elements >= 4) {
        const redisReply* e = p->element[0];
        out.set("state", "running");
        out.set("node", str(e->element[1]));
        out.set("idle_ms", static_cast<std::int64_t>(e->element[2]->integer));
        out.set("deliveries", static_cast<std::int64_t>(e->element[3]->integer));
        return out;
    }
    Reply x = c.command({"XRANGE", settings.stream, streamId, streamId});
    if (x && x->type == REDIS_REPLY_ARRAY && x->elements == 0) {
        // Settled, and its outcome record not written (yet).
        out.set("state", "unknown");
        out.set("detail", "the entry has left the stream; its outcome was not recorded");
    }
    return out;
}

} // namespace dora::queue
