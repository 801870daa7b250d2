// Unit tests of the frame layer: split and coalesced input, limits,
// signatures, generation detection, gzip.
#include <dora/wire/Frame.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

using namespace dora::wire;

namespace {

std::string be32(std::uint32_t n) {
    return std::string{static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                       static_cast<char>(n)};
}

const std::string kGuid = "0123456789abcdef0123456789abcdef";

} // namespace

class FrameTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(FrameTest);
    CPPUNIT_TEST(testOneByteAtATime);
    CPPUNIT_TEST(testHundredFramesInOneBuffer);
    CPPUNIT_TEST(testTooLargeRefusedFromHeaderAlone);
    CPPUNIT_TEST(testZeroLengthRefused);
    CPPUNIT_TEST(testGenerations);
    CPPUNIT_TEST(testSignatureV1MatchesPhpCrc32);
    CPPUNIT_TEST(testSignatureV2CoversBodyNotGuid);
    CPPUNIT_TEST(testWrongSignatureIsReportedNotDropped);
    CPPUNIT_TEST(testGzipRoundTripAndLimits);
    CPPUNIT_TEST_SUITE_END();

public:
    void testOneByteAtATime() {
        FrameOptions opt;
        std::string body = "a:1:{s:1:\"k\";i:1;}";
        std::string wire = be32(static_cast<std::uint32_t>(body.size())) + body;
        std::string buf;
        Frame f;
        std::size_t used = 0;
        for (std::size_t i = 0; i + 1 < wire.size(); ++i) {
            buf += wire[i];
            CPPUNIT_ASSERT(parseFrame(buf, opt, f, used) == ParseStatus::NeedMore);
        }
        buf += wire.back();
        CPPUNIT_ASSERT(parseFrame(buf, opt, f, used) == ParseStatus::Ok);
        CPPUNIT_ASSERT_EQUAL(wire.size(), used);
        CPPUNIT_ASSERT_EQUAL(body, std::string(f.body));
        CPPUNIT_ASSERT(f.generation == Generation::V1);
    }

    void testHundredFramesInOneBuffer() {
        FrameOptions opt;
        std::string buf;
        for (int i = 0; i < 100; ++i) {
            std::string body = "a:1:{i:0;i:" + std::to_string(i) + ";}";
            appendFrame(buf, Generation::V1, {}, body, opt);
        }
        std::string_view rest = buf;
        for (int i = 0; i < 100; ++i) {
            Frame f;
            std::size_t used = 0;
            CPPUNIT_ASSERT(parseFrame(rest, opt, f, used) == ParseStatus::Ok);
            CPPUNIT_ASSERT_EQUAL("a:1:{i:0;i:" + std::to_string(i) + ";}", std::string(f.body));
            rest.remove_prefix(used);
        }
        CPPUNIT_ASSERT(rest.empty());
    }

    void testTooLargeRefusedFromHeaderAlone() {
        FrameOptions opt;
        opt.maxFrameBytes = 1024;
        Frame f;
        std::size_t used = 0;
        CPPUNIT_ASSERT(parseFrame(be32(1025), opt, f, used) == ParseStatus::TooLarge);
        CPPUNIT_ASSERT(parseFrame(be32(1024), opt, f, used) == ParseStatus::NeedMore);
    }

    void testZeroLengthRefused() {
        FrameOptions opt;
        Frame f;
        std::size_t used = 0;
        CPPUNIT_ASSERT(parseFrame(be32(0), opt, f, used) == ParseStatus::BadLength);
        opt.signature = true; // a signed frame needs 4 bytes of signature + a body
        CPPUNIT_ASSERT(parseFrame(be32(4) + "abcd", opt, f, used) == ParseStatus::BadLength);
    }

    void testGenerations() {
        FrameOptions opt;
        Frame f;
        std::size_t used = 0;
        std::string v2 = be32(static_cast<std::uint32_t>(32 + 6)) + kGuid + "a:0:{}";
        CPPUNIT_ASSERT(parseFrame(v2, opt, f, used) == ParseStatus::Ok);
        CPPUNIT_ASSERT(f.generation == Generation::V2);
        CPPUNIT_ASSERT_EQUAL(kGuid, std::string(f.guid));
        CPPUNIT_ASSERT_EQUAL(std::string("a:0:{}"), std::string(f.body));
        std::string json = be32(2) + "{}";
        CPPUNIT_ASSERT(parseFrame(json, opt, f, used) == ParseStatus::Ok);
        CPPUNIT_ASSERT(f.generation == Generation::Json);
        // 32 characters that are not all hex are not a guid.
        std::string notGuid = "a:1:{s:4:\"guid\";s:32:\"0123456789";
        CPPUNIT_ASSERT(!isGuid(notGuid.substr(0, 32)));
    }

    void testSignatureV1MatchesPhpCrc32() {
        // php -r 'echo sprintf("%u", crc32("a:0:{}=&$*#@(*&%(@"));'
        FrameOptions opt;
        opt.signature = true;
        std::string out;
        appendFrame(out, Generation::V1, {}, "a:0:{}", opt);
        CPPUNIT_ASSERT_EQUAL(std::size_t(4 + 4 + 6), out.size());
        CPPUNIT_ASSERT_EQUAL(be32(10), out.substr(0, 4));
        CPPUNIT_ASSERT_EQUAL(be32(signatureOf("a:0:{}", opt.salt)), out.substr(4, 4));
        // zlib's crc32 of the standard check string is the IEEE value.
        CPPUNIT_ASSERT_EQUAL(std::uint32_t(0xCBF43926u), signatureOf("123456789", ""));
        Frame f;
        std::size_t used = 0;
        CPPUNIT_ASSERT(parseFrame(out, opt, f, used) == ParseStatus::Ok);
        CPPUNIT_ASSERT(f.signatureOk);
    }

    void testSignatureV2CoversBodyNotGuid() {
        FrameOptions opt;
        opt.signature = true;
        std::string out;
        appendFrame(out, Generation::V2, kGuid, "a:0:{}", opt);
        // pack('N', strlen(body)+4+32) . sig . guid . body
        CPPUNIT_ASSERT_EQUAL(be32(6 + 4 + 32), out.substr(0, 4));
        CPPUNIT_ASSERT_EQUAL(be32(signatureOf("a:0:{}", opt.salt)), out.substr(4, 4));
        CPPUNIT_ASSERT_EQUAL(kGuid, out.substr(8, 32));
        Frame f;
        std::size_t used = 0;
        CPPUNIT_ASSERT(parseFrame(out, opt, f, used) == ParseStatus::Ok);
        CPPUNIT_ASSERT(f.generation == Generation::V2);
        CPPUNIT_ASSERT(f.signatureOk);
    }

    void testWrongSignatureIsReportedNotDropped() {
        FrameOptions opt;
        opt.signature = true;
        std::string out;
        appendFrame(out, Generation::V1, {}, "a:0:{}", opt);
        out[5] ^= 1;
        Frame f;
        std::size_t used = 0;
        CPPUNIT_ASSERT(parseFrame(out, opt, f, used) == ParseStatus::Ok);
        CPPUNIT_ASSERT(!f.signatureOk);
        CPPUNIT_ASSERT_EQUAL(out.size(), used);
    }

    void testGzipRoundTripAndLimits() {
        std::string body(10000, 'x');
        std::string z = gzipEncode(body, 4);
        CPPUNIT_ASSERT(z.size() < body.size());
        CPPUNIT_ASSERT_EQUAL(0x1f, static_cast<unsigned char>(z[0]) + 0);
        CPPUNIT_ASSERT_EQUAL(0x8b, static_cast<unsigned char>(z[1]) + 0);
        std::string back;
        CPPUNIT_ASSERT(gzipDecode(z, 1 << 20, back));
        CPPUNIT_ASSERT_EQUAL(body, back);
        CPPUNIT_ASSERT(!gzipDecode(z, 100, back));                 // bomb guard
        CPPUNIT_ASSERT(!gzipDecode(z.substr(0, z.size() / 2), 1 << 20, back)); // truncated
        CPPUNIT_ASSERT(!gzipDecode("not gzip at all", 1 << 20, back));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(FrameTest);
