// tests/signing/SigningTest.cpp — HMAC-SHA256 request signing (issue 16):
// the wire pieces on their own (RFC 4231 vectors, the signed block's
// layout, the replay cache), then the real host over loopback: signed
// calls served in v1, v2 and JSON; unsigned, wrong-key, tampered, stale
// and replayed frames refused with the signature code (100010 / 100005)
// while a signing client keeps being served; a host that does not require
// signing still serves the unsigned CRC clients.
#include "common/TestSupport.h"

#include <dora/client/Client.h>
#include <dora/client/Codec.h>
#include <dora/wire/Frame.h>
#include <dora/wire/Signing.h>

#include "protocol/Signing.h"

#include <cppunit/extensions/HelperMacros.h>

#include <atomic>
#include <ctime>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

using dora::sdk::Value;
using namespace dora::test;
namespace cl = dora::client;
namespace w = dora::wire;

namespace {

const std::string kKey = "0123456789abcdef-test-signing-key";

std::string hex(const unsigned char* p, std::size_t n) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
        s += d[p[i] >> 4];
        s += d[p[i] & 15];
    }
    return s;
}

/// One request frame as the client library builds it.
std::string request(cl::Generation g, const cl::WireOptions& wo, const std::string& guid = newGuid(),
                    const std::string& say = "hi") {
    Value p = Value::array();
    p.set("say", say);
    std::string out;
    cl::appendRequest(out, g, guid, cl::typeName(g, cl::Mode::Sync, false), cl::singleApi("echo", p), wo);
    return out;
}

/// Reads one answer frame and decodes it as the client does.
cl::Result answer(WireClient& c, const cl::WireOptions& wo, int timeoutMs = 10000) {
    std::string payload = c.readFrame(timeoutMs);
    std::string frame(4, '\0');
    const auto n = static_cast<std::uint32_t>(payload.size());
    for (int i = 0; i < 4; ++i) frame[static_cast<std::size_t>(i)] = static_cast<char>(n >> (24 - 8 * i));
    frame += payload;
    cl::Result r;
    cl::Generation gen{};
    std::size_t used = 0;
    std::string err;
    if (cl::takeAnswer(frame, wo, r, gen, used, err) != cl::TakeStatus::Ok)
        throw std::runtime_error("answer not decoded: " + err);
    return r;
}

/// A client library user calling echo in a loop with the key: must never
/// see an error while the others are refused.
class SignedClient {
public:
    SignedClient(std::uint16_t port, cl::WireOptions wo) : _thread([this, port, wo] {
          try {
              cl::ClientOptions o;
              o.servers = {cl::Server{"127.0.0.1", port}};
              o.wire = wo;
              cl::Client c(o);
              Value p = Value::array();
              p.set("say", "good");
              while (!_stop) {
                  cl::Result r = c.call("echo", p);
                  if (!r.ok()) {
                      ++_fail;
                      _err = r.errorText();
                  }
                  ++_calls;
                  std::this_thread::sleep_for(std::chrono::milliseconds(2));
              }
          } catch (const std::exception& e) {
              ++_fail;
              _err = e.what();
          }
      }) {}
    ~SignedClient() { stop(); }
    void stop() {
        _stop = true;
        if (_thread.joinable()) _thread.join();
    }
    std::size_t calls() const { return _calls; }
    std::size_t failures() const { return _fail; }
    std::string error() const { return _err; }

private:
    std::atomic<bool> _stop{false};
    std::atomic<std::size_t> _calls{0}, _fail{0};
    std::string _err;
    std::thread _thread;
};

std::string signingYaml(bool required, const std::string& extra = "") {
    return "  signing:\n    key: \"" + kKey + "\"\n    required: " + (required ? "true" : "false") + "\n" + extra;
}

} // namespace

class SigningTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(SigningTest);
    CPPUNIT_TEST(testHmacMatchesRfc4231);
    CPPUNIT_TEST(testSignedBlockLayout);
    CPPUNIT_TEST(testReplayCacheBounded);
    CPPUNIT_TEST(testVerifierCostPerFrame);
    CPPUNIT_TEST(testSignedCallsServedEveryGeneration);
    CPPUNIT_TEST(testRefusalsWhileGoodClientServed);
    CPPUNIT_TEST(testCrcModeUnsignedFrameGetsSignatureCode);
    CPPUNIT_TEST(testOptionalSigningServesUnsignedCrcClients);
    CPPUNIT_TEST(testHostWithoutKeyRefusesSignedFrames);
    CPPUNIT_TEST(testDoraCliSignsWithKeyFile);
    CPPUNIT_TEST_SUITE_END();

