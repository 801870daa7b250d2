#include <dora/client/Result.h>

namespace dora::client {

std::string describeCode(int c) {
    switch (c) {
    case 0:
        return "OK";
    case 100001:
        return "accepted";
    case 100002:
        return "unknown request type";
    case 100003:
        return "api missing or empty";
    case 100004:
        return "HTTP parameters wrong";
    case 100005:
        return "signature check failed (v2)";
    case 100006:
        return "packet type wrong";
    case 100007:
        return "packet length invalid";
    case 100008:
        return "guid mismatch";
    case 100009:
        return "receive timeout";
    case 100010:
        return "no server reachable / signature check failed (v1)";
    case 100011:
        return "unknown control command";
    case 100012:
        return "connection closed before the result";
    case 100200:
        return "no such route";
    case 100201:
        return "handler failed";
    case 100202:
        return "server busy";
    case 100203:
        return "handler timeout";
    case 100204:
        return "async queue unavailable";
    case 100205:
        return "too many calls in one request";
    case 100206:
        return "too many requests in flight";
    case 100207:
        return "mode not allowed for the route";
    case 100208:
        return "database down";
    case 100209:
        return "server shutting down";
    case 100210:
        return "bad parameter";
    case 100211:
        return "not found";
    case 100212:
        return "conflict";
    default:
        return "code " + std::to_string(c);
    }
}

} // namespace dora::client
