// pools/RedisSettings.h — where the host's Redis is. Apart from Redis.h so
// that headers which only pass settings along do not pull in hiredis.
#pragma once

#include <string>

namespace dora::pools {

struct RedisSettings {
    std::string socket; ///< unix socket; wins over host/port when set
    std::string host = "127.0.0.1";
    int port = 6379;
    int connectTimeoutMs = 1000;
    int commandTimeoutMs = 0; ///< 0 = none (blocking reads need none)
    std::string describe() const {
        return socket.empty() ? host + ":" + std::to_string(port) : "unix:" + socket;
    }
};

} // namespace dora::pools
