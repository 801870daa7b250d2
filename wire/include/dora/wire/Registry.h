// dora/wire/Registry.h — the DoraRPC v2 service registry's format in Redis
// (PROTOCOL.md §7), shared by the host that writes it, the client that
// reads it and the tests that hold both to it:
//
//   SADD dora.serverlist '{"node":{"ip":"10.0.0.5","port":9567},"group":["default"]}'
//   SET  dora.servertime.10.0.0.5.9567.time <unix seconds>
//
// byte for byte what a DoraRPC server's json_encode writes, so the DoraRPC
// monitor and PHP group configs read dorahost nodes as their own. A
// draining dorahost adds "state":"draining" to its member and writes time
// 0 (the monitor drops it as stale at once; dorahost clients skip it).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dora::wire::registry {

inline constexpr std::string_view kServerList = "dora.serverlist";
/// The DoraRPC monitor's staleness bound: a node whose time is older than
/// this many seconds is dropped.
inline constexpr int kMonitorStaleSec = 20;

struct Node {
    std::string ip;
    std::uint16_t port = 0;
    std::vector<std::string> groups;
    bool draining = false;
    std::string address() const; ///< "ip:port" ("[v6]:port")
};

/// The set member for a node, as DoraRPC's json_encode writes it (groups
/// are names of [A-Za-z0-9_.-], which json_encode leaves unescaped).
std::string member(const Node& node);
/// Reads a member; false (out untouched) if it is not a node's JSON:
/// node.ip a string, node.port an integer (or a decimal string, as PHP
/// may write it) in 1..65535, group a list of strings.
bool parseMember(std::string_view json, Node& out);
/// "dora.servertime.<ip>.<port>.time"
std::string timeKey(std::string_view ip, std::uint16_t port);

} // namespace dora::wire::registry
