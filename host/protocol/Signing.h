// protocol/Signing.h — the host's side of HMAC-SHA256 request signing
// (docs/protocol.md, "Signed frames"): checks a parsed frame's signed block
// against the key, the replay window and the nonces seen, before anything
// of the frame is decoded. The wire format itself is dora/wire/Signing.h.
#pragma once

#include "protocol/Wire.h"

#include <dora/wire/Signing.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace dora::protocol {

struct SigningOptions {
    std::string key;            ///< empty: no key (signed frames are refused)
    bool required = false;      ///< unsigned frames are refused
    int replayWindowSec = 300;  ///< |now - timestamp| allowed
    std::size_t replayCache = 100000; ///< nonces remembered; 0 = no nonce check
};

/// Nonces seen within the replay window, in a bounded ring. When more
/// distinct nonces arrive within the window than it holds, the oldest is
/// forgotten and every timestamp up to the newest forgotten one is refused
/// from then on (the window shrinks; a replay is never let through).
/// Thread-safe.
class ReplayCache {
public:
    enum class Outcome { Fresh, Replayed, TooOld };
    ReplayCache(std::size_t capacity, std::int64_t windowMs);
    Outcome admit(std::string_view nonce, std::int64_t timestampMs, std::int64_t nowMs);
    std::size_t size() const;

private:
    using Nonce = std::array<unsigned char, wire::kNonceBytes>;
    struct NonceHash {
        std::size_t operator()(const Nonce& n) const;
    };
    struct Entry {
        Nonce nonce;
        std::int64_t timestampMs;
    };
    void popOldest();

    const std::size_t _capacity;
    const std::int64_t _windowMs;
    mutable std::mutex _mutex;
    std::vector<Entry> _ring;
    std::size_t _head = 0, _count = 0;
    std::unordered_set<Nonce, NonceHash> _seen;
    std::int64_t _horizonMs = INT64_MIN; ///< newest timestamp forgotten while in the window
};

/// Why a frame was refused; Ok lets it through.
enum class SignatureVerdict { Ok, NotSigned, Malformed, NoKey, BadMac, Stale, Replayed };

/// The sentence a refusal is answered and logged with.
std::string_view verdictText(SignatureVerdict v);

/// One per front end. check() is called on I/O threads: each has its own
/// HMAC state (`slot` = the loop index), the replay cache is shared.
class RequestVerifier {
public:
    RequestVerifier(SigningOptions options, unsigned slots);
    /// True when frames need checking at all (a key is set or signing is
    /// required); false: every frame is Ok as it was before signing.
    bool active() const { return _active; }
    SignatureVerdict check(const Frame& frame, unsigned slot, std::int64_t nowMs);

private:
    const SigningOptions _opt;
    const bool _active;
    std::vector<std::unique_ptr<wire::HmacSha256>> _hmac; ///< per slot
    std::unique_ptr<ReplayCache> _replay;
};

} // namespace dora::protocol
