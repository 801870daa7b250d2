// dora/sdk/serialize.h — PHP serialize()/unserialize() for dora::sdk::Value.
//
// Header-only, standard C++17 only: the host and every plugin use the same
// code, so the bytes a plugin writes are exactly the bytes the host (and a
// PHP client) reads.
//
// The encoder writes exactly what PHP 7.1+ / 8.x serialize() writes with the
// default serialize_precision = -1. The decoder accepts what PHP writes (and
// the few variants PHP's own unserialize() accepts, such as "i:+5;" or
// "d:.5;"), but refuses everything that is not plain data: objects ("O:",
// "C:"), enums ("E:"), references ("r:", "R:") and the legacy escaped
// string ("S:") are errors, never instantiated. Unlike PHP it also refuses
// integers outside int64 (PHP clamps them) and trailing bytes after the
// value (PHP ignores them).
//
// All functions are reentrant; they share no state.
#ifndef DORA_SDK_SERIALIZE_H
#define DORA_SDK_SERIALIZE_H

#include <dora/sdk/value.h>

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

// Out-of-line paths of the decoder's hot helpers (their error messages).
#if defined(__GNUC__)
#define DORA_SDK_COLD __attribute__((noinline, cold))
#define DORA_SDK_NOINLINE __attribute__((noinline))
#else
#define DORA_SDK_COLD
#define DORA_SDK_NOINLINE
#endif