public:
    /// RFC 4231 test cases 1 and 2, the data split in two parts as the
    /// frame's MAC is computed (head, then the rest).
    void testHmacMatchesRfc4231() {
        unsigned char mac[32];
        w::HmacSha256 jefe("Jefe");
        jefe.mac("what do ya ", "want for nothing?", mac);
        CPPUNIT_ASSERT_EQUAL(std::string("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
                             hex(mac, 32));
        jefe.mac("", "what do ya want for nothing?", mac); // same key state reused
        CPPUNIT_ASSERT_EQUAL(std::string("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
                             hex(mac, 32));
        w::HmacSha256 k1(std::string(20, '\x0b'));
        k1.mac("Hi ", "There", mac);
        CPPUNIT_ASSERT_EQUAL(std::string("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
                             hex(mac, 32));
    }

    /// signFrame puts the 60-byte block after the length (and CRC) and
    /// parseFrame gives back every field; one flipped byte anywhere after
    /// the length fails the MAC. The frame is docs/protocol.md's example.
    void testSignedBlockLayout() {
        for (bool crc : {false, true}) {
            w::FrameOptions fo;
            fo.signature = crc;
            std::string out;
            const std::string guid = "5d41402abc4b2a76b9719d911017c592";
            w::appendFrame(out, w::Generation::V2, guid, "a:0:{}", fo);
            const std::string unsigned_ = out;
            w::HmacSha256 h("0123456789abcdef");
            const std::string nonce("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f", 16);
            w::signFrame(out, 0, fo, h, 1764590000000ULL, nonce);
            CPPUNIT_ASSERT_EQUAL(unsigned_.size() + 60, out.size());
            const std::size_t at = crc ? 8 : 4;
            CPPUNIT_ASSERT_EQUAL(std::string("\xF5" "DS" "\x01", 4), out.substr(at, 4));
            // Everything an unsigned frame carries after its length (and
            // CRC) follows the block unchanged, CRC included.
            CPPUNIT_ASSERT_EQUAL(unsigned_.substr(4, at - 4), out.substr(4, at - 4));
            CPPUNIT_ASSERT_EQUAL(unsigned_.substr(at), out.substr(at + 60));
            w::Frame f;
            std::size_t used = 0;
            CPPUNIT_ASSERT(w::parseFrame(out, fo, f, used) == w::ParseStatus::Ok);
            CPPUNIT_ASSERT_EQUAL(out.size(), used);
            CPPUNIT_ASSERT(f.signing == w::Signing::Signed);
            CPPUNIT_ASSERT(f.generation == w::Generation::V2);
            CPPUNIT_ASSERT_EQUAL(guid, std::string(f.guid));
            CPPUNIT_ASSERT_EQUAL(std::string("a:0:{}"), std::string(f.body));
            CPPUNIT_ASSERT(f.signatureOk);
            CPPUNIT_ASSERT_EQUAL(std::uint64_t(1764590000000ULL), f.timestampMs);
            CPPUNIT_ASSERT_EQUAL(nonce, std::string(f.nonce));
            CPPUNIT_ASSERT(w::macMatches(f, h));
            w::HmacSha256 other("0123456789abcdeX");
            CPPUNIT_ASSERT(!w::macMatches(f, other));
            if (!crc) // docs/protocol.md's worked example, computed there with Python's hmac
                CPPUNIT_ASSERT_EQUAL(std::string("00000062f54453010000019ad9c29780000102030405060708090a0b0c0d0e0f"
                                                 "f9e4a5896749e7ed93377f78379e62f2775cb24cd124c8e73ce09b7c257a5658"
                                                 "3564343134303261626334623261373662393731396439313130313763353932"
                                                 "613a303a7b7d"),
                                     hex(reinterpret_cast<const unsigned char*>(out.data()), out.size()));
            for (std::size_t i = 4; i < out.size(); ++i) {
                if (crc && i < 8) continue; // the CRC is not MAC'd (it is derived from the body)
                std::string bad = out;
                bad[i] = static_cast<char>(bad[i] ^ 0x01);
                w::Frame g;
                if (w::parseFrame(bad, fo, g, used) != w::ParseStatus::Ok) continue;
                CPPUNIT_ASSERT_MESSAGE("byte " + std::to_string(i) + " flipped still verifies",
                                       g.signing != w::Signing::Signed || !w::macMatches(g, h));
            }
        }
        // The magic with less than the whole block: malformed, not v1.
        std::string cut = std::string("\0\0\0\x08", 4) + std::string("\xF5" "DS" "\x01" "abcd", 8);
        w::Frame f;
        std::size_t used = 0;
        CPPUNIT_ASSERT(w::parseFrame(cut, w::FrameOptions{}, f, used) == w::ParseStatus::Ok);
        CPPUNIT_ASSERT(f.signing == w::Signing::Malformed);
    }

    /// The cache refuses a nonce seen within the window, holds at most its
    /// capacity, and once full refuses timestamps up to the newest one it
    /// had to forget (never lets a replay through).
    void testReplayCacheBounded() {
        using O = dora::protocol::ReplayCache::Outcome;
        dora::protocol::ReplayCache cache(3, 300000);
        auto nonce = [](int i) { return std::string(15, 'n') + static_cast<char>(i); };
        const std::int64_t now = 1000000000;
        CPPUNIT_ASSERT(cache.admit(nonce(1), now - 10, now) == O::Fresh);
        CPPUNIT_ASSERT(cache.admit(nonce(1), now - 10, now) == O::Replayed);
        CPPUNIT_ASSERT(cache.admit(nonce(2), now - 5, now) == O::Fresh);
        CPPUNIT_ASSERT(cache.admit(nonce(3), now - 1, now) == O::Fresh);
        CPPUNIT_ASSERT(cache.admit(nonce(4), now, now) == O::Fresh); // forgets nonce 1 (ts now-10)
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), cache.size());
        CPPUNIT_ASSERT(cache.admit(nonce(1), now - 10, now) == O::TooOld); // the replay is still refused
        CPPUNIT_ASSERT(cache.admit(nonce(9), now - 20, now) == O::TooOld);
        CPPUNIT_ASSERT(cache.admit(nonce(2), now - 5, now) == O::Replayed);
        // Out of the window entries are dropped, the horizon stays.
        CPPUNIT_ASSERT(cache.admit(nonce(5), now + 400000, now + 400000) == O::Fresh);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), cache.size());
    }

    /// What the host's check costs per signed echo frame (MAC, window,
    /// nonce cache), on this thread's CPU clock; printed for the docs, the
    /// assertion only that every frame passed.
    void testVerifierCostPerFrame() {
        dora::protocol::SigningOptions so;
        so.key = kKey;
        so.required = true;
        dora::protocol::RequestVerifier v(so, 1);
        cl::WireOptions wo;
        wo.signingKey = kKey;
        constexpr int kFrames = 200000;
        std::vector<std::string> frames;
        frames.reserve(kFrames);
        for (int i = 0; i < kFrames; ++i) frames.push_back(request(cl::Generation::V2, wo, newGuid()));
        auto cpuNs = [] {
            timespec ts{};
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
            return double(ts.tv_sec) * 1e9 + double(ts.tv_nsec);
        };
        const std::int64_t now = static_cast<std::int64_t>(w::unixMillis());
        int passed = 0;
        double t0 = cpuNs();
        for (const auto& f : frames) {
            w::Frame fr;
            std::size_t used = 0;
            w::parseFrame(f, w::FrameOptions{}, fr, used);
            passed += v.check(fr, 0, now) == dora::protocol::SignatureVerdict::Ok;
        }
        double perFrame = (cpuNs() - t0) / kFrames;
        std::cout << "\n  verifier: " << perFrame / 1000 << " us CPU per signed " << frames.front().size()
                  << "-byte echo frame (parse + HMAC + window + nonce cache)" << std::endl;
        CPPUNIT_ASSERT_EQUAL(kFrames, passed);
    }

    /// Signed echo calls through the client library in every generation
    /// (also with the CRC on and gzip bodies).
    void testSignedCallsServedEveryGeneration() {
        for (bool crc : {false, true}) {
            HostProcess::Options o;
            o.serverYaml = signingYaml(true);
            if (crc) o.extraYaml = "protocol:\n  signature: true\n";
            HostProcess host(o);
            for (cl::Generation g : {cl::Generation::V1, cl::Generation::V2, cl::Generation::Json}) {
                for (bool gz : {false, true}) {
                    if (gz && g != cl::Generation::V2) continue;
                    cl::ClientOptions co;
                    co.servers = {cl::Server{"127.0.0.1", host.port()}};
                    co.generation = g;
                    co.wire.signature = crc;
                    co.wire.gzip = gz;
                    co.wire.signingKey = kKey;
                    cl::Client c(co);
                    Value p = Value::array();
                    p.set("say", std::string("hello ") + cl::generationName(g));
                    for (int i = 0; i < 3; ++i) {
                        cl::Result r = c.call("echo", p);
                        CPPUNIT_ASSERT_MESSAGE(std::string(cl::generationName(g)) + ": " + r.errorText(), r.ok());
                        CPPUNIT_ASSERT_EQUAL(std::string("hello ") + cl::generationName(g),
                                             r.calls.at(0).data.find("say")->asString());
                    }
                    CPPUNIT_ASSERT(c.getStat().ok()); // control commands too
                }
            }
            CPPUNIT_ASSERT(host.log().find("request signing: HMAC-SHA256, required") != std::string::npos);
        }
    }

    /// On a host that requires signing: unsigned (v1, v2, JSON), wrong key,
    /// one tampered byte, a stale timestamp and a replayed frame are each
    /// answered with the signature code on a connection that stays open,
    /// and the host logs them rate-limited; a signing client calling all
    /// the while never fails.
    void testRefusalsWhileGoodClientServed() {
        HostProcess::Options o;
        o.serverYaml = signingYaml(true, "    replay_window_sec: 60\n");
        HostProcess host(o);
        cl::WireOptions good;
        good.signingKey = kKey;
        SignedClient background(host.port(), good);
        WireClient c(host.port());

        auto expect = [&](const std::string& what, const std::string& bytes, cl::Generation g, int code,
                          const std::string& msgPart) {
            c.sendRaw(bytes);
            cl::Result r = answer(c, cl::WireOptions{});
            CPPUNIT_ASSERT_EQUAL_MESSAGE(what + ": " + r.msg, code, r.code);
            CPPUNIT_ASSERT_MESSAGE(what + ": " + r.msg, r.msg.find(msgPart) != std::string::npos);
            CPPUNIT_ASSERT(r.calls.empty());
            (void)g;
            // The connection still serves a good frame.
            c.sendRaw(request(cl::Generation::V1, good));
            cl::Result ok = answer(c, good);
            CPPUNIT_ASSERT_MESSAGE(what + " then good: " + ok.msg, ok.code == 0);
        };
        const cl::WireOptions none;
        std::string g2 = newGuid();
        expect("unsigned v1", request(cl::Generation::V1, none), cl::Generation::V1, 100010,
               "requires HMAC-SHA256 signed frames");
        expect("unsigned json", request(cl::Generation::Json, none), cl::Generation::Json, 100010,
               "requires HMAC-SHA256");
        {
            c.sendRaw(request(cl::Generation::V2, none, g2));
            std::string payload = c.readFrame();
            CPPUNIT_ASSERT_EQUAL(g2, payload.substr(0, 32)); // answered in v2, to its guid
            c.sendRaw(request(cl::Generation::V2, none, g2));
            cl::Result r = answer(c, none);
            CPPUNIT_ASSERT_EQUAL(100005, r.code);
            CPPUNIT_ASSERT_EQUAL(g2, r.guid);
        }
        // Garbage that would be a 100006 or a 100007-and-close unsigned:
        // the signature code, the connection kept.
        expect("unsigned garbage", v1Frame("not php at all"), cl::Generation::V1, 100010, "requires HMAC-SHA256");
        cl::WireOptions wrong;
        wrong.signingKey = "another-key-of-sufficient-length";
        expect("wrong key", request(cl::Generation::V1, wrong), cl::Generation::V1, 100010, "bad HMAC-SHA256");
        std::string tampered = request(cl::Generation::V1, good, newGuid(), "pay 10");
        tampered[tampered.find("pay 10") + 4] = '9';
        expect("tampered", tampered, cl::Generation::V1, 100010, "bad HMAC-SHA256");
        {
            // Stale: a correctly signed frame from 61 s ago.
            w::FrameOptions fo;
            std::string f;
            w::appendFrame(f, w::Generation::V1, {}, v1Request(newGuid(), "SSS", oneCall("echo", Value("x"))), fo);
            w::HmacSha256 h(kKey);
            w::signFrame(f, 0, fo, h, w::unixMillis() - 61000, std::string(16, 's'));
            expect("stale", f, cl::Generation::V1, 100010, "outside the replay window");
            std::string future;
            w::appendFrame(future, w::Generation::V1, {}, v1Request(newGuid(), "SSS", oneCall("echo", Value("x"))), fo);
            w::signFrame(future, 0, fo, h, w::unixMillis() + 61000, std::string(16, 'f'));
            expect("future", future, cl::Generation::V1, 100010, "outside the replay window");
        }
        {
            std::string once = request(cl::Generation::V2, good);
            c.sendRaw(once);
            CPPUNIT_ASSERT_EQUAL(0, answer(c, good).code);
            expect("replayed", once, cl::Generation::V2, 100005, "seen already");
            // Replayed on another connection too.
            WireClient other(host.port());
            other.sendRaw(once);
            CPPUNIT_ASSERT_EQUAL(100005, answer(other, good).code);
        }
        // A cut-short signed block.
        expect("malformed", v1Frame(std::string("\xF5" "DS" "\x01" "short", 9)), cl::Generation::V1, 100010,
               "cut short");
        // A burst of bad frames: the log stays at about a line a second.
        for (int i = 0; i < 500; ++i) c.sendRaw(request(cl::Generation::V1, wrong));
        for (int i = 0; i < 500; ++i) CPPUNIT_ASSERT_EQUAL(100010, answer(c, none).code);
        waitUntil([&] { return background.calls() >= 20; }, 20000);
        background.stop();
        const std::string log = host.log();
        std::size_t lines = 0;
        for (std::size_t at = log.find("refused a frame from"); at != std::string::npos;
             at = log.find("refused a frame from", at + 1))
            ++lines;
        std::cout << "\n  signing refusals: " << lines << " log lines for ~510 refused frames; good client "
                  << background.calls() << " calls, " << background.failures() << " failures" << std::endl;
        CPPUNIT_ASSERT_EQUAL_MESSAGE(background.error(), std::size_t(0), background.failures());
        CPPUNIT_ASSERT(background.calls() >= 20);
        CPPUNIT_ASSERT(lines >= 1 && lines < 40);
        CPPUNIT_ASSERT(log.find("refused a frame from 127.0.0.1:") != std::string::npos);
        CPPUNIT_ASSERT(host.running());
    }

    /// The CRC mode on a signing host: an unsigned frame with a right CRC
    /// and one with a wrong CRC both get the signature code (not served,
    /// not decoded).
    void testCrcModeUnsignedFrameGetsSignatureCode() {
        HostProcess::Options o;
        o.serverYaml = signingYaml(true);
        o.extraYaml = "protocol:\n  signature: true\n";
        HostProcess host(o);
        cl::WireOptions crc;
        crc.signature = true;
        WireClient c(host.port());
        c.sendRaw(request(cl::Generation::V1, crc));
        cl::Result r = answer(c, crc);
        CPPUNIT_ASSERT_EQUAL(100010, r.code);
        CPPUNIT_ASSERT(r.msg.find("requires HMAC-SHA256") != std::string::npos);
        std::string badCrc = request(cl::Generation::V2, crc);
        badCrc[5] = static_cast<char>(badCrc[5] ^ 0x55);
        c.sendRaw(badCrc);
        r = answer(c, crc);
        CPPUNIT_ASSERT_EQUAL(100005, r.code);
        CPPUNIT_ASSERT(r.msg.find("requires HMAC-SHA256") != std::string::npos);
        crc.signingKey = kKey;
        c.sendRaw(request(cl::Generation::V1, crc));
        CPPUNIT_ASSERT_EQUAL(0, answer(c, crc).code);
    }

    /// signing.required false: old unsigned CRC clients are served as
    /// before, signed ones are checked (a wrong key is still refused).
    void testOptionalSigningServesUnsignedCrcClients() {
        HostProcess::Options o;
        o.serverYaml = signingYaml(false);
        o.extraYaml = "protocol:\n  signature: true\n";
        HostProcess host(o);
        cl::WireOptions crc;
        crc.signature = true;
        WireClient c(host.port());
        for (cl::Generation g : {cl::Generation::V1, cl::Generation::V2, cl::Generation::Json}) {
            c.sendRaw(request(g, crc));
            cl::Result r = answer(c, crc);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.msg, 0, r.code);
        }
        cl::WireOptions signedCrc = crc;
        signedCrc.signingKey = kKey;
        c.sendRaw(request(cl::Generation::V2, signedCrc));
        CPPUNIT_ASSERT_EQUAL(0, answer(c, crc).code);
        signedCrc.signingKey = "another-key-of-sufficient-length";
        c.sendRaw(request(cl::Generation::V2, signedCrc));
        CPPUNIT_ASSERT_EQUAL(100005, answer(c, crc).code);
        CPPUNIT_ASSERT(host.log().find("optional (unsigned frames served)") != std::string::npos);
    }

    /// A host with no key answers a signed frame with the signature code
    /// (it cannot check it), and serves unsigned ones as ever.
    void testHostWithoutKeyRefusesSignedFrames() {
        HostProcess host;
        WireClient c(host.port());
        cl::WireOptions s;
        s.signingKey = kKey;
        c.sendRaw(request(cl::Generation::V1, s));
        cl::Result r = answer(c, s);
        CPPUNIT_ASSERT_EQUAL(100010, r.code);
        CPPUNIT_ASSERT(r.msg.find("no signing key") != std::string::npos);
        c.sendRaw(request(cl::Generation::V1, cl::WireOptions{}));
        CPPUNIT_ASSERT_EQUAL(0, answer(c, s).code);
    }

    /// `dora --sign-key FILE call` against a host with key_file: served;
    /// without the flag: refused with the signature code.
    void testDoraCliSignsWithKeyFile() {
        char tmpl[] = "/tmp/dora-sign-XXXXXX";
        CPPUNIT_ASSERT(mkdtemp(tmpl));
        const std::string keyFile = std::string(tmpl) + "/key";
        {
            std::ofstream f(keyFile);
            f << kKey << "\n";
        }
        HostProcess::Options o;
        o.serverYaml = "  signing:\n    key_file: " + keyFile + "\n    required: true\n";
        HostProcess host(o);
        const std::string dora = buildDir() + "/bin/dora";
        const std::string at = " --server 127.0.0.1:" + std::to_string(host.port());
        auto run = [](const std::string& cmd) {
            std::string out;
            FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
            char buf[4096];
            while (p && std::fgets(buf, sizeof buf, p)) out += buf;
            int st = p ? ::pclose(p) : -1;
            return std::make_pair(st, out);
        };
        auto ok = run(dora + " call echo '{\"say\":\"signed\"}' --sign-key " + keyFile + at);
        auto refused = run(dora + " call echo '{\"say\":\"plain\"}'" + at);
        auto envOk = run("DORA_SIGN_KEY_FILE=" + keyFile + " " + dora + " call echo '{\"say\":\"env\"}' --json" + at);
        std::system(("rm -rf '" + std::string(tmpl) + "'").c_str());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(ok.second, 0, ok.first);
        CPPUNIT_ASSERT_MESSAGE(ok.second, ok.second.find("signed") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(refused.second, refused.first != 0);
        CPPUNIT_ASSERT_MESSAGE(refused.second, refused.second.find("100005") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(envOk.second, 0, envOk.first);
        CPPUNIT_ASSERT_MESSAGE(envOk.second, envOk.second.find("env") != std::string::npos);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SigningTest);
