// app/Logging.h — where the host's log goes and in which shape
// (server.log_format): `text`, one human line per message, or `json`, one
// JSON object per line for log shippers:
//   {"time":"2026-12-01T16:04:09.123Z","level":"notice","logger":"dorahost.events",
//    "msg":"refused guid=... api=...","event":"refused","guid":"...","api":"...",
//    "code":100203,"peer":"127.0.0.1:50312","detail":"..."}
// The fields after "msg" are those the message carries (stats::EventLog's).
#pragma once

#include <Poco/Formatter.h>

#include <string>

namespace dora::app {

/// Formats a Poco message as one line of JSON (no newline).
class JsonLogFormatter : public Poco::Formatter {
public:
    void format(const Poco::Message& msg, std::string& text) override;
};

/// Root logger to stderr in `format` ("text" | "json") at `level`.
void setupLogging(const std::string& level, const std::string& format);

/// Appends s as a JSON string literal: control characters escaped, bytes
/// that are not UTF-8 replaced by U+FFFD (the output is always valid JSON).
void appendJsonString(std::string& out, const std::string& s);

} // namespace dora::app
