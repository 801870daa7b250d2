// config/ConfigError.h — the one error type of the config layer.
#pragma once

#include <stdexcept>
#include <string>

namespace dora::config {

/// A configuration or route file is wrong. The message is
/// "<where>:<line>: <what>" (line 1-based) when the line is known, else
/// "<where>: <what>". <where> is the file path as the caller gave it, or
/// "environment variable NAME" for an environment override.
class ConfigError : public std::runtime_error {
public:
    ConfigError(const std::string& where, int line, const std::string& what)
        : std::runtime_error(line > 0 ? where + ":" + std::to_string(line) + ": " + what
                                      : where + ": " + what),
          _where(where), _line(line) {}

    const std::string& where() const { return _where; }
    /// 1-based; 0 when the error is not about one line.
    int line() const { return _line; }

private:
    std::string _where;
    int _line;
};

} // namespace dora::config
