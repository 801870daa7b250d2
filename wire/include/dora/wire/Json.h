// dora/wire/Json.h — the JSON codec for our JSON frames and the HTTP gateway.
//
// Maps dora::sdk::Value to JSON the way PHP's json_encode / json_decode($s,
// true) map PHP arrays, so a JSON client sees what a PHP client would:
//  * an array whose keys are exactly 0..n-1 in order is a JSON array, any
//    other array a JSON object (int keys written as "7");
//  * object keys are normalised like PHP array keys ("7" becomes int 7);
//  * numbers without '.' or exponent that fit int64 are Int, all others
//    Float (1e400 is INF, as in PHP).
// Deliberate differences from PHP, where PHP would fail instead:
//  * INF, -INF and NAN are written as null;
//  * bytes that are not valid UTF-8 are written as U+FFFD, one per invalid
//    sequence, exactly as json_encode with JSON_INVALID_UTF8_SUBSTITUTE;
//  * floats always keep a '.' or exponent (JSON_PRESERVE_ZERO_FRACTION), so
//    1.0 reads back as a float.
// Otherwise the output is byte-identical to json_encode($v,
// JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_PRESERVE_ZERO_FRACTION).
// The decoder is strict RFC 8259 (like json_decode): invalid UTF-8, raw
// control characters, lone surrogates and trailing bytes are errors.
//
// Reentrant; no shared state.
#ifndef DORA_PROTOCOL_JSON_H
#define DORA_PROTOCOL_JSON_H

#include <dora/sdk/serialize.h>
#include <dora/sdk/value.h>

#include <string>
#include <string_view>

namespace dora::wire {

/// Appends the JSON text of v to out.
void toJsonTo(std::string& out, const dora::sdk::Value& v);

/// The JSON text of v.
std::string toJson(const dora::sdk::Value& v);

/// Appends s as a JSON string (quoted and escaped as toJsonTo writes it),
/// and k as an object key ("7": or "name":), for writers that build a
/// document without a Value tree.
void appendJsonText(std::string& out, std::string_view s);
void appendJsonKey(std::string& out, const dora::sdk::Key& k);

/// Elements fromJson accepts unless told otherwise. A JSON element costs
/// the decoder about 100 bytes (an Array entry) but takes only 2 bytes on
/// the wire, so the PHP decoder's 1,000,000 let a 2 MB array `[0,0,...]`
/// cost ~190 MB; 512 Ki elements bound that to ~50 MB while still taking
/// 100,000 small records (300,000 elements, 2.3 MB).
inline constexpr std::size_t kJsonMaxElements = 524288;

/// DecodeLimits with maxElements = kJsonMaxElements.
inline dora::sdk::DecodeLimits jsonDecodeLimits() {
    dora::sdk::DecodeLimits l;
    l.maxElements = kJsonMaxElements;
    return l;
}

/// Parses one JSON value (surrounding whitespace allowed, nothing else).
/// Throws dora::sdk::DecodeError naming the problem and its byte offset;
/// nesting and element counts are bounded by limits.
dora::sdk::Value fromJson(std::string_view text,
                          const dora::sdk::DecodeLimits& limits = jsonDecodeLimits());

} // namespace dora::wire

#endif // DORA_PROTOCOL_JSON_H
