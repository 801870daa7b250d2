#include "queue/DeadLetters.h"

#include "pools/Redis.h"
#include "protocol/Request.h"
#include "queue/TaskStatus.h"

#include <dora/sdk/serialize.h>
#include <dora/wire/Json.h>

#include <map>
#include <stdexcept>
#include <vector>

namespace dora::queue {

using dora::sdk::Value;
using pools::Reply;

namespace {

std::string str(const redisReply* r) {
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) ? std::string(r->str, r->len)
                                                                                   : std::string();
}

struct Letter {
    std::string id;
    std::map<std::string, std::string> fields;
    std::string field(const char* k) const {
        auto it = fields.find(k);
        return it == fields.end() ? std::string() : it->second;
    }
};

std::vector<Letter> letters(const redisReply* r) {
    std::vector<Letter> out;
    if (!r || r->type != REDIS_REPLY_ARRAY) return out;
    for (std::size_t i = 0; i < r->elements; ++i) {
        const redisReply* e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2) continue;
        Letter l;
        l.id = str(e->element[0]);
        const redisReply* f = e->element[1];
        for (std::size_t j = 0; f && j + 1 < f->elements; j += 2) l.fields[str(f->element[j])] = str(f->element[j + 1]);
        out.push_back(std::move(l));
    }
    return out;
}

pools::RedisConnection connect(const pools::RedisSettings& redis) {
    pools::RedisSettings s = redis;
    s.commandTimeoutMs = 2000;
    s.counters.reset();
    return pools::RedisConnection(s);
}

Reply must(pools::RedisConnection& c, const std::vector<std::string_view>& argv) {
    Reply r = c.command(argv);
    if (!r) throw std::runtime_error("Redis went away: " + c.error());
    if (r->type == REDIS_REPLY_ERROR) throw std::runtime_error("Redis refused " + std::string(argv[0]) + ": " + pools::replyText(r.get()));
    return r;
}

/// A letter as listed: no call parameters.
Value summary(const Letter& l) {
    Value v = Value::array();
    v.set("id", l.id);
    v.set("entry", l.field("entry"));
    v.set("origin", l.field("origin").empty() ? l.field("entry") : l.field("origin"));
    v.set("guid", l.field("guid"));
    v.set("type", l.field("type"));
    v.set("reason", l.field("reason"));
    Value apis = Value::array();
    std::vector<protocol::Call> calls;
    std::string error;
    if (protocol::decodeCalls(l.field("calls"), calls, error))
        for (const auto& c : calls) apis.push(c.api);
    v.set("apis", std::move(apis));
    return v;
}

} // namespace

DeadLetters::DeadLetters(pools::RedisSettings redis, QueueSettings settings)
    : _redis(std::move(redis)), _settings(std::move(settings)) {}

bool DeadLetters::validId(const std::string& id) {
    if (id == "all") return true;
    std::size_t dash = id.find('-');
    if (dash == 0 || dash == std::string::npos || dash + 1 == id.size() || id.size() > 41) return false;
    for (std::size_t i = 0; i < id.size(); ++i)
        if (i != dash && (id[i] < '0' || id[i] > '9')) return false;
    return true;
}

Value DeadLetters::list(std::size_t max) const {
    auto c = connect(_redis);
    Reply n = must(c, {"XLEN", _settings.deadLetterStream});
    std::string count = std::to_string(max);
    Reply r = must(c, {"XRANGE", _settings.deadLetterStream, "-", "+", "COUNT", count});
    Value out = Value::array();
    out.set("dead_letters", static_cast<std::int64_t>(n->integer));
    Value list = Value::array();
    for (const auto& l : letters(r.get())) list.push(summary(l));
    out.set("letters", std::move(list));
    return out;
}

Value DeadLetters::show(const std::string& id) const {
    auto c = connect(_redis);
    Reply r = must(c, {"XRANGE", _settings.deadLetterStream, id, id});
    auto found = letters(r.get());
    if (found.empty()) return Value();
    const Letter& l = found.front();
    Value v = summary(l);
    Value calls = Value::array();
    std::vector<protocol::Call> decoded;
    std::string error;
    if (protocol::decodeCalls(l.field("calls"), decoded, error)) {
        for (const auto& call : decoded) {
            Value cv = Value::array();
            cv.set("key", call.key.toString());
            cv.set("api", call.api);
            try {
                cv.set("param", call.params.empty() ? Value() : dora::sdk::unserialize(call.params));
            } catch (const std::exception& e) {
                cv.set("param_error", std::string(e.what()));
            }
            calls.push(std::move(cv));
        }
    } else {
        v.set("calls_error", error);
    }
    v.set("calls", std::move(calls));
    return v;
}

std::size_t DeadLetters::redrive(const std::string& id) const {
    auto c = connect(_redis);
    std::size_t moved = 0;
    const std::string ttl = std::to_string(_settings.statusTtlSec);
    // Oldest first, a page at a time; each letter moves in one MULTI (the
    // stream gets it and the dead-letter stream loses it together).
    for (;;) {
        Reply r = id == "all" ? must(c, {"XRANGE", _settings.deadLetterStream, "-", "+", "COUNT", "100"})
                              : must(c, {"XRANGE", _settings.deadLetterStream, id, id});
        auto page = letters(r.get());
        if (page.empty()) break;
        for (const auto& l : page) {
            std::string origin = l.field("origin").empty() ? l.field("entry") : l.field("origin");
            std::string type = l.field("type"), guid = l.field("guid"), calls = l.field("calls");
            // The status says queued before the task can run, so a consumer's
            // outcome always comes after it; the entry id is filled in after
            // EXEC unless an outcome was recorded meanwhile.
            const bool tracked = _settings.statusTtlSec > 0 && !guid.empty();
            const std::string key = tracked ? statusKey(_settings.stream, guid) : std::string();
            std::string before;
            if (tracked) {
                Value rec = Value::array();
                rec.set("state", "queued");
                rec.set("stored_at", unixMs());
                rec.set("redriven_from", l.id);
                before = dora::wire::toJson(rec);
                must(c, {"SET", key, before, "EX", ttl});
            }
            must(c, {"MULTI"});
            must(c, {"XADD", _settings.stream, "*", "type", type, "guid", guid, "calls", calls, "origin", origin});
            must(c, {"XDEL", _settings.deadLetterStream, l.id});
            Reply done = must(c, {"EXEC"});
            if (done->type != REDIS_REPLY_ARRAY || done->elements != 2 || done->element[0]->type != REDIS_REPLY_STRING)
                throw std::runtime_error("redrive of " + l.id + " failed: " + pools::replyText(done.get()));
            ++moved;
            if (tracked) {
                Value rec = dora::wire::fromJson(before);
                rec.set("entry", str(done->element[0]));
                std::string after = dora::wire::toJson(rec);
                must(c, {"EVAL",
                         "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                         "return redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) end return 0",
                         "1", key, before, after, ttl});
            }
        }
        if (id != "all") break;
    }
    return moved;
}

std::size_t DeadLetters::purge(const std::string& id) const {
    auto c = connect(_redis);
    if (id == "all") {
        Reply n = must(c, {"XLEN", _settings.deadLetterStream});
        must(c, {"XTRIM", _settings.deadLetterStream, "MAXLEN", "0"});
        return static_cast<std::size_t>(n->integer);
    }
    Reply r = must(c, {"XDEL", _settings.deadLetterStream, id});
    return static_cast<std::size_t>(r->integer);
}

} // namespace dora::queue
