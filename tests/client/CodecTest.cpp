// The client codec's lean paths against its value paths, on the same
// bytes: appendSerializedRequest gives the frame appendRequest gives, and
// takeAnswerOutcome reads the outcome takeAnswer + splitCalls read (or
// declines, for the full path to take over), and scanAnswer's views (the
// bench's hot path) agree with both. dora bench relies on all three.
#include <dora/client/Codec.h>
#include <dora/sdk/serialize.h>
#include <dora/wire/Frame.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <string>
#include <vector>

using dora::client::Generation;
using dora::client::Result;
using dora::client::TakeStatus;
using dora::client::WireOptions;
using dora::sdk::Value;

namespace {

const std::string kGuid = "0123456789abcdef0123456789abcdef";

std::string frame(Generation g, const Value& body) {
    std::string out;
    dora::wire::appendFrame(out, g == Generation::V2 ? dora::wire::Generation::V2 : dora::wire::Generation::V1,
                            g == Generation::V2 ? kGuid : "", dora::sdk::serialize(body), dora::wire::FrameOptions{});
    return out;
}

Value envelope(int code, const std::string& msg, Value data) {
    Value v = Value::array();
    v.set("code", code);
    v.set("msg", msg);
    v.set("data", std::move(data));
    return v;
}

Value v2Call(int code, const std::string& msg, Value data) {
    Value v = Value::array();
    v.set("guid", kGuid);
    v.set("code", code);
    v.set("msg", msg);
    v.set("data", std::move(data));
    return v;
}

/// Both readers on one frame: the lean one must agree or decline.
bool agree(const std::string& bytes, Generation g, bool multi) {
    WireOptions opt;
    Result slow, lean;
    Generation gs = g, gl = g;
    std::size_t us = 0, ul = 0;
    std::string es, el;
    CPPUNIT_ASSERT(dora::client::takeAnswer(bytes, opt, slow, gs, us, es) == TakeStatus::Ok);
    if (slow.code == 0) dora::client::splitCalls(slow, gs, multi);
    bool isLean = false;
    CPPUNIT_ASSERT(dora::client::takeAnswerOutcome(bytes, opt, multi, lean, gl, ul, el, isLean) == TakeStatus::Ok);
    CPPUNIT_ASSERT_EQUAL(us, ul);
    if (!isLean) return false;
    CPPUNIT_ASSERT(gs == gl);
    CPPUNIT_ASSERT_EQUAL(slow.code, lean.code);
    CPPUNIT_ASSERT_EQUAL(slow.msg, lean.msg);
    CPPUNIT_ASSERT_EQUAL(slow.guid, lean.guid);
    CPPUNIT_ASSERT_EQUAL(slow.isResult, lean.isResult);
    CPPUNIT_ASSERT_EQUAL(slow.calls.size(), lean.calls.size());
    for (std::size_t k = 0; k < slow.calls.size(); ++k) {
        CPPUNIT_ASSERT(slow.calls[k].key == lean.calls[k].key);
        CPPUNIT_ASSERT_EQUAL(slow.calls[k].code, lean.calls[k].code);
        CPPUNIT_ASSERT_EQUAL(slow.calls[k].msg, lean.calls[k].msg);
    }
    // The views scanAnswer gives (what dora bench checks), reused across
    // answers as the bench does: the same outcome, and each successful
    // call's result bytes decode to the value path's data.
    static dora::client::AnswerView view;
    std::size_t uv = 0;
    std::string ev;
    bool viewLean = false;
    CPPUNIT_ASSERT(dora::client::scanAnswer(bytes, opt, multi, view, uv, ev, viewLean) ==
                   TakeStatus::Ok);
    CPPUNIT_ASSERT(viewLean);
    CPPUNIT_ASSERT_EQUAL(us, uv);
    CPPUNIT_ASSERT(gs == view.answeredIn);
    CPPUNIT_ASSERT_EQUAL(slow.code, view.code);
    CPPUNIT_ASSERT_EQUAL(slow.msg, std::string(view.msg));
    CPPUNIT_ASSERT_EQUAL(slow.guid, std::string(view.guid));
    CPPUNIT_ASSERT_EQUAL(slow.isResult, view.isResult);
    CPPUNIT_ASSERT_EQUAL(slow.calls.size(), view.calls.size());
    for (std::size_t k = 0; k < slow.calls.size(); ++k) {
        const auto& cv = view.calls[k];
        CPPUNIT_ASSERT(slow.calls[k].key ==
                       (cv.keyIsInt ? dora::sdk::Key(cv.keyInt) : dora::sdk::Key(cv.key)));
        CPPUNIT_ASSERT_EQUAL(slow.calls[k].code, cv.code);
        if (cv.unshaped) {
            CPPUNIT_ASSERT(cv.msg.empty() && cv.data.empty());
            continue;
        }
        CPPUNIT_ASSERT_EQUAL(slow.calls[k].msg, std::string(cv.msg));
        if (cv.code == 0)
            CPPUNIT_ASSERT(dora::sdk::unserialize(cv.data) == slow.calls[k].data);
        else
            CPPUNIT_ASSERT(cv.data.empty());
    }
    return true;
}

} // namespace

class CodecTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(CodecTest);
    CPPUNIT_TEST(testSerializedRequestIsTheValueRequest);
    CPPUNIT_TEST(testLeanAnswerAgreesWithValuePath);
    CPPUNIT_TEST(testViewDataIsTheResultBytes);
    CPPUNIT_TEST(testLeanAnswerDeclinesOtherShapes);
    CPPUNIT_TEST_SUITE_END();

public:
    void testSerializedRequestIsTheValueRequest() {
        Value param = Value::array();
        param.set("msg", "hello 7");
        param.set("n", 7);
        Value api = dora::client::singleApi("echo", param);
        for (Generation g : {Generation::V1, Generation::V2}) {
            WireOptions opt;
            std::string slow, fast;
            dora::client::appendRequest(slow, g, kGuid, "SSS", api, opt);
            CPPUNIT_ASSERT(
                dora::client::appendSerializedRequest(fast, g, kGuid, "SSS", dora::sdk::serialize(api), opt));
            CPPUNIT_ASSERT(slow == fast);
        }
        WireOptions gz;
        gz.gzip = true;
        std::string none;
        CPPUNIT_ASSERT(!dora::client::appendSerializedRequest(none, Generation::V2, kGuid, "W_S", "a:0:{}", gz));
        CPPUNIT_ASSERT(!dora::client::appendSerializedRequest(none, Generation::Json, kGuid, "W_S", "a:0:{}", {}));
        CPPUNIT_ASSERT(none.empty());
    }

    void testLeanAnswerAgreesWithValuePath() {
        Value result = Value::array();
        result.set("msg", "hello");
        // v2: one call ok, one call failed, an envelope refusal.
        CPPUNIT_ASSERT(agree(frame(Generation::V2, envelope(0, "OK", v2Call(0, "OK", result))), Generation::V2, false));
        CPPUNIT_ASSERT(
            agree(frame(Generation::V2, envelope(0, "OK", v2Call(100203, "timed out", Value::array()))),
                  Generation::V2, false));
        CPPUNIT_ASSERT(agree(frame(Generation::V2, envelope(100202, "busy", Value::array())), Generation::V2, false));
        Value multi = Value::array();
        multi.set("k0", v2Call(0, "OK", result));
        multi.set("k1", v2Call(100400, "user 'x' not found", Value::array()));
        multi.set(7, v2Call(0, "OK", Value()));
        CPPUNIT_ASSERT(agree(frame(Generation::V2, envelope(0, "OK", multi)), Generation::V2, true));
        // v2: a call slot without the [guid, code, msg, data] shape.
        CPPUNIT_ASSERT(agree(frame(Generation::V2, envelope(0, "OK", Value("bare"))), Generation::V2, false));
        // v1: a result that happens to have three entries with code 0 is a
        // result; a [code != 0, msg, data] triple is an error.
        Value triple = Value::array();
        triple.set("code", 0);
        triple.set("msg", "x");
        triple.set("data", 1);
        CPPUNIT_ASSERT(agree(frame(Generation::V1, envelope(0, "OK", triple)), Generation::V1, false));
        Value err = Value::array();
        err.set("code", 100500);
        err.set("msg", "handler failed");
        err.set("data", Value::array());
        CPPUNIT_ASSERT(agree(frame(Generation::V1, envelope(0, "OK", err)), Generation::V1, false));
        Value v1multi = Value::array();
        v1multi.set("a", result);
        v1multi.set("b", err);
        CPPUNIT_ASSERT(agree(frame(Generation::V1, envelope(0, "OK", v1multi)), Generation::V1, true));
        // A pushed result.
        Value pushed = envelope(0, "OK", v2Call(0, "OK", result));
        pushed.set("isresult", 1);
        pushed.set("guid", kGuid);
        CPPUNIT_ASSERT(agree(frame(Generation::V2, pushed), Generation::V2, false));
    }

    void testViewDataIsTheResultBytes() {
        // An echo answers with its param's bytes: the view's data is exactly
        // those bytes, in v1 (the slot) and v2 (the slot's data field), and
        // a v2 call without a data field reads as N;.
        const std::string param = "a:1:{s:3:\"msg\";s:9:\"hello 123\";}";
        const std::string v1 = "a:4:{s:4:\"code\";i:0;s:3:\"msg\";s:2:\"OK\";s:4:\"data\";" +
                               param + "s:4:\"guid\";s:32:\"" + kGuid + "\";}";
        const std::string v2 =
            "a:4:{s:4:\"code\";i:0;s:3:\"msg\";s:2:\"OK\";s:4:\"data\";a:4:{s:4:\"guid\";s:32:\"" +
            kGuid + "\";s:4:\"code\";i:0;s:3:\"msg\";s:2:\"OK\";s:4:\"data\";" + param +
            "}s:4:\"guid\";s:32:\"" + kGuid + "\";}";
        const std::string v2bare =
            "a:3:{s:4:\"code\";i:0;s:3:\"msg\";s:2:\"OK\";s:4:\"data\";a:3:{s:4:\"guid\";s:32:\"" +
            kGuid + "\";s:4:\"code\";i:0;s:3:\"msg\";s:2:\"OK\";}}";
        struct Case {
            dora::wire::Generation g;
            std::string body, data;
        };
        for (const Case& t : {Case{dora::wire::Generation::V1, v1, param},
                              Case{dora::wire::Generation::V2, v2, param},
                              Case{dora::wire::Generation::V2, v2bare, "N;"}}) {
            for (bool crc : {false, true}) {
                dora::wire::FrameOptions fo;
                fo.signature = crc;
                std::string bytes;
                dora::wire::appendFrame(bytes, t.g, t.g == dora::wire::Generation::V2 ? kGuid : "",
                                        t.body, fo);
                WireOptions opt;
                opt.signature = crc;
                dora::client::AnswerView v;
                std::size_t used = 0;
                std::string err;
                bool lean = false;
                // (The views point into `in`: it must outlive them.)
                const std::string in = bytes + "trailing";
                CPPUNIT_ASSERT(dora::client::scanAnswer(in, opt, false, v, used, err, lean) ==
                               TakeStatus::Ok);
                CPPUNIT_ASSERT(lean);
                CPPUNIT_ASSERT_EQUAL(bytes.size(), used);
                CPPUNIT_ASSERT_EQUAL(0, v.code);
                CPPUNIT_ASSERT_EQUAL(kGuid, std::string(v.guid));
                CPPUNIT_ASSERT_EQUAL(std::size_t(1), v.calls.size());
                CPPUNIT_ASSERT_EQUAL(0, v.calls[0].code);
                CPPUNIT_ASSERT_EQUAL(t.data, std::string(v.calls[0].data));
                // One byte of the body changed: the CRC refuses the frame.
                if (crc) {
                    std::string bad = bytes;
                    bad[bad.size() - 3] ^= 1;
                    CPPUNIT_ASSERT(dora::client::scanAnswer(bad, opt, false, v, used, err, lean) ==
                                   TakeStatus::Bad);
                }
            }
        }
    }

    void testLeanAnswerDeclinesOtherShapes() {
        // A code sent as a numeric string: the value path tolerates it, the
        // lean reader leaves it to the value path.
        Value v = Value::array();
        v.set("code", "0");
        v.set("msg", "OK");
        v.set("data", Value::array());
        CPPUNIT_ASSERT(!agree(frame(Generation::V2, v), Generation::V2, false));
        // A message that is not a string.
        Value w = envelope(0, "OK", Value::array());
        w.set("msg", 5);
        CPPUNIT_ASSERT(!agree(frame(Generation::V2, w), Generation::V2, false));
        // Half a frame: both wait for more.
        std::string whole = frame(Generation::V2, envelope(0, "OK", Value::array()));
        WireOptions opt;
        Result r;
        Generation g = Generation::V2;
        std::size_t used = 0;
        std::string err;
        bool lean = true;
        CPPUNIT_ASSERT(dora::client::takeAnswerOutcome(whole.substr(0, whole.size() - 1), opt, false, r, g, used, err,
                                                       lean) == TakeStatus::NeedMore);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(CodecTest);
