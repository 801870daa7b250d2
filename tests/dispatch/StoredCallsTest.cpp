// tests/dispatch/StoredCallsTest.cpp — protocol::decodeRequest's
// storedCalls: the body's calls bytes are kept for a stored async request
// only when they are exactly what encodeCalls would write, so the stream
// holds the same bytes either way. Bodies as PHP clients serialize them
// (name before param), and each way a body can differ from that layout
// while still decoding to the same calls.
#include "protocol/Request.h"
#include "protocol/Wire.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <string>
#include <vector>

using namespace dora::protocol;

namespace {

std::string str(const std::string& s) { return "s:" + std::to_string(s.size()) + ":\"" + s + "\";"; }

/// A call as PHP writes it: the key (already serialized), name, then param.
std::string call(const std::string& key, const std::string& name, const std::string& param) {
    return key + "a:2:{" + str("name") + str(name) + str("param") + param + "}";
}

std::string body(const std::string& type, const std::string& calls) {
    return "a:3:{" + str("type") + str(type) + str("guid") + str("g-1") + str("api") + calls + "}";
}

Request decode(const std::string& bytes, Generation gen = Generation::V1) {
    Frame f;
    f.generation = gen;
    f.body = bytes;
    Request req;
    RequestError err;
    CPPUNIT_ASSERT_MESSAGE(err.message, decodeRequest(f, RequestLimits{}, 1 << 20, req, err));
    return req;
}

std::string encoded(const Request& r) {
    std::string out;
    encodeCalls(r.calls, out);
    return out;
}

const std::string kParam = "a:1:{s:4:\"name\";s:3:\"NO1\";}";

} // namespace

class StoredCallsTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(StoredCallsTest);
    CPPUNIT_TEST(testPhpLayoutIsKeptAsIs);
    CPPUNIT_TEST(testOtherLayoutsAreEncodedAgain);
    CPPUNIT_TEST(testInflatedBodyIsNotViewed);
    CPPUNIT_TEST_SUITE_END();

public:
    void testPhpLayoutIsKeptAsIs() {
        const std::string calls = "a:3:{" + call("i:0;", "add_user", kParam) + call("i:1;", "insert_user", kParam) +
                                  call(str("plus"), "plus_user", kParam) + "}";
        const std::string b = body("SRM", calls);
        Request r = decode(b);
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), r.calls.size());
        CPPUNIT_ASSERT_EQUAL(calls, std::string(r.storedCalls));
        CPPUNIT_ASSERT_EQUAL(encoded(r), std::string(r.storedCalls));
        // A view of the body itself, not a copy.
        CPPUNIT_ASSERT(r.storedCalls.data() >= b.data() && r.storedCalls.data() < b.data() + b.size());

        // (storedCalls views the body: each body outlives its request here.)
        const std::string oneBody = body("SSS", "a:1:{" + call(str("one"), "add_user", kParam) + "}");
        Request one = decode(oneBody);
        CPPUNIT_ASSERT_EQUAL(encoded(one), std::string(one.storedCalls));
        // Ten calls (a two-digit count and keys).
        std::string ten = "a:10:{";
        for (int i = 0; i < 10; ++i)
            ten += call("i:" + std::to_string(i + 5) + ";", "add_user", kParam);
        ten += "}";
        const std::string tenBody = body("SRM", ten);
        Request r10 = decode(tenBody);
        CPPUNIT_ASSERT_EQUAL(ten, std::string(r10.storedCalls));
        CPPUNIT_ASSERT_EQUAL(encoded(r10), std::string(r10.storedCalls));
    }

    void testOtherLayoutsAreEncodedAgain() {
        const std::vector<std::pair<const char*, std::string>> others = {
            {"param before name",
             "a:1:{i:0;a:2:{" + str("param") + kParam + str("name") + str("add_user") + "}}"},
            {"no param", "a:1:{i:0;a:1:{" + str("name") + str("add_user") + "}}"},
            {"an extra field", "a:1:{i:0;a:3:{" + str("name") + str("add_user") + str("param") + kParam +
                                   str("x") + "i:1;}}"},
            {"an int key sent as a string", "a:1:{" + call(str("7"), "add_user", kParam) + "}"},
            {"a repeated key", "a:2:{" + call("i:0;", "add_user", kParam) + call("i:0;", "plus_user", kParam) + "}"},
            {"a leading zero in a length", "a:1:{i:0;a:2:{s:04:\"name\";" + str("add_user") + str("param") + kParam + "}}"},
            {"a leading zero in the count", "a:01:{" + call("i:0;", "add_user", kParam) + "}"},
        };
        for (const auto& [what, calls] : others) {
            const std::string b = body("SRM", calls);
            Request r = decode(b);
            CPPUNIT_ASSERT_MESSAGE(what, !r.calls.empty());
            CPPUNIT_ASSERT_MESSAGE(what, r.storedCalls.empty());
            // What is stored instead decodes to the same calls.
            std::vector<Call> back;
            std::string error;
            CPPUNIT_ASSERT_MESSAGE(what, decodeCalls(encoded(r), back, error));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(what, r.calls.size(), back.size());
            for (std::size_t i = 0; i < back.size(); ++i) {
                CPPUNIT_ASSERT_MESSAGE(what, back[i].key == r.calls[i].key);
                CPPUNIT_ASSERT_EQUAL_MESSAGE(what, r.calls[i].api, back[i].api);
                CPPUNIT_ASSERT_EQUAL_MESSAGE(what, r.calls[i].params.empty() ? std::string("N;") : r.calls[i].params,
                                             back[i].params);
            }
        }
    }

    void testInflatedBodyIsNotViewed() {
        const std::string calls = "a:1:{" + call("i:0;", "add_user", kParam) + "}";
        const std::string zipped = gzipEncode(body("AN_M", calls));
        Request r = decode(zipped, Generation::V2);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), r.calls.size());
        CPPUNIT_ASSERT(r.storedCalls.empty());
        // The same body unzipped is kept.
        const std::string plainBody = body("AN_M", calls);
        Request plain = decode(plainBody, Generation::V2);
        CPPUNIT_ASSERT_EQUAL(calls, std::string(plain.storedCalls));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(StoredCallsTest);
