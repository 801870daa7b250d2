#include "stats/EventLog.h"

#include <Poco/Logger.h>
#include <Poco/Message.h>

#include <chrono>

namespace dora::stats {

namespace {

const char* kindName(EventLog::Kind k) {
    switch (k) {
    case EventLog::Kind::Refused: return "refused";
    case EventLog::Kind::Failed: return "failed";
    case EventLog::Kind::DeadLetter: return "dead_letter";
    }
    return "event";
}

std::int64_t nowSecond() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

} // namespace

std::string logSafe(std::string_view s, std::size_t max) {
    std::string out;
    const std::size_t n = s.size() < max ? s.size() : max;
    out.reserve(n + 3);
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        out += c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c);
    }
    if (s.size() > max) out += "...";
    return out;
}

Poco::Logger& EventLog::logger() {
    Poco::Logger* l = _logger.load(std::memory_order_acquire);
    if (!l) {
        l = &Poco::Logger::get("dorahost.events");
        _logger.store(l, std::memory_order_release);
    }
    return *l;
}

bool EventLog::admit() {
    const int limit = _limit.load(std::memory_order_relaxed);
    if (limit <= 0) return false;
    const std::int64_t sec = nowSecond();
    std::int64_t cur = _second.load(std::memory_order_relaxed);
    if (sec != cur && _second.compare_exchange_strong(cur, sec, std::memory_order_relaxed)) {
        // This thread opened the new second: report what the last one held back.
        _inSecond.store(0, std::memory_order_relaxed);
        const std::uint64_t k = _held.exchange(0, std::memory_order_relaxed);
        if (k > 0) reportSuppressed(k);
    }
    if (_inSecond.fetch_add(1, std::memory_order_relaxed) < static_cast<std::uint64_t>(limit)) return true;
    _held.fetch_add(1, std::memory_order_relaxed);
    _suppressedTotal.fetch_add(1, std::memory_order_relaxed);
    return false;
}

void EventLog::reportSuppressed(std::uint64_t k) {
    Poco::Message m("dorahost.events",
                    "suppressed " + std::to_string(k) + " event line(s) over server.log_events_per_sec (" +
                        std::to_string(_limit.load(std::memory_order_relaxed)) + "/s)",
                    Poco::Message::PRIO_WARNING);
    m.set("event", "suppressed");
    m.set("suppressed", std::to_string(k));
    logger().log(m);
}

void EventLog::flush() {
    const std::uint64_t k = _held.exchange(0, std::memory_order_relaxed);
    if (k > 0) reportSuppressed(k);
}

void EventLog::event(Kind kind, std::string_view guid, std::string_view api, int code, std::string_view peer,
                     std::string_view msg, std::string_view node) {
    auto& log = logger();
    const auto prio = kind == Kind::DeadLetter ? Poco::Message::PRIO_WARNING : Poco::Message::PRIO_NOTICE;
    if (!log.is(prio)) return; // below the log level: not even counted
    if (!admit()) return;
    _logged.fetch_add(1, std::memory_order_relaxed);
    const std::string g = guid.empty() ? std::string("-") : logSafe(guid, 64);
    const std::string a = api.empty() ? std::string("-") : logSafe(api, 128);
    const std::string p = peer.empty() ? std::string("-") : logSafe(peer, 64);
    const std::string c = std::to_string(code);
    std::string text = kindName(kind);
    text += " guid=" + g + " api=" + a + " code=" + c + " peer=" + p;
    if (!node.empty()) text += " node=" + logSafe(node, 128);
    text += ": " + logSafe(msg, 300);
    Poco::Message m("dorahost.events", text, prio);
    m.set("event", kindName(kind));
    m.set("guid", g);
    m.set("api", a);
    m.set("code", c);
    m.set("peer", p);
    if (!node.empty()) m.set("node", logSafe(node, 128));
    m.set("detail", logSafe(msg, 300));
    log.log(m);
}

} // namespace dora::stats
