#include <dora/wire/Json.h>
#include <dora/wire/Registry.h>

namespace dora::wire::registry {

using dora::sdk::Value;

std::string Node::address() const {
    std::string p = std::to_string(port);
    return ip.find(':') != std::string::npos ? "[" + ip + "]:" + p : ip + ":" + p;
}

std::string member(const Node& node) {
    // Written by hand, not through toJson: the key order and the number
    // format must be json_encode's exactly, whatever the JSON codec does.
    std::string out = R"({"node":{"ip":")";
    out += node.ip;
    out += R"(","port":)";
    out += std::to_string(node.port);
    out += R"(},"group":[)";
    for (std::size_t i = 0; i < node.groups.size(); ++i) {
        if (i) out += ',';
        out += '"';
        out += node.groups[i];
        out += '"';
    }
    out += ']';
    if (node.draining) out += R"(,"state":"draining")";
    out += '}';
    return out;
}

bool parseMember(std::string_view json, Node& out) {
    Value v;
    try {
        v = fromJson(json);
    } catch (const std::exception&) {
        return false;
    }
    const Value* node = v.find("node");
    const Value* groups = v.find("group");
    if (!node || !groups || !groups->isArray()) return false;
    const Value* ip = node->find("ip");
    const Value* port = node->find("port");
    if (!ip || !ip->isString() || ip->asString().empty() || !port) return false;
    std::int64_t p = 0;
    if (port->isInt()) {
        p = port->asInt();
    } else if (port->isString()) {
        const std::string& s = port->asString();
        if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos)
            return false;
        p = std::stoll(s);
    } else {
        return false;
    }
    if (p < 1 || p > 65535) return false;
    Node n;
    n.ip = ip->asString();
    n.port = static_cast<std::uint16_t>(p);
    for (const auto& e : groups->asArray()) {
        if (!e.value.isString()) return false;
        n.groups.push_back(e.value.asString());
    }
    const Value* state = v.find("state");
    n.draining = state && state->isString() && state->asString() == "draining";
    out = std::move(n);
    return true;
}

std::string timeKey(std::string_view ip, std::uint16_t port) {
    std::string k = "dora.servertime.";
    k += ip;
    k += '.';
    k += std::to_string(port);
    k += ".time";
    return k;
}

} // namespace dora::wire::registry
