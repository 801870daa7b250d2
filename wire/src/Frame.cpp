#include <dora/wire/Frame.h>
#include <dora/wire/Signing.h>

#include <zlib.h>

#include <cstring>

namespace dora::wire {

namespace {

constexpr std::size_t kHeader = 4;
constexpr std::size_t kSig = 4;
constexpr std::size_t kGuid = 32;

std::uint32_t readBE32(const char* p) {
    const auto* u = reinterpret_cast<const unsigned char*>(p);
    return (std::uint32_t(u[0]) << 24) | (std::uint32_t(u[1]) << 16) | (std::uint32_t(u[2]) << 8) |
           std::uint32_t(u[3]);
}

void writeBE32(char* p, std::uint32_t v) {
    p[0] = static_cast<char>((v >> 24) & 0xff);
    p[1] = static_cast<char>((v >> 16) & 0xff);
    p[2] = static_cast<char>((v >> 8) & 0xff);
    p[3] = static_cast<char>(v & 0xff);
}

bool isHex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

} // namespace

bool isGuid(std::string_view s) {
    if (s.size() != kGuid) return false;
    for (char c : s)
        if (!isHex(c)) return false;
    return true;
}

std::uint32_t signatureOf(std::string_view body, std::string_view salt) {
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(salt.data()), static_cast<uInt>(salt.size()));
    return static_cast<std::uint32_t>(crc);
}

ParseStatus parseFrame(std::string_view in, const FrameOptions& opt, Frame& out,
                       std::size_t& consumed) {
    if (in.size() < kHeader) return ParseStatus::NeedMore;
    std::uint32_t len = readBE32(in.data());
    // Refuse before buffering: the caller sees this as soon as 4 bytes are in.
    if (len > opt.maxFrameBytes) return ParseStatus::TooLarge;
    std::size_t minLen = opt.signature ? kSig + 1 : 1;
    if (len < minLen) return ParseStatus::BadLength;
    if (in.size() < kHeader + len) return ParseStatus::NeedMore;

    std::string_view payload = in.substr(kHeader, len);
    std::uint32_t sig = 0;
    if (opt.signature) {
        sig = readBE32(payload.data());
        payload.remove_prefix(kSig);
    }
    out = Frame{};
    // HMAC-signed: the block sits where the guid or body would start. Its
    // magic begins with 0xF5, which no v2 guid, JSON or PHP body does.
    if (payload.size() >= kSignedMagic.size() && payload.substr(0, kSignedMagic.size()) == kSignedMagic) {
        if (payload.size() < kSignedBlockBytes) {
            out.signing = Signing::Malformed;
            consumed = kHeader + len;
            return ParseStatus::Ok;
        }
        out.signing = Signing::Signed;
        std::uint64_t ts = 0;
        for (std::size_t i = 0; i < 8; ++i)
            ts = (ts << 8) | static_cast<unsigned char>(payload[kSignedMagic.size() + i]);
        out.timestampMs = ts;
        out.signedHead = payload.substr(0, kSignedHeadBytes);
        out.nonce = payload.substr(kSignedMagic.size() + 8, kNonceBytes);
        out.mac = payload.substr(kSignedHeadBytes, kMacBytes);
        payload.remove_prefix(kSignedBlockBytes);
        out.signedRest = payload;
    }
    // v2: 32 hex digits of guid first. A v1 body starts with "a:", JSON
    // with '{', so the three cannot be confused.
    if (payload.size() >= kGuid && isGuid(payload.substr(0, kGuid))) {
        out.generation = Generation::V2;
        out.guid = payload.substr(0, kGuid);
        out.body = payload.substr(kGuid);
    } else if (!payload.empty() && payload[0] == '{') {
        out.generation = Generation::Json;
        out.body = payload;
    } else {
        out.generation = Generation::V1;
        out.body = payload;
    }
    if (opt.signature) out.signatureOk = signatureOf(out.body, opt.salt) == sig;
    consumed = kHeader + len;
    return ParseStatus::Ok;
}

std::size_t beginFrame(std::string& out, Generation gen, std::string_view guid,
                       const FrameOptions& opt) {
    std::size_t start = out.size();
    out.append(kHeader + (opt.signature ? kSig : 0), '\0');
    if (gen == Generation::V2) {
        char pad[kGuid];
        std::memset(pad, '0', kGuid);
        std::memcpy(pad, guid.data(), guid.size() < kGuid ? guid.size() : kGuid);
        out.append(pad, kGuid);
    }
    return start;
}

void finishFrame(std::string& out, std::size_t start, Generation gen, const FrameOptions& opt) {
    std::size_t len = out.size() - start - kHeader;
    writeBE32(&out[start], static_cast<std::uint32_t>(len));
    if (opt.signature) {
        std::size_t bodyAt = start + kHeader + kSig + (gen == Generation::V2 ? kGuid : 0);
        std::string_view body(out.data() + bodyAt, out.size() - bodyAt);
        writeBE32(&out[start + kHeader], signatureOf(body, opt.salt));
    }
}

void appendFrame(std::string& out, Generation gen, std::string_view guid, std::string_view body,
                 const FrameOptions& opt) {
    std::size_t start = beginFrame(out, gen, guid, opt);
    out.append(body);
    finishFrame(out, start, gen, opt);
}

std::string gzipEncode(std::string_view in, int level) {
    z_stream zs{};
    // 15 + 16: zlib writes a gzip (RFC 1952) header and trailer.
    if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
    std::string out;
    out.resize(deflateBound(&zs, static_cast<uLong>(in.size())) + 32);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    int rc = deflate(&zs, Z_FINISH);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return rc == Z_STREAM_END ? out : std::string();
}

bool gzipDecode(std::string_view in, std::size_t maxOut, std::string& out) {
    z_stream zs{};
    if (inflateInit2(&zs, 15 + 16) != Z_OK) return false;
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    out.clear();
    char buf[16384];
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        zs.next_out = reinterpret_cast<Bytef*>(buf);
        zs.avail_out = sizeof buf;
        rc = inflate(&zs, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) break;
        out.append(buf, sizeof buf - zs.avail_out);
        if (out.size() > maxOut) {
            rc = Z_DATA_ERROR;
            break;
        }
        if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
            rc = Z_DATA_ERROR; // truncated stream
            break;
        }
    }
    // Bytes after the end of the first member (a second gzip member, or
    // junk) would be dropped without a word: refuse the body instead.
    bool trailing = rc == Z_STREAM_END && zs.avail_in != 0;
    inflateEnd(&zs);
    return rc == Z_STREAM_END && !trailing;
}

} // namespace dora::wire
