// libFuzzer target for dora::wire::fromJson. Whatever decodes must
// re-encode to JSON that decodes to the same value (with INF/NAN turned
// into null, as documented in Json.h) and re-encodes to the same text; it
// must also survive PHP serialize. Any mismatch abort()s. Built by run.sh.
#include <dora/wire/Json.h>

#include <dora/sdk/serialize.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

using dora::sdk::DecodeError;
using dora::sdk::DecodeLimits;
using dora::sdk::Value;

namespace {

[[noreturn]] void mismatch(const char* what, const std::string& detail) {
    std::fprintf(stderr, "fuzz_json: %s\n%s\n", what, detail.c_str());
    std::abort();
}

// What toJson makes of v, as a value: non-finite floats become null.
Value finiteOnly(const Value& v) {
    if (v.isFloat() && !std::isfinite(v.asFloat())) return Value();
    if (!v.isArray()) return v;
    Value out = Value::array();
    for (const auto& e : v.asArray()) out.asArray().set(e.key, finiteOnly(e.value));
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    DecodeLimits limits;
    limits.maxElements = 100000;

    Value v;
    try {
        v = dora::wire::fromJson(in, limits);
    } catch (const DecodeError&) {
        return 0;
    }
    std::string j = dora::wire::toJson(v);
    Value w;
    try {
        w = dora::wire::fromJson(j, limits);
    } catch (const DecodeError& e) {
        mismatch("own output refused", std::string(e.what()) + "\n" + j);
    }
    if (!(w == finiteOnly(v))) mismatch("round trip changed the value", j);
    if (dora::wire::toJson(w) != j) mismatch("re-encoding is not stable", j);

    std::string s = dora::sdk::serialize(v);
    try {
        if (!(dora::sdk::unserialize(s, limits) == v)) mismatch("PHP serialize round trip changed the value", s);
    } catch (const DecodeError& e) {
        mismatch("PHP serialize of a JSON value refused", std::string(e.what()) + "\n" + s);
    }
    return 0;
}
