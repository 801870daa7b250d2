#include "app/Logging.h"

#include <Poco/AutoPtr.h>
#include <Poco/ConsoleChannel.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/FormattingChannel.h>
#include <Poco/Logger.h>
#include <Poco/Message.h>
#include <Poco/PatternFormatter.h>

#include <array>
#include <iostream>

#include <sys/syscall.h>
#include <unistd.h>

namespace dora::app {

namespace {

const char* levelName(Poco::Message::Priority p) {
    switch (p) {
    case Poco::Message::PRIO_FATAL: return "fatal";
    case Poco::Message::PRIO_CRITICAL: return "critical";
    case Poco::Message::PRIO_ERROR: return "error";
    case Poco::Message::PRIO_WARNING: return "warning";
    case Poco::Message::PRIO_NOTICE: return "notice";
    case Poco::Message::PRIO_INFORMATION: return "information";
    case Poco::Message::PRIO_DEBUG: return "debug";
    case Poco::Message::PRIO_TRACE: return "trace";
    }
    return "information";
}

/// Length of the valid UTF-8 sequence at s[i], 0 if there is none.
std::size_t utf8Len(const std::string& s, std::size_t i) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    std::size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 0;
    if (n == 0 || i + n > s.size()) return 0;
    for (std::size_t k = 1; k < n; ++k)
        if ((b(i + k) & 0xc0) != 0x80) return 0;
    if (n == 3 && ((c == 0xe0 && b(i + 1) < 0xa0) || (c == 0xed && b(i + 1) >= 0xa0))) return 0; // overlong, surrogate
    if (n == 4 && ((c == 0xf0 && b(i + 1) < 0x90) || (c == 0xf4 && b(i + 1) >= 0x90))) return 0;
    return n;
}

/// Fields stats::EventLog sets, in this order; "code" and "suppressed" are numbers.
constexpr std::array<const char*, 8> kFields = {"event", "guid", "api", "code", "peer", "node", "detail", "suppressed"};

} // namespace

void appendJsonString(std::string& out, const std::string& s) {
    static const char* hex = "0123456789abcdef";
    out += '"';
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
            ++i;
        } else if (c < 0x20 || c == 0x7f) {
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 15];
            ++i;
        } else if (c < 0x80) {
            out += static_cast<char>(c);
            ++i;
        } else if (std::size_t n = utf8Len(s, i)) {
            out.append(s, i, n);
            i += n;
        } else {
            out += "\\ufffd";
            ++i;
        }
    }
    out += '"';
}

void JsonLogFormatter::format(const Poco::Message& msg, std::string& text) {
    text.reserve(text.size() + 160 + msg.getText().size());
    text += "{\"time\":\"";
    text += Poco::DateTimeFormatter::format(msg.getTime(), "%Y-%m-%dT%H:%M:%S.%iZ");
    text += "\",\"level\":\"";
    text += levelName(msg.getPriority());
    text += "\",\"logger\":";
    appendJsonString(text, msg.getSource());
    // The OS thread id (Poco's getTid() is 0 on threads Poco did not start);
    // the channel writes on the logging thread, so this is the caller's.
    text += ",\"thread\":";
    text += std::to_string(static_cast<long>(::syscall(SYS_gettid)));
    text += ",\"msg\":";
    appendJsonString(text, msg.getText());
    for (const char* f : kFields) {
        if (!msg.has(f)) continue;
        text += ",\"";
        text += f;
        text += "\":";
        const std::string& v = msg.get(f);
        const bool number = (std::string_view(f) == "code" || std::string_view(f) == "suppressed") && !v.empty() &&
                            v.find_first_not_of("-0123456789") == std::string::npos;
        if (number)
            text += v;
        else
            appendJsonString(text, v);
    }
    text += '}';
}

void setupLogging(const std::string& level, const std::string& format) {
    Poco::AutoPtr<Poco::Formatter> fmt;
    if (format == "json")
        fmt = new JsonLogFormatter;
    else
        fmt = new Poco::PatternFormatter("%Y-%m-%d %H:%M:%S.%i %p %s: %t");
    Poco::AutoPtr<Poco::FormattingChannel> ch(new Poco::FormattingChannel(fmt, new Poco::ConsoleChannel(std::cerr)));
    Poco::Logger::root().setChannel(ch);
    Poco::Logger::root().setLevel(level);
}

} // namespace dora::app
