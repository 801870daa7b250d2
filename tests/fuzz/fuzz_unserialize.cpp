// libFuzzer target for dora::sdk::unserialize (PHP serialize format).
// Whatever decodes must re-encode to bytes that decode to the same value
// and re-encode to the same bytes; the value must also survive JSON. Any
// mismatch abort()s so libFuzzer keeps the input. Built by run.sh.
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
    std::fprintf(stderr, "fuzz_unserialize: %s\n%s\n", what, detail.c_str());
    std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    DecodeLimits limits;
    limits.maxElements = 100000;

    // The prefix decoder never claims more than it was given, and agrees
    // with the whole-input decoder when it used everything.
    std::size_t used = 0;
    bool prefixOk = false;
    Value prefix;
    try {
        prefix = dora::sdk::unserializePrefix(in, used, limits);
        prefixOk = true;
        if (used > size) mismatch("prefix consumed more than the input", std::to_string(used));
    } catch (const DecodeError&) {
    }

    // The plugins' fast string getter (findStringElement) says yes only
    // where unserialize gives an array with that string element, and then
    // the same bytes.
    std::string_view fastName;
    const bool fast = dora::sdk::findStringElement(in, "name", fastName, limits);

    Value v;
    try {
        v = dora::sdk::unserialize(in, limits);
    } catch (const DecodeError&) {
        if (prefixOk && used == size) mismatch("prefix decoded the whole input, unserialize refused", "");
        if (fast) mismatch("findStringElement found a string in input unserialize refuses", "");
        return 0;
    }
    {
        const Value* e = v.isArray() ? v.find("name") : nullptr;
        const bool slow = e && e->isString();
        if (fast != slow || (fast && e->asString() != fastName))
            mismatch("findStringElement and unserialize disagree on \"name\"", "");
    }
    if (!prefixOk || used != size || !(prefix == v)) mismatch("unserialize and unserializePrefix disagree", "");

    std::string s = dora::sdk::serialize(v);
    Value w;
    try {
        w = dora::sdk::unserialize(s, limits);
    } catch (const DecodeError& e) {
        mismatch("own output refused", std::string(e.what()) + "\n" + s);
    }
    if (!(w == v)) mismatch("round trip changed the value", s);
    if (dora::sdk::serialize(w) != s) mismatch("re-encoding is not stable", s);

    // Every decoded value can go out as JSON and come back in.
    std::string j = dora::wire::toJson(v);
    try {
        (void)dora::wire::fromJson(j, limits);
    } catch (const DecodeError& e) {
        mismatch("JSON of a decoded value refused", std::string(e.what()) + "\n" + j);
    }
    return 0;
}