namespace dora::sdk {

/// Bounds on what a decoder builds from untrusted bytes.
struct DecodeLimits {
    /// Deepest array nesting accepted; a top-level array is depth 1.
    std::size_t maxDepth = 64;
    /// Total array elements across the whole value (all levels).
    std::size_t maxElements = 1000000;
};

/// Thrown by the decoders: what() says what is wrong and at which byte
/// offset of the input; offset() gives the offset alone.
class DecodeError : public std::runtime_error {
public:
    DecodeError(const std::string& what, std::size_t offset)
        : std::runtime_error(what + " at byte " + std::to_string(offset)), _offset(offset) {}
    std::size_t offset() const { return _offset; }

private:
    std::size_t _offset;
};

namespace detail {

inline void appendInt(std::string& out, std::int64_t i) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, i);
    out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

/// Appends tag, ':', the decimal i and then tail (e.g. "i:42;" or
/// "s:5:\"") in a single append: serialize output is mostly such pieces.
inline void appendTagged(std::string& out, char tag, std::int64_t i, std::string_view tail) {
    char buf[32];
    buf[0] = tag;
    buf[1] = ':';
    auto r = std::to_chars(buf + 2, buf + 24, i);
    std::size_t n = static_cast<std::size_t>(r.ptr - buf);
    for (char c : tail) buf[n++] = c;
    out.append(buf, n);
}

/// Writes a finite or non-finite double the way PHP's zend_gcvt does with
/// serialize_precision = -1 (shortest round-trip digits):
///  * digits d1..dn and decimal point position decpt (value = 0.d1..dn x
///    10^decpt) come from the shortest representation that reads back
///    to the same double (std::to_chars, like zend_dtoa mode 0);
///  * exponent form when decpt < -3 or decpt > 17, i.e. the value is below
///    1e-4 or at least 1e17: mantissa "d1.d2..dn" (".0" when n == 1), then
///    expChar, an explicit sign and the exponent without leading zeros:
///    1.0E+25, 1.5E-7, 5.0E-324;
///  * otherwise plain decimal without exponent, no trailing ".0":
///    1, 0.1, 0.0001, 10000000000000000, -0;
///  * INF, -INF, NAN as such.
/// zeroFraction appends ".0" to a finite result that has neither '.' nor
/// an exponent (PHP json_encode's JSON_PRESERVE_ZERO_FRACTION).
inline void appendDouble(std::string& out, double d, char expChar = 'E', bool zeroFraction = false) {
    if (std::isnan(d)) {
        out.append("NAN", 3);
        return;
    }
    if (std::isinf(d)) {
        if (d < 0)
            out.append("-INF", 4);
        else
            out.append("INF", 3);
        return;
    }
    char sci[40];
    auto r = std::to_chars(sci, sci + sizeof sci, d, std::chars_format::scientific);
    const char* p = sci;
    const char* end = r.ptr;
    char buf[48];
    std::size_t n = 0;
    if (*p == '-') {
        buf[n++] = '-';
        ++p;
    }
    // Mantissa digits without the '.', then the decimal exponent.
    char digits[24];
    std::size_t nd = 0;
    for (; p < end && *p != 'e'; ++p)
        if (*p != '.') digits[nd++] = *p;
    int e10 = 0;
    std::from_chars(p + 1 + (p[1] == '+' ? 1 : 0), end, e10);
    int decpt = e10 + 1;
    if (decpt < -3 || decpt > 17) {
        buf[n++] = digits[0];
        buf[n++] = '.';
        if (nd == 1) {
            buf[n++] = '0';
        } else {
            for (std::size_t i = 1; i < nd; ++i) buf[n++] = digits[i];
        }
        buf[n++] = expChar;
        int x = decpt - 1;
        buf[n++] = x < 0 ? '-' : '+';
        auto xr = std::to_chars(buf + n, buf + sizeof buf, x < 0 ? -x : x);
        n = static_cast<std::size_t>(xr.ptr - buf);
    } else if (decpt <= 0) {
        buf[n++] = '0';
        buf[n++] = '.';
        for (int i = decpt; i < 0; ++i) buf[n++] = '0';
        for (std::size_t i = 0; i < nd; ++i) buf[n++] = digits[i];
    } else {
        std::size_t whole = static_cast<std::size_t>(decpt);
        for (std::size_t i = 0; i < whole; ++i) buf[n++] = i < nd ? digits[i] : '0';
        if (nd > whole) {
            buf[n++] = '.';
            for (std::size_t i = whole; i < nd; ++i) buf[n++] = digits[i];
        } else if (zeroFraction) {
            buf[n++] = '.';
            buf[n++] = '0';
        }
    }
    out.append(buf, n);
}

/// Converts a decimal number already checked against the grammar
///   [+-]? ( D+ ( '.' D* )? | '.' D+ ) ( [eE] [+-]? D+ )?
/// to the nearest double. Overflow gives +-INF and underflow +-0, as PHP's
/// zend_strtod does (std::from_chars reports both as out of range).
inline double parseDouble(const char* first, const char* last) {
    bool neg = false;
    if (first < last && (*first == '+' || *first == '-')) {
        neg = *first == '-';
        ++first;
    }
    double d = 0;
    auto r = std::from_chars(first, last, d, std::chars_format::general);
    if (r.ec == std::errc()) return neg ? -d : d;
    // Out of range: decide by the decimal magnitude of the first non-zero
    // digit (positive: overflow). Both the digit counts and the exponent
    // are clamped, so this cannot overflow itself.
    std::int64_t intDigits = 0, leadingFracZeros = 0;
    bool seenNonZero = false, inFrac = false;
    const char* p = first;
    for (; p < last && *p != 'e' && *p != 'E'; ++p) {
        if (*p == '.') {
            inFrac = true;
            continue;
        }
        if (!inFrac) {
            if (seenNonZero || *p != '0') {
                seenNonZero = true;
                if (intDigits < 1000000000) ++intDigits;
            }
        } else if (!seenNonZero) {
            if (*p == '0') {
                if (leadingFracZeros < 1000000000) ++leadingFracZeros;
            } else {
                seenNonZero = true;
            }
        }
    }
    std::int64_t exp = 0;
    if (p < last) {
        ++p;
        bool eneg = false;
        if (p < last && (*p == '+' || *p == '-')) {
            eneg = *p == '-';
            ++p;
        }
        for (; p < last; ++p)
            if (exp < 1000000000) exp = exp * 10 + (*p - '0');
        if (eneg) exp = -exp;
    }
    std::int64_t magnitude = intDigits > 0 ? intDigits + exp : exp - leadingFracZeros;
    d = magnitude > 0 ? std::numeric_limits<double>::infinity() : 0.0;
    return neg ? -d : d;
}

inline void appendString(std::string& out, std::string_view s) {
    appendTagged(out, 's', static_cast<std::int64_t>(s.size()), ":\"");
    out.append(s.data(), s.size());
    out.append("\";", 2);
}

/// The recursive-descent decoder behind unserialize(). Every read is
/// bounds-checked against _end; counts from the input never size an
/// allocation (a string's length is checked against the remaining bytes,
/// an array's count against maxElements and then grown element by element).
class Unserializer {
public:
    Unserializer(std::string_view in, const DecodeLimits& limits)
        : _begin(in.data()), _p(in.data()), _end(in.data() + in.size()), _limits(limits) {}

