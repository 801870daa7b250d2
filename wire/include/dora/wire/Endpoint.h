// dora/wire/Endpoint.h — a "host:port" listen or connect address.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dora::wire {

/// A host and a port. The host is kept as text (a name, an IPv4 address or
/// an IPv6 address without brackets); resolving it is the network layer's job.
struct Endpoint {
    std::string host;
    std::uint16_t port = 0;

    /// "host:port", or "[v6addr]:port" when the host is an IPv6 address.
    std::string toString() const;

    bool operator==(const Endpoint& o) const { return host == o.host && port == o.port; }
    bool operator!=(const Endpoint& o) const { return !(*this == o); }
};

/// Parses "host:port", "[ipv6]:port" or ":port" (host "0.0.0.0": every IPv4
/// interface; write "[::]:port" for every IPv6 interface). The port is
/// 0..65535; 0 asks the OS for a free port (tests bind so). The host is a
/// name made of letters, digits, '.', '-', '_', or an IP address; IPv6
/// addresses must be bracketed.
/// Throws std::invalid_argument with a reason (no location: callers add it).
Endpoint parseEndpoint(std::string_view text);

} // namespace dora::wire
