#include "protocol/Signing.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <random>

namespace dora::protocol {

std::size_t ReplayCache::NonceHash::operator()(const Nonce& n) const {
    // Only frames whose MAC verified get here, so the nonces are the
    // key holders' own; a per-process seed keeps the buckets even anyway.
    static const std::uint64_t seed = std::random_device{}() | (std::uint64_t(std::random_device{}()) << 32);
    std::uint64_t a = 0, b = 0;
    std::memcpy(&a, n.data(), 8);
    std::memcpy(&b, n.data() + 8, 8);
    std::uint64_t h = (a ^ seed) * 0x9E3779B97F4A7C15ULL ^ (b + seed) * 0xC2B2AE3D27D4EB4FULL;
    return static_cast<std::size_t>(h ^ (h >> 29));
}

ReplayCache::ReplayCache(std::size_t capacity, std::int64_t windowMs)
    : _capacity(capacity), _windowMs(windowMs) {
    _ring.resize(capacity);
    _seen.reserve(capacity);
}

void ReplayCache::popOldest() {
    _seen.erase(_ring[_head].nonce);
    _head = (_head + 1) % _capacity;
    --_count;
}

ReplayCache::Outcome ReplayCache::admit(std::string_view nonce, std::int64_t timestampMs, std::int64_t nowMs) {
    Nonce n{};
    std::memcpy(n.data(), nonce.data(), std::min(nonce.size(), n.size()));
    std::lock_guard<std::mutex> lock(_mutex);
    // Entries out of the window need no memory: their timestamps are
    // refused as stale before the cache is asked.
    while (_count > 0 && _ring[_head].timestampMs < nowMs - _windowMs) popOldest();
    if (timestampMs <= _horizonMs) return Outcome::TooOld;
    if (_seen.count(n)) return Outcome::Replayed;
    if (_count == _capacity) {
        _horizonMs = std::max(_horizonMs, _ring[_head].timestampMs);
        popOldest();
        if (timestampMs <= _horizonMs) return Outcome::TooOld;
    }
    _ring[(_head + _count) % _capacity] = Entry{n, timestampMs};
    ++_count;
    _seen.insert(n);
    return Outcome::Fresh;
}

std::size_t ReplayCache::size() const {
    std::lock_guard<std::mutex> lock(_mutex);
    return _count;
}

std::string_view verdictText(SignatureVerdict v) {
    switch (v) {
    case SignatureVerdict::Ok: return "ok";
    case SignatureVerdict::NotSigned:
        return "signature check failed: this host requires HMAC-SHA256 signed frames (server.signing.required)";
    case SignatureVerdict::Malformed: return "signature check failed: the signed block is cut short";
    case SignatureVerdict::NoKey: return "signature check failed: this host has no signing key (server.signing)";
    case SignatureVerdict::BadMac: return "signature check failed: bad HMAC-SHA256 (wrong key, or the frame was altered)";
    case SignatureVerdict::Stale:
        return "signature check failed: timestamp outside the replay window (server.signing.replay_window_sec; "
               "check the clocks)";
    case SignatureVerdict::Replayed: return "signature check failed: this nonce was seen already (replayed frame)";
    }
    return "signature check failed";
}

RequestVerifier::RequestVerifier(SigningOptions options, unsigned slots)
    : _opt(std::move(options)), _active(!_opt.key.empty() || _opt.required) {
    if (!_opt.key.empty()) {
        for (unsigned i = 0; i < (slots ? slots : 1); ++i)
            _hmac.push_back(std::make_unique<wire::HmacSha256>(_opt.key));
        if (_opt.replayCache > 0)
            _replay = std::make_unique<ReplayCache>(_opt.replayCache, std::int64_t(_opt.replayWindowSec) * 1000);
    }
}

SignatureVerdict RequestVerifier::check(const Frame& frame, unsigned slot, std::int64_t nowMs) {
    switch (frame.signing) {
    case wire::Signing::None: return _opt.required ? SignatureVerdict::NotSigned : SignatureVerdict::Ok;
    case wire::Signing::Malformed: return SignatureVerdict::Malformed;
    case wire::Signing::Signed: break;
    }
    if (_hmac.empty()) return SignatureVerdict::NoKey;
    if (!wire::macMatches(frame, *_hmac[slot < _hmac.size() ? slot : 0])) return SignatureVerdict::BadMac;
    const std::int64_t ts = static_cast<std::int64_t>(frame.timestampMs);
    const std::int64_t windowMs = std::int64_t(_opt.replayWindowSec) * 1000;
    if (frame.timestampMs > std::uint64_t(INT64_MAX) || ts < nowMs - windowMs || ts > nowMs + windowMs)
        return SignatureVerdict::Stale;
    if (_replay) {
        switch (_replay->admit(frame.nonce, ts, nowMs)) {
        case ReplayCache::Outcome::Fresh: break;
        case ReplayCache::Outcome::Replayed: return SignatureVerdict::Replayed;
        case ReplayCache::Outcome::TooOld: return SignatureVerdict::Stale;
        }
    }
    return SignatureVerdict::Ok;
}

} // namespace dora::protocol