    Value value(std::size_t depth) {
        if (_p >= _end) fail("unexpected end of input, expected a value");
        char tag = *_p;
        switch (tag) {
        case 'N':
            ++_p;
            expect(';');
            return Value();
        case 'b': {
            ++_p;
            expect(':');
            if (_p >= _end || (*_p != '0' && *_p != '1')) fail("bool must be 0 or 1");
            bool b = *_p == '1';
            ++_p;
            expect(';');
            return Value(b);
        }
        case 'i': {
            ++_p;
            expect(':');
            std::int64_t i = integer(';');
            return Value(i);
        }
        case 'd': {
            ++_p;
            expect(':');
            return Value(floating());
        }
        case 's': {
            ++_p;
            expect(':');
            return Value(string());
        }
        case 'a':
            return array(depth + 1);
        case 'O':
        case 'o':
        case 'C':
            fail(std::string("objects are not accepted ('") + tag + ":')");
        case 'E':
            fail("enums are not accepted ('E:')");
        case 'r':
        case 'R':
            fail(std::string("references are not accepted ('") + tag + ":')");
        case 'S':
            fail("the escaped string form ('S:') is not accepted");
        default:
            fail(std::string("unknown type tag ") + describe(tag));
        }
    }

    /// Checks one value by the same rules and limits as value() and steps
    /// over it without building it.
    void skip(std::size_t depth) {
        if (_p >= _end) fail("unexpected end of input, expected a value");
        switch (*_p) {
        case 's':
            ++_p;
            expect(':');
            skipString();
            return;
        case 'i':
            ++_p;
            expect(':');
            integer(';');
            return;
        case 'a': {
            std::size_t n = arrayHeader(depth + 1);
            for (std::size_t i = 0; i < n; ++i) {
                skipKey();
                skip(depth + 1);
            }
            if (_p >= _end) fail("unexpected end of input, expected '}'");
            if (*_p != '}') fail("expected '}' after " + std::to_string(n) + " elements, found " + describe(*_p));
            ++_p;
            return;
        }
        default:
            value(depth); // scalars are cheap to build; the rest fails there
        }
    }

    /// The top-level array's string element under string key `key` (not
    /// a PHP integer key), checked and stepped over like skip(0): true and
    /// its bytes in out if the last element with that key is a string.
    bool findString(std::string_view key, std::string_view& out) {
        if (_p >= _end || *_p != 'a') return false;
        const std::size_t n = arrayHeader(1);
        bool found = false;
        for (std::size_t i = 0; i < n; ++i) {
            bool match = false;
            if (_p < _end && *_p == 's') {
                ++_p;
                expect(':');
                match = stringBytes() == key;
            } else {
                skipKey();
            }
            if (match && _p < _end && *_p == 's') {
                ++_p;
                expect(':');
                out = stringBytes();
                found = true;
            } else {
                if (match) found = false; // a later element of that key wins, as in unserialize
                skip(1);
            }
        }
        expect('}');
        return found && _p == _end;
    }

    std::size_t offset() const { return static_cast<std::size_t>(_p - _begin); }

    [[noreturn]] void fail(const std::string& what) const {
        throw DecodeError("unserialize: " + what, offset());
    }

private:
    static std::string describe(char c) {
        unsigned char u = static_cast<unsigned char>(c);
        if (u >= 0x20 && u < 0x7f) return std::string("'") + c + "'";
        static const char hex[] = "0123456789abcdef";
        return std::string("byte 0x") + hex[u >> 4] + hex[u & 15];
    }

    // Hot (several times per value): the check inlines, the message is
    // built out of line.
    void expect(char c) {
        if (_p < _end && *_p == c) {
            ++_p;
            return;
        }
        expectFailed(c);
    }

    [[noreturn]] DORA_SDK_COLD void expectFailed(char c) const {
        if (_p >= _end) fail(std::string("unexpected end of input, expected '") + c + "'");
        fail(std::string("expected '") + c + "', found " + describe(*_p));
    }

    // [+-]? digits, then the terminator; refuses values outside int64.
    std::int64_t integer(char terminator) {
        const char* start = _p;
        bool neg = false;
        if (_p < _end && (*_p == '+' || *_p == '-')) {
            neg = *_p == '-';
            ++_p;
        }
        const char* digits = _p;
        while (_p < _end && *_p >= '0' && *_p <= '9') ++_p;
        if (_p == digits) {
            _p = start;
            fail("expected an integer");
        }
        // from_chars takes the '-' itself but not a '+'.
        std::int64_t v = 0;
        auto r = std::from_chars(neg ? digits - 1 : digits, _p, v);
        if (r.ec != std::errc()) {
            _p = start;
            fail("integer out of range");
        }
        expect(terminator);
        return v;
    }

