// stats/EventLog.h — the log of what went wrong for a client: every refused
// request, failed call and dead letter, one line each, with guid, api,
// code and peer (logger `dorahost.events`; in `log_format: json` these are
// fields of their own). A successful call never reaches it.
//
// Rate-limited so a flood of bad requests cannot flood the log: at most
// server.log_events_per_sec lines per second; what is held back is counted
// and reported in one "suppressed K" line, written with the first event of
// a later second (or at stop). Lock-free: a few atomics per event.
#pragma once

#include <atomic>

namespace Poco {
class Logger;
}
#include <cstdint>
#include <string>
#include <string_view>

namespace dora::stats {

/// A peer address copied into a fixed buffer (no allocation), for answers
/// that leave after their connection's record may be gone.
struct PeerText {
    char text[64];
    std::uint8_t len = 0;
    PeerText() = default;
    explicit PeerText(std::string_view p) { assign(p); }
    void assign(std::string_view p) {
        len = static_cast<std::uint8_t>(p.size() < sizeof text ? p.size() : sizeof text);
        for (std::size_t i = 0; i < len; ++i) text[i] = p[i];
    }
    std::string_view view() const { return {text, len}; }
};

class EventLog {
public:
    enum class Kind { Refused, Failed, DeadLetter };

    /// Lines per second at most; 0: none. Set before serving.
    void setLimit(int perSec) { _limit.store(perSec < 0 ? 0 : perSec, std::memory_order_relaxed); }

    /// One event. Thread-safe; any thread. `node` names the host that ran
    /// a queued task (dead letters), empty otherwise.
    void event(Kind kind, std::string_view guid, std::string_view api, int code, std::string_view peer,
               std::string_view msg, std::string_view node = {});
    void refused(std::string_view guid, std::string_view api, int code, std::string_view peer,
                 std::string_view msg) {
        event(Kind::Refused, guid, api, code, peer, msg);
    }
    void failed(std::string_view guid, std::string_view api, int code, std::string_view peer,
                std::string_view msg) {
        event(Kind::Failed, guid, api, code, peer, msg);
    }
    /// Writes a pending "suppressed" line now (at stop).
    void flush();

    std::uint64_t logged() const { return _logged.load(std::memory_order_relaxed); }
    std::uint64_t suppressed() const { return _suppressedTotal.load(std::memory_order_relaxed); }

private:
    bool admit();
    void reportSuppressed(std::uint64_t k);
    /// `dorahost.events`, looked up once (Poco's Logger::get takes a global
    /// lock: not once per event of a flood).
    Poco::Logger& logger();

    std::atomic<Poco::Logger*> _logger{nullptr};
    std::atomic<int> _limit{100};
    std::atomic<std::int64_t> _second{-1};
    std::atomic<std::uint64_t> _inSecond{0};
    std::atomic<std::uint64_t> _held{0}; ///< suppressed since the last report
    std::atomic<std::uint64_t> _logged{0}, _suppressedTotal{0};
};

/// Text for a log line from client-supplied bytes: control characters
/// become '?', at most `max` bytes are kept (then "...").
std::string logSafe(std::string_view s, std::size_t max);

} // namespace dora::stats
