// dora/wire/Codes.h — the answer codes as constants and their short
// descriptions, all from codes.def (the one table). Header-only; shared by
// the host, the client and the tests.
#pragma once

#include <string>
#include <string_view>

namespace dora::wire {

namespace code {
#define DORA_CODE(name, value, text, doc) inline constexpr int k##name = value;
#include <dora/wire/codes.def>
#undef DORA_CODE
} // namespace code

/// One row of the table.
struct CodeInfo {
    int code;
    std::string_view name;
    std::string_view text; ///< short description ("server busy")
    std::string_view doc;  ///< docs/protocol.md's meaning; empty for DoraRPC's own codes
};

inline constexpr CodeInfo kCodes[] = {
#define DORA_CODE(name, value, text, doc) {value, #name, text, doc},
#include <dora/wire/codes.def>
#undef DORA_CODE
};

/// The row of a code, or nullptr.
inline const CodeInfo* findCode(int c) {
    for (const auto& info : kCodes)
        if (info.code == c) return &info;
    return nullptr;
}

/// The short description of a code; "code N" for unknown ones.
inline std::string describeCode(int c) {
    const CodeInfo* info = findCode(c);
    return info ? std::string(info->text) : "code " + std::to_string(c);
}

} // namespace dora::wire