    // An unsigned length or count: digits only, at most int64.
    std::size_t length(const char* what) {
        const char* start = _p;
        std::uint64_t v = 0;
        // Up to 18 digits cannot overflow; longer ones take the checked path.
        while (_p < _end && *_p >= '0' && *_p <= '9' && _p - start < 18) {
            v = v * 10 + static_cast<std::uint64_t>(*_p - '0');
            ++_p;
        }
        if (_p == start || (_p < _end && *_p >= '0' && *_p <= '9')) return longLength(start, what);
        return static_cast<std::size_t>(v);
    }

    DORA_SDK_NOINLINE std::size_t longLength(const char* start, const char* what) {
        _p = start;
        const char* digits = _p;
        while (_p < _end && *_p >= '0' && *_p <= '9') ++_p;
        if (_p == digits) fail(std::string("expected ") + what);
        std::uint64_t v = 0;
        auto r = std::from_chars(digits, _p, v);
        if (r.ec != std::errc() || v > static_cast<std::uint64_t>(INT64_MAX)) {
            _p = start;
            fail(std::string(what) + " out of range");
        }
        return static_cast<std::size_t>(v);
    }

    bool isDigit(const char* p) const { return p < _end && *p >= '0' && *p <= '9'; }

    double floating() {
        const char* start = _p;
        auto word = [&](std::string_view w) {
            if (static_cast<std::size_t>(_end - _p) >= w.size() && std::string_view(_p, w.size()) == w) {
                _p += w.size();
                return true;
            }
            return false;
        };
        if (word("NAN")) {
            expect(';');
            return std::numeric_limits<double>::quiet_NaN();
        }
        if (word("INF")) {
            expect(';');
            return std::numeric_limits<double>::infinity();
        }
        if (word("-INF")) {
            expect(';');
            return -std::numeric_limits<double>::infinity();
        }
        if (_p < _end && (*_p == '+' || *_p == '-')) ++_p;
        bool any = false;
        while (isDigit(_p)) {
            ++_p;
            any = true;
        }
        if (_p < _end && *_p == '.') {
            ++_p;
            while (isDigit(_p)) {
                ++_p;
                any = true;
            }
        }
        if (!any) {
            _p = start;
            fail("expected a float");
        }
        if (_p < _end && (*_p == 'e' || *_p == 'E')) {
            ++_p;
            if (_p < _end && (*_p == '+' || *_p == '-')) ++_p;
            if (!isDigit(_p)) fail("expected exponent digits");
            while (isDigit(_p)) ++_p;
        }
        double d = parseDouble(start, _p);
        expect(';');
        return d;
    }

    // After "s:": len:"bytes";
    std::string string() { return std::string(stringBytes()); }

    // After "s:": len:"bytes"; -> the bytes, in the input.
    std::string_view stringBytes() {
        std::size_t n = length("string length");
        expect(':');
        expect('"');
        if (static_cast<std::size_t>(_end - _p) < n) fail("string length " + std::to_string(n) + " exceeds the input");
        std::string_view v(_p, n);
        _p += n;
        expect('"');
        expect(';');
        return v;
    }

    void skipString() { stringBytes(); }

    void skipKey() {
        if (_p >= _end) fail("unexpected end of input, expected an array key");
        char tag = *_p;
        if (tag == 'i' || tag == 's') {
            ++_p;
            expect(':');
            if (tag == 'i')
                integer(';');
            else
                skipString();
            return;
        }
        if (tag == '}') fail("array ended before its count of elements");
        fail("array key must be int or string, found " + describe(tag));
    }

    Key key() {
        if (_p >= _end) fail("unexpected end of input, expected an array key");
        char tag = *_p;
        if (tag == 'i') {
            ++_p;
            expect(':');
            return Key(integer(';'));
        }
        if (tag == 's') {
            ++_p;
            expect(':');
            return Key(string()); // "7" becomes 7, as in PHP
        }
        if (tag == '}') fail("array ended before its count of elements");
        fail("array key must be int or string, found " + describe(tag));
    }

    // "a:<count>:{" at nesting `depth`, checked against the limits; returns
    // the count.
    std::size_t arrayHeader(std::size_t depth) {
        if (depth > _limits.maxDepth) fail("arrays nested deeper than " + std::to_string(_limits.maxDepth));
        ++_p;
        expect(':');
        const char* countAt = _p;
        std::size_t n = length("array count");
        if (n > _limits.maxElements - _elements) {
            _p = countAt;
            fail("array count " + std::to_string(n) + " exceeds the limit of " +
                 std::to_string(_limits.maxElements) + " elements");
        }
        _elements += n;
        expect(':');
        expect('{');
        return n;
    }

