#include <dora/wire/Signing.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace dora::wire {

struct HmacSha256::Impl {
    EVP_MAC* mac = nullptr;
    EVP_MAC_CTX* ctx = nullptr;
};

HmacSha256::HmacSha256(std::string_view key) : _impl(new Impl) {
    _impl->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (_impl->mac) _impl->ctx = EVP_MAC_CTX_new(_impl->mac);
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    // The key is set once; mac() re-initialises with a null key, which
    // keeps it (no key schedule per message).
    if (!_impl->ctx || EVP_MAC_init(_impl->ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                                    params) != 1) {
        EVP_MAC_CTX_free(_impl->ctx);
        EVP_MAC_free(_impl->mac);
        delete _impl;
        throw std::runtime_error("HMAC-SHA256: libcrypto could not set up the key");
    }
}

HmacSha256::~HmacSha256() {
    EVP_MAC_CTX_free(_impl->ctx);
    EVP_MAC_free(_impl->mac);
    delete _impl;
}

void HmacSha256::mac(std::string_view a, std::string_view b, unsigned char out[kMacBytes]) {
    std::size_t n = 0;
    if (EVP_MAC_init(_impl->ctx, nullptr, 0, nullptr) != 1 ||
        EVP_MAC_update(_impl->ctx, reinterpret_cast<const unsigned char*>(a.data()), a.size()) != 1 ||
        EVP_MAC_update(_impl->ctx, reinterpret_cast<const unsigned char*>(b.data()), b.size()) != 1 ||
        EVP_MAC_final(_impl->ctx, out, &n, kMacBytes) != 1 || n != kMacBytes)
        throw std::runtime_error("HMAC-SHA256: libcrypto failed");
}

void signFrame(std::string& out, std::size_t start, const FrameOptions& opt, HmacSha256& hmac,
               std::uint64_t timestampMs, std::string_view nonce) {
    const std::size_t at = start + 4 + (opt.signature ? 4 : 0);
    char head[kSignedBlockBytes] = {};
    std::memcpy(head, kSignedMagic.data(), kSignedMagic.size());
    for (int i = 0; i < 8; ++i)
        head[4 + i] = static_cast<char>((timestampMs >> (56 - 8 * i)) & 0xff);
    std::memcpy(head + 12, nonce.data(), nonce.size() < kNonceBytes ? nonce.size() : kNonceBytes);
    out.insert(at, head, kSignedBlockBytes);
    unsigned char mac[kMacBytes];
    hmac.mac(std::string_view(head, kSignedHeadBytes),
             std::string_view(out.data() + at + kSignedBlockBytes, out.size() - at - kSignedBlockBytes), mac);
    std::memcpy(&out[at + kSignedHeadBytes], mac, kMacBytes);
    const std::uint32_t len = static_cast<std::uint32_t>(out.size() - start - 4);
    for (int i = 0; i < 4; ++i)
        out[start + static_cast<std::size_t>(i)] = static_cast<char>((len >> (24 - 8 * i)) & 0xff);
}

bool macMatches(const Frame& frame, HmacSha256& hmac) {
    if (frame.signing != Signing::Signed || frame.mac.size() != kMacBytes) return false;
    unsigned char mac[kMacBytes];
    hmac.mac(frame.signedHead, frame.signedRest, mac);
    return CRYPTO_memcmp(mac, frame.mac.data(), kMacBytes) == 0;
}

std::string readSigningKeyFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read signing key file " + path + ": " + std::strerror(errno));
    std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!key.empty() && key.back() == '\n') key.pop_back();
    if (!key.empty() && key.back() == '\r') key.pop_back();
    if (key.size() < kMinSigningKeyBytes)
        throw std::runtime_error("signing key file " + path + " holds " + std::to_string(key.size()) +
                                 " bytes; at least " + std::to_string(kMinSigningKeyBytes) + " are needed");
    return key;
}

std::uint64_t unixMillis() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

} // namespace dora::wire
