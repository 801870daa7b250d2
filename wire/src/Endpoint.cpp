#include <dora/wire/Endpoint.h>


#include <arpa/inet.h>

#include <cctype>
#include <charconv>
#include <system_error>
#include <stdexcept>

namespace dora::wire {

namespace {

bool isIpv6(const std::string& host) {
    in6_addr addr{};
    return inet_pton(AF_INET6, host.c_str(), &addr) == 1;
}

bool looksLikeIpv4(const std::string& host) {
    for (char c : host) {
        if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.') return false;
    }
    return true;
}

/// Letters, digits, '.', '-' and '_'; not empty.
bool isHostName(const std::string& h) {
    if (h.empty()) return false;
    for (char ch : h) {
        auto c = static_cast<unsigned char>(ch);
        if (!((c < 0x80 && std::isalnum(c)) || ch == '.' || ch == '-' || ch == '_')) return false;
    }
    return true;
}

} // namespace

std::string Endpoint::toString() const {
    std::string p = std::to_string(port);
    return host.find(':') != std::string::npos ? "[" + host + "]:" + p : host + ":" + p;
}

Endpoint parseEndpoint(std::string_view text) {
    const std::string shown = "'" + std::string(text) + "'";
    auto bad = [&](const std::string& why) {
        return std::invalid_argument(why + ": expected host:port, [ipv6]:port or :port, got " +
                                     shown);
    };
    Endpoint ep;
    std::string_view portText;
    if (!text.empty() && text.front() == '[') {
        std::size_t close = text.find(']');
        if (close == std::string_view::npos) throw bad("missing ']'");
        ep.host = std::string(text.substr(1, close - 1));
        if (!isIpv6(ep.host)) throw bad("invalid IPv6 address '" + ep.host + "'");
        if (close + 1 >= text.size() || text[close + 1] != ':') throw bad("missing ':port'");
        portText = text.substr(close + 2);
    } else {
        std::size_t colon = text.rfind(':');
        if (colon == std::string_view::npos) throw bad("missing ':port'");
        ep.host = std::string(text.substr(0, colon));
        portText = text.substr(colon + 1);
        if (ep.host.find(':') != std::string::npos) {
            throw bad("IPv6 addresses must be in brackets");
        }
        if (ep.host.empty()) {
            ep.host = "0.0.0.0";
        } else if (looksLikeIpv4(ep.host)) {
            in_addr addr{};
            if (inet_pton(AF_INET, ep.host.c_str(), &addr) != 1) {
                throw bad("invalid IPv4 address '" + ep.host + "'");
            }
        } else {
            if (!isHostName(ep.host)) throw bad("invalid host name '" + ep.host + "'");
        }
    }
    int port = 0;
    auto [ptr, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), port);
    if (portText.empty() || ec != std::errc() || ptr != portText.data() + portText.size() || port < 0 ||
        port > 65535)
        throw bad("invalid port '" + std::string(portText) + "' (0..65535)");
    ep.port = static_cast<std::uint16_t>(port);
    return ep;
}

} // namespace dora::wire
