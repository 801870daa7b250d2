#include "queue/Pack.h"

namespace dora::queue {

void appendField(std::string& out, std::string_view v) {
    out += std::to_string(v.size());
    out += ':';
    out.append(v.data(), v.size());
}

bool takeField(std::string_view pack, std::size_t& at, std::string& out) {
    std::size_t len = 0, digits = 0;
    while (at < pack.size() && pack[at] >= '0' && pack[at] <= '9') {
        if (++digits > 9) return false; // no field is a gigabyte
        len = len * 10 + static_cast<std::size_t>(pack[at] - '0');
        ++at;
    }
    if (digits == 0 || at >= pack.size() || pack[at] != ':') return false;
    ++at;
    if (len > pack.size() - at) return false;
    out.assign(pack.data() + at, len);
    at += len;
    return true;
}

void appendPacked(std::string& pack, std::string_view type, std::string_view guid, std::string_view calls) {
    appendField(pack, type);
    appendField(pack, guid);
    appendField(pack, calls);
}

bool unpack(std::string_view pack, std::vector<PackedTask>& out, std::string& error) {
    out.clear();
    std::size_t at = 0;
    while (at < pack.size()) {
        PackedTask t;
        if (!takeField(pack, at, t.type) || !takeField(pack, at, t.guid) || !takeField(pack, at, t.calls)) {
            error = "request " + std::to_string(out.size()) + " of the pack is cut or malformed at byte " +
                    std::to_string(at);
            out.clear();
            return false;
        }
        out.push_back(std::move(t));
    }
    if (out.empty()) {
        error = "the pack holds no request";
        return false;
    }
    return true;
}

std::string packedId(std::string_view entryId, std::size_t index) {
    std::string id(entryId);
    id += '/';
    id += std::to_string(index);
    return id;
}

std::string_view streamIdOf(std::string_view taskId) { return taskId.substr(0, taskId.find('/')); }

} // namespace dora::queue
