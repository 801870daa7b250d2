// dora/wire/Frame.h — the Dora frame layer (PROTOCOL.md §1): length prefix,
// optional CRC-32 signature, v2 guid header, generation detection.
// Pure functions over byte ranges: no I/O, no allocation beyond the frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace dora::wire {

/// Which client generation (and codec) a frame came in; the answer goes
/// back in the same one.
enum class Generation {
    V1,   ///< PHP-serialized body, no guid header
    V2,   ///< 32-byte guid header, PHP-serialized (optionally gzip) body
    Json, ///< our extension: JSON body, no guid header
};

struct FrameOptions {
    std::size_t maxFrameBytes = 2 * 1024 * 1024; ///< cap on the length field
    bool signature = false;                      ///< frames carry a CRC-32
    std::string salt = "=&$*#@(*&%(@";
};

/// Whether a frame carries the HMAC-SHA256 signed block (dora/wire/Signing.h).
enum class Signing {
    None,      ///< an unsigned frame (what every DoraRPC client sends)
    Signed,    ///< the block is there; the MAC is not checked by the parser
    Malformed, ///< starts with the block's magic but is too short to hold it
};

/// One complete frame, viewing into the caller's buffer.
struct Frame {
    Generation generation = Generation::V1;
    std::string_view guid; ///< v2 header guid (empty otherwise)
    std::string_view body; ///< still gzip-compressed if the client sent so
    bool signatureOk = true; ///< the CRC-32 (protocol.signature), when on
    Signing signing = Signing::None;
    std::uint64_t timestampMs = 0; ///< signed: the timestamp field
    std::string_view nonce;        ///< signed: 16 bytes
    std::string_view mac;          ///< signed: 32 bytes
    std::string_view signedHead;   ///< signed: magic, timestamp, nonce (MAC'd first)
    std::string_view signedRest;   ///< signed: every byte after the MAC (MAC'd next)
};

enum class ParseStatus {
    NeedMore, ///< not a whole frame yet; read more
    Ok,       ///< one frame parsed, `consumed` bytes used
    TooLarge, ///< length over maxFrameBytes: answer 100007, then close
    BadLength ///< length too small to hold the parts: answer 100007, close
};

/// Parses one frame from the start of `in`. On Ok, `consumed` is the bytes
/// the frame took (4 + length). A bad signature is still Ok with
/// signatureOk = false, so the caller can answer it in the right
/// generation and keep the connection.
ParseStatus parseFrame(std::string_view in, const FrameOptions& opt, Frame& out,
                       std::size_t& consumed);

/// Appends a frame around `body` (v2: with guid header) to `out`,
/// signing it when the options say so.
void appendFrame(std::string& out, Generation gen, std::string_view guid, std::string_view body,
                 const FrameOptions& opt);

/// Starts a frame whose body the caller appends next; finishFrame then
/// fills in length and signature. Avoids copying large bodies.
std::size_t beginFrame(std::string& out, Generation gen, std::string_view guid,
                       const FrameOptions& opt);
void finishFrame(std::string& out, std::size_t start, Generation gen, const FrameOptions& opt);

/// PHP crc32() of body . salt.
std::uint32_t signatureOf(std::string_view body, std::string_view salt);

/// True if s is 32 hex digits (a v2 guid).
bool isGuid(std::string_view s);

/// gzip (RFC 1952, as PHP gzencode) and gunzip with a size cap; gunzip
/// returns false on corrupt input, on bytes after the first gzip member
/// (PHP's gzdecode reads one member; a second would be silently cut), or
/// when the output would exceed maxOut.
std::string gzipEncode(std::string_view in, int level = 4);
bool gzipDecode(std::string_view in, std::size_t maxOut, std::string& out);

} // namespace dora::wire
