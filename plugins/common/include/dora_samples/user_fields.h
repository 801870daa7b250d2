// dora_samples/user_fields.h — the one validation of the users table's
// fields, shared by the sample plugins (sync_user, async_user) so a name
// or department one of them takes the other takes too, with the same
// error. Header-only; plugin side of the boundary (SDK types only).
#ifndef DORA_SAMPLES_USER_FIELDS_H
#define DORA_SAMPLES_USER_FIELDS_H

#include <dora/sdk/call.h>
#include <dora/sdk/error.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace dora::samples {

// The VARCHAR(64) columns. MySQL counts characters, we count bytes: a
// stricter limit that never lets the server truncate or refuse.
inline constexpr std::size_t kMaxName = 64;
inline constexpr std::size_t kMaxDepartment = 64;

/// True if s is well-formed UTF-8 (no overlong forms, no surrogates,
/// nothing above U+10FFFF): what the utf8mb4 columns accept. Checked before
/// any SQL, so a bad string fails its own call (100210) and, in a batch,
/// never the multi-row statement of the whole batch.
inline bool isUtf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = 0;
        std::uint32_t cp = 0;
        if (c < 0x80) {
            ++i;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1Fu;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0Fu;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07u;
        } else {
            return false;
        }
        if (s.size() - i <= n) return false; // truncated sequence
        for (std::size_t k = 1; k <= n; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0u) != 0x80u) return false;
            cp = (cp << 6) | (cc & 0x3Fu);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

/// `param` unchanged, or kBadParam "param '<name>' must be valid UTF-8".
inline std::string utf8Param(std::string param, const char* name) {
    if (!isUtf8(param)) throw sdk::Error(sdk::kBadParam, std::string("param '") + name + "' must be valid UTF-8");
    return param;
}

/// Param `name`: required, a string of 1..kMaxName bytes, UTF-8.
inline std::string userName(sdk::Call& call) { return utf8Param(call.requireString("name", kMaxName), "name"); }

/// Param `department`: a string of at most kMaxDepartment bytes, UTF-8; ""
/// when left out. `required`: it may be empty (clears the department) but
/// must be given (update_user).
inline std::string userDepartment(sdk::Call& call, bool required = false) {
    if (required && !call.has("department")) throw sdk::Error(sdk::kBadParam, "param 'department' is required");
    return utf8Param(call.optString("department", "", kMaxDepartment), "department");
}

} // namespace dora::samples

#endif // DORA_SAMPLES_USER_FIELDS_H
