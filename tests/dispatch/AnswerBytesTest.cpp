// tests/dispatch/AnswerBytesTest.cpp — a single answer's plain frame is
// written in one pass (protocol/Response.cpp, writeSingleAnswer); its body
// must be byte for byte what the piecewise encoder builds
// (appendSingleAnswerBody, which the gzip and JSON paths use), for both
// generations, results and errors, pushed results, and sizes near the
// writer's bound.
#include "protocol/Response.h"
#include "protocol/Wire.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <string>
#include <vector>

using namespace dora::protocol;

class AnswerBytesTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(AnswerBytesTest);
    CPPUNIT_TEST(testOnePassMatchesPiecewise);
    CPPUNIT_TEST_SUITE_END();

public:
    void testOnePassMatchesPiecewise() {
        const std::vector<CallOutcome> outcomes = {
            {0, "", ""},
            {0, "", "s:5:\"hello\";"},
            {0, "", "a:1:{s:4:\"name\";s:3:\"NO1\";}"},
            {0, "", std::string(70000, 'x')},
            {100212, "user 'bob' already exists", ""},
            {-5, "negative", ""},
            {2147483647, std::string(5000, 'm'), ""},
        };
        const std::vector<std::string> guids = {"", "0123456789abcdef0123456789abcdef", std::string(300, 'g')};
        int checked = 0;
        for (Generation gen : {Generation::V1, Generation::V2})
            for (const auto& guid : guids)
                for (const auto& r : outcomes)
                    for (bool isResult : {false, true}) {
                        if (gen == Generation::V2 && guid.size() != 32) continue; // v2 headers carry a 32-hex guid
                        Addressee to{gen, guid};
                        std::string frame = "prefix";
                        appendSingleAnswer(frame, to, r, EncodeOptions{}, isResult);
                        FrameOptions fo;
                        fo.maxFrameBytes = 1 << 24;
                        Frame f;
                        std::size_t used = 0;
                        std::string_view in(frame);
                        in.remove_prefix(6);
                        CPPUNIT_ASSERT(parseFrame(in, fo, f, used) == ParseStatus::Ok);
                        CPPUNIT_ASSERT_EQUAL(in.size(), used);
                        std::string want;
                        appendSingleAnswerBody(want, to, r, isResult);
                        CPPUNIT_ASSERT_EQUAL(want, std::string(f.body));
                        CPPUNIT_ASSERT_EQUAL(std::string("prefix"), frame.substr(0, 6));
                        ++checked;
                    }
        CPPUNIT_ASSERT(checked >= 40);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(AnswerBytesTest);