    Value array(std::size_t depth) {
        std::size_t n = arrayHeader(depth);
        Value v = Value::array();
        Array& a = v.asArray();
        for (std::size_t i = 0; i < n; ++i) {
            Key k = key();
            a.set(k, value(depth));
        }
        if (_p >= _end) fail("unexpected end of input, expected '}'");
        if (*_p != '}') fail("expected '}' after " + std::to_string(n) + " elements, found " + describe(*_p));
        ++_p;
        return v;
    }

    const char* _begin;
    const char* _p;
    const char* _end;
    DecodeLimits _limits;
    std::size_t _elements = 0;
};

} // namespace detail

/// Number text shared by the PHP-serialize writer and other text codecs
/// (the host's and client's JSON): one implementation of the formatting.
/// appendNumber writes the shortest text that reads back as the same
/// double (`expChar` for the exponent; zeroFraction writes 1.0, not 1);
/// parseNumber reads what appendNumber writes (and any decimal text).
inline void appendInteger(std::string& out, std::int64_t i) { detail::appendInt(out, i); }
inline void appendNumber(std::string& out, double d, char expChar = 'E', bool zeroFraction = false) {
    detail::appendDouble(out, d, expChar, zeroFraction);
}
inline double parseNumber(const char* first, const char* last) { return detail::parseDouble(first, last); }

/// Appends PHP serialize($v) to out.
inline void serializeTo(std::string& out, const Value& v) {
    switch (v.type()) {
    case Value::Type::Null:
        out.append("N;", 2);
        return;
    case Value::Type::Bool:
        out.append(v.asBool() ? "b:1;" : "b:0;", 4);
        return;
    case Value::Type::Int:
        detail::appendTagged(out, 'i', v.asInt(), ";");
        return;
    case Value::Type::Float:
        out.append("d:", 2);
        detail::appendDouble(out, v.asFloat());
        out.push_back(';');
        return;
    case Value::Type::String:
        detail::appendString(out, v.asString());
        return;
    case Value::Type::Array: {
        const Array& a = v.asArray();
        detail::appendTagged(out, 'a', static_cast<std::int64_t>(a.size()), ":{");
        for (const auto& e : a) {
            if (e.key.isInt()) {
                detail::appendTagged(out, 'i', e.key.intValue(), ";");
            } else {
                detail::appendString(out, e.key.stringValue());
            }
            serializeTo(out, e.value);
        }
        out.push_back('}');
        return;
    }
    }
}

/// PHP serialize($v).
inline std::string serialize(const Value& v) {
    std::string out;
    serializeTo(out, v);
    return out;
}

/// Decodes one value from the start of bytes; consumed receives the number
/// of bytes it used (bytes after it are left alone). Throws DecodeError.
inline Value unserializePrefix(std::string_view bytes, std::size_t& consumed, const DecodeLimits& limits = {}) {
    detail::Unserializer u(bytes, limits);
    Value v = u.value(0);
    consumed = u.offset();
    return v;
}

/// The length of the one value at the start of bytes, checked by the same
/// rules and limits as unserialize but not built: lets a host or plugin
/// pass a serialized value on as bytes. Throws DecodeError.
inline std::size_t measure(std::string_view bytes, const DecodeLimits& limits = {}) {
    detail::Unserializer u(bytes, limits);
    u.skip(0);
    return u.offset();
}

/// The string element `key` of the serialized array `bytes`, found without
/// building the array: true, with its bytes (pointing into `bytes`) in
/// out, if the array has a string under that key. False in every other
/// case (not an array, malformed, over the limits, the key absent or not a
/// string, or `key` one PHP treats as an integer), so a caller falls back
/// to unserialize for the value or its exact error. The whole input is
/// checked as unserialize checks it.
inline bool findStringElement(std::string_view bytes, std::string_view key, std::string_view& out,
                              const DecodeLimits& limits = {}) {
    if (Key(key).isInt()) return false;
    try {
        detail::Unserializer u(bytes, limits);
        std::string_view found;
        if (!u.findString(key, found)) return false;
        out = found;
        return true;
    } catch (const DecodeError&) {
        return false;
    }
}

/// PHP unserialize($bytes) for plain data; the whole input must be one
/// value. Throws DecodeError (never returns a partial value).
inline Value unserialize(std::string_view bytes, const DecodeLimits& limits = {}) {
    detail::Unserializer u(bytes, limits);
    Value v = u.value(0);
    if (u.offset() != bytes.size()) u.fail("trailing bytes after the value");
    return v;
}

} // namespace dora::sdk

#endif // DORA_SDK_SERIALIZE_H
