#include <dora/wire/Json.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <system_error>

namespace dora::wire {

using dora::sdk::Array;
using dora::sdk::DecodeError;
using dora::sdk::DecodeLimits;
using dora::sdk::Key;
using dora::sdk::Value;

namespace {

bool utf8Lead(unsigned char c) { return c < 0x80 || (c >= 0xc2 && c <= 0xf4); }
bool utf8Trail(unsigned char c) { return c >= 0x80 && c <= 0xbf; }

// Reads one UTF-8 character at s (avail > 0 bytes). Returns the code point
// and its length, or -1 with the number of bytes that make up the invalid
// sequence. Valid means strict UTF-8 (no overlongs, no surrogates, at most
// U+10FFFF). How many bytes an invalid sequence spans follows PHP's
// php_next_utf8_char, so that one U+FFFD replaces the same bytes as
// json_encode(..., JSON_INVALID_UTF8_SUBSTITUTE) replaces.
std::int32_t nextUtf8(const unsigned char* s, std::size_t avail, std::size_t& len) {
    unsigned char c = s[0];
    if (c < 0x80) {
        len = 1;
        return c;
    }
    if (c < 0xc2 || c > 0xf4) {
        len = 1;
        return -1;
    }
    std::size_t need = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    bool complete = avail >= need;
    for (std::size_t i = 1; complete && i < need; ++i)
        if (!utf8Trail(s[i])) complete = false;
    if (!complete) {
        // The bad sequence ends before the first byte that is missing or
        // could start a character; a byte that is neither lead nor trail
        // (C0, C1, F5..FF) is swallowed with it.
        std::size_t n = 1;
        while (n < need && n < avail && !utf8Lead(s[n])) ++n;
        len = n;
        return -1;
    }
    len = need;
    std::int32_t cp;
    if (need == 2) {
        return ((c & 0x1f) << 6) | (s[1] & 0x3f);
    }
    if (need == 3) {
        cp = ((c & 0x0f) << 12) | ((s[1] & 0x3f) << 6) | (s[2] & 0x3f);
        if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
        return cp;
    }
    cp = ((c & 0x07) << 18) | ((s[1] & 0x3f) << 12) | ((s[2] & 0x3f) << 6) | (s[3] & 0x3f);
    if (cp < 0x10000 || cp > 0x10ffff) return -1;
    return cp;
}

void appendUtf8(std::string& out, std::uint32_t cp) {
    char b[4];
    std::size_t n;
    if (cp < 0x80) {
        b[0] = static_cast<char>(cp);
        n = 1;
    } else if (cp < 0x800) {
        b[0] = static_cast<char>(0xc0 | (cp >> 6));
        b[1] = static_cast<char>(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = static_cast<char>(0xe0 | (cp >> 12));
        b[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        b[2] = static_cast<char>(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = static_cast<char>(0xf0 | (cp >> 18));
        b[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        b[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        b[3] = static_cast<char>(0x80 | (cp & 0x3f));
        n = 4;
    }
    out.append(b, n);
}

// Bytes that go out as they are: printable ASCII except '"' and '\'.
bool plainAscii(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

void appendJsonString(std::string& out, std::string_view s) {
    static const char hex[] = "0123456789abcdef";
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    out.push_back('"');
    while (p < end) {
        // Copy the longest run that needs no escaping in one append.
        const auto* run = p;
        while (p < end) {
            if (plainAscii(*p)) {
                ++p;
                continue;
            }
            if (*p < 0x80) break;
            std::size_t len = 0;
            std::int32_t cp = nextUtf8(p, static_cast<std::size_t>(end - p), len);
            // U+2028/2029 are escaped by json_encode even with
            // JSON_UNESCAPED_UNICODE (they end a line in JavaScript).
            if (cp < 0 || cp == 0x2028 || cp == 0x2029) break;
            p += len;
        }
        out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
        if (p >= end) break;
        unsigned char c = *p;
        if (c >= 0x80) {
            std::size_t len = 0;
            std::int32_t cp = nextUtf8(p, static_cast<std::size_t>(end - p), len);
            if (cp < 0)
                out.append("\xef\xbf\xbd", 3); // U+FFFD for the whole bad sequence
            else
                out.append(cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
            p += len;
            continue;
        }
        switch (c) {
        case '"': out.append("\\\"", 2); break;
        case '\\': out.append("\\\\", 2); break;
        case '\b': out.append("\\b", 2); break;
        case '\f': out.append("\\f", 2); break;
        case '\n': out.append("\\n", 2); break;
        case '\r': out.append("\\r", 2); break;
        case '\t': out.append("\\t", 2); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            out.append(u, 6);
        }
        }
        ++p;
    }
    out.push_back('"');
}

class Parser {
public:
    Parser(std::string_view in, const DecodeLimits& limits)
        : _begin(in.data()), _p(in.data()), _end(in.data() + in.size()), _limits(limits) {}

    Value document() {
        skipSpace();
        Value v = value(0);
        skipSpace();
        if (_p != _end) fail("trailing bytes after the value");
        return v;
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        throw DecodeError("json: " + what, static_cast<std::size_t>(_p - _begin));
    }

    void skipSpace() {
        while (_p < _end && (*_p == ' ' || *_p == '\n' || *_p == '\r' || *_p == '\t')) ++_p;
    }

    bool literal(std::string_view w) {
        if (static_cast<std::size_t>(_end - _p) >= w.size() && std::string_view(_p, w.size()) == w) {
            _p += w.size();
            return true;
        }
        return false;
    }

    Value value(std::size_t depth) {
        if (_p >= _end) fail("unexpected end of input, expected a value");
        switch (*_p) {
        case '{': return object(depth + 1);
        case '[': return array(depth + 1);
        case '"': return Value(string());
        case 't':
            if (literal("true")) return Value(true);
            break;
        case 'f':
            if (literal("false")) return Value(false);
            break;
        case 'n':
            if (literal("null")) return Value();
            break;
        default:
            if (*_p == '-' || (*_p >= '0' && *_p <= '9')) return number();
        }
        fail("unexpected character, expected a value");
    }

    bool digit() const { return _p < _end && *_p >= '0' && *_p <= '9'; }

    Value number() {
        const char* start = _p;
        if (*_p == '-') ++_p;
        if (!digit()) fail("expected a digit");
        if (*_p == '0') {
            ++_p;
        } else {
            while (digit()) ++_p;
        }
        bool isFloat = false;
        if (_p < _end && *_p == '.') {
            ++_p;
            if (!digit()) fail("expected a digit after '.'");
            while (digit()) ++_p;
            isFloat = true;
        }
        if (_p < _end && (*_p == 'e' || *_p == 'E')) {
            ++_p;
            if (_p < _end && (*_p == '+' || *_p == '-')) ++_p;
            if (!digit()) fail("expected exponent digits");
            while (digit()) ++_p;
            isFloat = true;
        }
        if (!isFloat) {
            std::int64_t i = 0;
            auto r = std::from_chars(start, _p, i);
            if (r.ec == std::errc()) return Value(i);
            // Beyond int64: a float, as json_decode does.
        }
        return Value(dora::sdk::parseNumber(start, _p));
    }

    unsigned hex4() {
        if (_end - _p < 4) fail("truncated \\u escape");
        unsigned v = 0;
        for (int i = 0; i < 4; ++i) {
            char c = _p[i];
            unsigned d;
            if (c >= '0' && c <= '9')
                d = static_cast<unsigned>(c - '0');
            else if (c >= 'a' && c <= 'f')
                d = static_cast<unsigned>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                d = static_cast<unsigned>(c - 'A' + 10);
            else
                fail("bad hex digit in \\u escape");
            v = v * 16 + d;
        }
        _p += 4;
        return v;
    }

    // At the opening '"'.
    std::string string() {
        ++_p;
        std::string s;
        for (;;) {
            const char* run = _p;
            while (_p < _end) {
                auto c = static_cast<unsigned char>(*_p);
                if (plainAscii(c)) {
                    ++_p;
                    continue;
                }
                if (c < 0x80) break;
                std::size_t len = 0;
                if (nextUtf8(reinterpret_cast<const unsigned char*>(_p), static_cast<std::size_t>(_end - _p), len) < 0)
                    fail("malformed UTF-8 in string");
                _p += len;
            }
            s.append(run, static_cast<std::size_t>(_p - run));
            if (_p >= _end) fail("unterminated string");
            char c = *_p;
            if (c == '"') {
                ++_p;
                return s;
            }
            if (c != '\\') fail("control character in string");
            ++_p;
            if (_p >= _end) fail("unterminated string");
            switch (*_p++) {
            case '"': s.push_back('"'); break;
            case '\\': s.push_back('\\'); break;
            case '/': s.push_back('/'); break;
            case 'b': s.push_back('\b'); break;
            case 'f': s.push_back('\f'); break;
            case 'n': s.push_back('\n'); break;
            case 'r': s.push_back('\r'); break;
            case 't': s.push_back('\t'); break;
            case 'u': {
                unsigned cp = hex4();
                if (cp >= 0xdc00 && cp <= 0xdfff) {
                    _p -= 6;
                    fail("unpaired UTF-16 surrogate in \\u escape");
                }
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (_end - _p < 6 || _p[0] != '\\' || _p[1] != 'u') {
                        _p -= 6;
                        fail("unpaired UTF-16 surrogate in \\u escape");
                    }
                    _p += 2;
                    unsigned lo = hex4();
                    if (lo < 0xdc00 || lo > 0xdfff) {
                        _p -= 12;
                        fail("unpaired UTF-16 surrogate in \\u escape");
                    }
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                appendUtf8(s, cp);
                break;
            }
            default:
                --_p;
                fail("unknown escape in string");
            }
        }
    }

    void enter(std::size_t depth) {
        if (depth > _limits.maxDepth) fail("nested deeper than " + std::to_string(_limits.maxDepth));
        ++_p;
        skipSpace();
    }

    void countElement() {
        if (_elements >= _limits.maxElements)
            fail("more than " + std::to_string(_limits.maxElements) + " elements");
        ++_elements;
    }

    Value array(std::size_t depth) {
        enter(depth);
        Value v = Value::array();
        Array& a = v.asArray();
        if (_p < _end && *_p == ']') {
            ++_p;
            return v;
        }
        std::int64_t index = 0;
        for (;;) {
            countElement();
            a.set(Key(index++), value(depth));
            skipSpace();
            if (_p >= _end) fail("unexpected end of input in array");
            if (*_p == ']') {
                ++_p;
                return v;
            }
            if (*_p != ',') fail("expected ',' or ']'");
            ++_p;
            skipSpace();
        }
    }

    Value object(std::size_t depth) {
        enter(depth);
        Value v = Value::array();
        Array& a = v.asArray();
        if (_p < _end && *_p == '}') {
            ++_p;
            return v;
        }
        for (;;) {
            countElement();
            if (_p >= _end || *_p != '"') fail("expected a string key");
            Key k(string()); // "7" becomes 7, as json_decode($s, true) does
            skipSpace();
            if (_p >= _end || *_p != ':') fail("expected ':'");
            ++_p;
            skipSpace();
            a.set(k, value(depth));
            skipSpace();
            if (_p >= _end) fail("unexpected end of input in object");
            if (*_p == '}') {
                ++_p;
                return v;
            }
            if (*_p != ',') fail("expected ',' or '}'");
            ++_p;
            skipSpace();
        }
    }

    const char* _begin;
    const char* _p;
    const char* _end;
    DecodeLimits _limits;
    std::size_t _elements = 0;
};

/// The elements a valid JSON text holds (what Parser::countElement
/// counts): one per non-empty array or object plus one per comma outside
/// strings. Stops counting past `stopAbove`. One pass, no allocation.
std::size_t countElements(std::string_view s, std::size_t stopAbove) {
    std::size_t n = 0;
    const std::size_t end = s.size();
    for (std::size_t i = 0; i < end && n <= stopAbove;) {
        char c = s[i++];
        if (c == '"') {
            while (i < end && s[i] != '"') i += s[i] == '\\' ? 2 : 1;
            ++i;
        } else if (c == ',') {
            ++n;
        } else if (c == '[' || c == '{') {
            std::size_t j = i;
            while (j < end && (s[j] == ' ' || s[j] == '\n' || s[j] == '\r' || s[j] == '\t')) ++j;
            if (j < end && s[j] != ']' && s[j] != '}') ++n;
        }
    }
    return n;
}

} // namespace

void appendJsonText(std::string& out, std::string_view s) { appendJsonString(out, s); }

void appendJsonKey(std::string& out, const dora::sdk::Key& k) {
    if (k.isInt()) {
        out.push_back('"');
        dora::sdk::appendInteger(out, k.intValue());
        out.push_back('"');
    } else {
        appendJsonString(out, k.stringValue());
    }
    out.push_back(':');
}

void toJsonTo(std::string& out, const Value& v) {
    switch (v.type()) {
    case Value::Type::Null:
        out.append("null", 4);
        return;
    case Value::Type::Bool:
        if (v.asBool())
            out.append("true", 4);
        else
            out.append("false", 5);
        return;
    case Value::Type::Int:
        dora::sdk::appendInteger(out, v.asInt());
        return;
    case Value::Type::Float: {
        double d = v.asFloat();
        if (std::isfinite(d))
            dora::sdk::appendNumber(out, d, 'e', true);
        else
            out.append("null", 4); // JSON has no INF/NAN; PHP would fail here
        return;
    }
    case Value::Type::String:
        appendJsonString(out, v.asString());
        return;
    case Value::Type::Array: {
        const Array& a = v.asArray();
        bool list = a.isList();
        out.push_back(list ? '[' : '{');
        bool first = true;
        for (const auto& e : a) {
            if (!first) out.push_back(',');
            first = false;
            if (!list) appendJsonKey(out, e.key);
            toJsonTo(out, e.value);
        }
        out.push_back(list ? ']' : '}');
        return;
    }
    }
}

std::string toJson(const Value& v) {
    std::string out;
    toJsonTo(out, v);
    return out;
}

Value fromJson(std::string_view text, const DecodeLimits& limits) {
    // A text that may hold more elements than allowed (every element takes
    // at least 2 bytes) is counted first: refusing it after building the
    // allowed number would cost ~100 bytes an element for nothing.
    if (text.size() / 2 + 1 > limits.maxElements && countElements(text, limits.maxElements) > limits.maxElements)
        throw DecodeError("json: more than " + std::to_string(limits.maxElements) + " elements", 0);
    Parser p(text, limits);
    return p.document();
}

} // namespace dora::wire
