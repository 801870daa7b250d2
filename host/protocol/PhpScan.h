// protocol/PhpScan.h — an in-place reader of PHP-serialized bytes, for the
// host's fast paths that read one layout they expect as views into the
// input: a request body (protocol/Request.cpp), a call's SQL parameters
// (pools/MySqlSessions.cpp) and a Redis command's argv (plugins/HostApi.cpp).
//
// Every method returns false at the first byte that is not what it reads,
// and the caller then gives up its fast path and takes the full decode
// (dora::sdk::unserialize), which accepts the input or refuses it with the
// precise message. So a scan must accept only what the full decode accepts
// and read it the same way: counts and lengths are digits only (leading
// zeros too, as the full decode reads them), at most 9 of them (longer ones
// take the full path, which checks them properly).
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace dora::protocol {

class PhpScan {
public:
    explicit PhpScan(std::string_view in) : _in(in) {}

    /// Exactly these bytes.
    bool lit(std::string_view s) {
        if (_in.compare(_at, s.size(), s) != 0) return false;
        _at += s.size();
        return true;
    }
    /// An unsigned decimal of 1..maxDigits digits (a count, a length, an
    /// array key); with noLeadingZero, "0" but not "07".
    bool digits(std::size_t& n, std::size_t maxDigits = 9, bool noLeadingZero = false) {
        const std::size_t start = _at;
        n = 0;
        while (_at < _in.size() && _in[_at] >= '0' && _in[_at] <= '9' && _at - start < maxDigits)
            n = n * 10 + static_cast<std::size_t>(_in[_at++] - '0');
        if (_at == start) return false;
        return !(noLeadingZero && _in[start] == '0' && _at - start > 1);
    }
    /// "a:<n>:{" (tag 'a') or "s:<n>:\"" (tag 's').
    bool header(char tag, std::size_t& n) {
        if (_at + 2 > _in.size() || _in[_at] != tag || _in[_at + 1] != ':') return false;
        _at += 2;
        return digits(n) && lit(tag == 'a' ? std::string_view(":{") : std::string_view(":\""));
    }
    /// s:<n>:"<n bytes>"; viewed in place.
    bool string(std::string_view& s) {
        std::size_t n = 0;
        if (!header('s', n) || _in.size() - _at < n + 2) return false;
        s = _in.substr(_at, n);
        _at += n;
        return lit("\";");
    }
    /// A signed 64-bit decimal ending in `end` ('-' allowed; no '+').
    bool int64(std::int64_t& v, char end) {
        const char* first = _in.data() + _at;
        const char* last = _in.data() + _in.size();
        auto [p, ec] = std::from_chars(first, last, v);
        if (ec != std::errc() || p == last || *p != end) return false;
        _at = static_cast<std::size_t>(p - _in.data()) + 1;
        return true;
    }
    /// The '}' that ends an array.
    bool close() { return lit("}"); }

    bool atEnd() const { return _at == _in.size(); }
    std::size_t at() const { return _at; }
    /// What is left from here on.
    std::string_view rest() const { return _in.substr(_at); }
    /// Bytes [from, here).
    std::string_view since(std::size_t from) const { return _in.substr(from, _at - from); }
    /// Moves past n bytes the caller measured in rest().
    void advance(std::size_t n) { _at += n; }
    /// The next byte, or '\0' at the end.
    char peek() const { return _at < _in.size() ? _in[_at] : '\0'; }

private:
    std::string_view _in;
    std::size_t _at = 0;
};

} // namespace dora::protocol
