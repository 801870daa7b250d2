// dora/wire/Signing.h — HMAC-SHA256 request signing (docs/protocol.md,
// "Signed frames"): a 60-byte block between the frame's length (and CRC)
// and what an unsigned frame carries there, so every generation (v1, v2,
// JSON) is signed the same way and the CRC mode stays as it was.
//
//   magic F5 44 53 01 | timestamp: u64 BE ms since the epoch | nonce: 16 B |
//   MAC: HMAC-SHA256(key, magic . timestamp . nonce . rest of the frame)
//
// The parser (parseFrame) finds the block and exposes it in Frame; the
// host verifies it, the client and the bench add it with signFrame.
#pragma once

#include <dora/wire/Frame.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace dora::wire {

inline constexpr std::string_view kSignedMagic{"\xF5" "DS" "\x01", 4};
inline constexpr std::size_t kSignedHeadBytes = 28; ///< magic + timestamp + nonce: covered by the MAC
inline constexpr std::size_t kSignedBlockBytes = 60; ///< + the 32-byte MAC
inline constexpr std::size_t kNonceBytes = 16;
inline constexpr std::size_t kMacBytes = 32;
/// Keys shorter than this are refused (config, --sign-key): a short HMAC
/// key is guessable offline from one captured frame.
inline constexpr std::size_t kMinSigningKeyBytes = 16;

/// HMAC-SHA256 under one key (OpenSSL libcrypto). The key schedule is set
/// once; each mac() costs the two hash passes over the data only. Not
/// thread-safe: one object per thread.
class HmacSha256 {
public:
    explicit HmacSha256(std::string_view key);
    ~HmacSha256();
    HmacSha256(const HmacSha256&) = delete;
    HmacSha256& operator=(const HmacSha256&) = delete;

    /// MAC of a . b into out (32 bytes). Throws std::runtime_error if
    /// libcrypto fails (it does not, short of memory).
    void mac(std::string_view a, std::string_view b, unsigned char out[kMacBytes]);

private:
    struct Impl;
    Impl* _impl;
};

/// Inserts the signed block into the complete frame at out[start..]
/// (built by appendFrame / finishFrame with `opt`): after the length and
/// the CRC when opt.signature, before the guid / body. Fixes the length.
void signFrame(std::string& out, std::size_t start, const FrameOptions& opt, HmacSha256& hmac,
               std::uint64_t timestampMs, std::string_view nonce);

/// True if the frame's MAC is right (constant-time compare). Only for
/// frames with signing == Signing::Signed.
bool macMatches(const Frame& frame, HmacSha256& hmac);

/// Reads a signing key file: its bytes, less one trailing "\n" or "\r\n"
/// (editors add one). Throws std::runtime_error naming the file when it
/// cannot be read or holds fewer than kMinSigningKeyBytes bytes.
std::string readSigningKeyFile(const std::string& path);

/// Milliseconds since the Unix epoch (the timestamp field's clock).
std::uint64_t unixMillis();

} // namespace dora::wire
