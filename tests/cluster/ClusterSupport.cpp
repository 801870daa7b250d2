#include "cluster/ClusterSupport.h"

#include <dora/sdk/serialize.h>

#include <chrono>
#include <deque>
#include <map>
#include <stdexcept>

namespace dora::test::cluster {

using dora::sdk::Value;

namespace {
constexpr std::int64_t kAccepted = 100001;
constexpr std::int64_t kShuttingDown = 100209;
} // namespace

const char* seenName(Seen s) {
    switch (s) {
    case Seen::Unsent: return "unsent";
    case Seen::NoAnswer: return "no answer";
    case Seen::Ok: return "ok";
    case Seen::Accepted: return "accepted";
    case Seen::ShuttingDown: return "shutting down";
    case Seen::Other: return "other";
    }
    return "?";
}

Load::Load(std::size_t count, Make make, std::size_t threads, std::size_t window, Pick pick,
           bool resendRefused)
    : _count(count), _make(std::move(make)), _seen(new std::atomic<std::int8_t>[count]),
      _codes(new std::atomic<std::int64_t>[count]), _threads(std::max<std::size_t>(1, threads)),
      _window(std::max<std::size_t>(1, window)), _pick(std::move(pick)), _resend(resendRefused) {
    for (std::size_t i = 0; i < _count; ++i) {
        _seen[i] = static_cast<std::int8_t>(Seen::Unsent);
        _codes[i] = -1;
    }
}

Load::~Load() {
    stop();
    join();
}

void Load::start() {
    for (std::size_t t = 0; t < _threads; ++t)
        _workers.emplace_back([this, t] { run(t); });
}

void Load::stop() { _stop = true; }

void Load::join() {
    for (auto& w : _workers)
        if (w.joinable()) w.join();
    _workers.clear();
}

std::size_t Load::count(Seen s) const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < _count; ++i)
        if (seen(i) == s) ++n;
    return n;
}

void Load::run(std::size_t t) {
    std::deque<std::size_t> todo;
    for (std::size_t i = t; i < _count; i += _threads)
        todo.push_back(i);
    while (!todo.empty() && !_stop) {
        std::uint16_t port = _pick();
        if (port == 0) break;
        std::unique_ptr<WireClient> c;
        try {
            c = std::make_unique<WireClient>(port);
        } catch (const std::exception&) { // refused: that host is gone or going
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            continue;
        }
        std::map<std::string, std::size_t> out; // guid => call
        bool sending = true;
        try {
            for (;;) {
                if (_stop) sending = false;
                if (sending) {
                    std::string bytes;
                    while (!todo.empty() && out.size() < _window) {
                        std::size_t i = todo.front();
                        todo.pop_front();
                        std::string guid = newGuid();
                        out[guid] = i;
                        _seen[i] = static_cast<std::int8_t>(Seen::NoAnswer);
                        const CallSpec s = _make(i);
                        bytes += v1Frame(v1Request(guid, s.type, oneCall(s.api, s.param)));
                    }
                    if (!bytes.empty()) c->sendRaw(bytes);
                }
                if (out.empty()) break;
                Value a = dora::sdk::unserialize(c->readFrame(30000));
                const Value* g = a.find("guid");
                const Value* code = a.find("code");
                if (!g || !g->isString() || !code || !code->isInt())
                    throw std::logic_error("answer without guid/code: " + dora::sdk::serialize(a));
                auto it = out.find(g->asString());
                if (it == out.end())
                    throw std::logic_error("answer for a guid never sent: " + g->asString());
                std::size_t i = it->second;
                out.erase(it);
                ++_answered;
                _codes[i] = code->asInt();
                Seen s = code->asInt() == 0           ? Seen::Ok
                         : code->asInt() == kAccepted ? Seen::Accepted
                         : code->asInt() == kShuttingDown ? Seen::ShuttingDown
                                                          : Seen::Other;
                if (s == Seen::ShuttingDown) {
                    ++_refusedAnswers;
                    sending = false; // this host is going: collect what is out, go elsewhere
                    if (_resend) {
                        todo.push_back(i);
                        s = Seen::Unsent;
                    }
                }
                _seen[i] = static_cast<std::int8_t>(s);
            }
        } catch (const std::runtime_error&) { // the connection went
            if (!out.empty()) ++_broken;
        }
    }
}

std::int64_t pendingOf(queue::RedisClient& r, const std::string& stream, const std::string& consumer,
                       const std::string& group) {
    auto rep = r.command({"XPENDING", stream, group});
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 4) return 0;
    const redisReply* list = rep->element[3];
    if (list->type != REDIS_REPLY_ARRAY) return 0;
    for (std::size_t i = 0; i < list->elements; ++i) {
        const redisReply* e = list->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2) continue;
        if (std::string(e->element[0]->str, e->element[0]->len) == consumer)
            return std::stoll(std::string(e->element[1]->str, e->element[1]->len));
    }
    return 0;
}

std::map<std::string, std::int64_t> visitsByName(Db& db, const std::string& likePrefix) {
    std::map<std::string, std::int64_t> out;
    for (const Value& row : db.query("SELECT name, visits FROM users WHERE name LIKE '" + likePrefix + "%'"))
        out[row.find("name")->asString()] = std::stoll(row.find("visits")->asString());
    return out;
}

std::string logTail(const HostProcess& h, std::size_t chars) {
    std::string log = h.log();
    return log.size() > chars ? "..." + log.substr(log.size() - chars) : log;
}

} // namespace dora::test::cluster
