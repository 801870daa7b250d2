// Tests for protocol/Json.h. Expected JSON text was printed by PHP 8.2's
// json_encode($v, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES |
// JSON_PRESERVE_ZERO_FRACTION | JSON_INVALID_UTF8_SUBSTITUTE); the tests
// do not need PHP to run.
#include <dora/wire/Json.h>

#include <dora/sdk/serialize.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

using dora::wire::fromJson;
using dora::wire::toJson;
using dora::wire::toJsonTo;
using dora::sdk::DecodeError;
using dora::sdk::DecodeLimits;
using dora::sdk::Key;
using dora::sdk::Value;

namespace {

/// toJson(v) must be exactly json, and fromJson(json) must give v back.
void assertRoundTrip(const std::string& json, const Value& v) {
    CPPUNIT_ASSERT_EQUAL(json, toJson(v));
    CPPUNIT_ASSERT_MESSAGE("decoded value differs for " + json, fromJson(json) == v);
}

void assertRefused(const std::string& in, const std::string& fragment, const DecodeLimits& limits = {}) {
    try {
        fromJson(in, limits);
    } catch (const DecodeError& e) {
        std::string what = e.what();
        CPPUNIT_ASSERT_MESSAGE("error for [" + in + "] was: " + what, what.find(fragment) != std::string::npos);
        return;
    }
    CPPUNIT_FAIL("accepted malformed JSON [" + in + "]");
}

std::string str(const char* s, std::size_t n) { return std::string(s, n); }

} // namespace

class JsonTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(JsonTest);
    CPPUNIT_TEST(testScalars);
    CPPUNIT_TEST(testInt64Limits);
    CPPUNIT_TEST(testListVersusObject);
    CPPUNIT_TEST(testIntKeysBecomeStrings);
    CPPUNIT_TEST(testKeyNormalisation);
    CPPUNIT_TEST(testNested);
    CPPUNIT_TEST(testDoraRequestMatchesSerialize);
    CPPUNIT_TEST(testFloats);
    CPPUNIT_TEST(testNonFiniteIsNull);
    CPPUNIT_TEST(testNumbersOnInput);
    CPPUNIT_TEST(testEscapesOnOutput);
    CPPUNIT_TEST(testInvalidUtf8Substituted);
    CPPUNIT_TEST(testEscapesOnInput);
    CPPUNIT_TEST(testWhitespace);
    CPPUNIT_TEST(testDuplicateKeyLastWins);
    CPPUNIT_TEST(testAppends);
    CPPUNIT_TEST(testRefusesBadSyntax);
    CPPUNIT_TEST(testRefusesBadNumbers);
    CPPUNIT_TEST(testRefusesBadStrings);
    CPPUNIT_TEST(testRefusesTrailingBytes);
    CPPUNIT_TEST(testErrorNamesOffset);
    CPPUNIT_TEST(testDepthLimit);
    CPPUNIT_TEST(testElementLimit);
    CPPUNIT_TEST(testBigArrayRoundTrips);
    CPPUNIT_TEST_SUITE_END();

public:
    void testScalars() {
        assertRoundTrip("null", Value());
        assertRoundTrip("true", Value(true));
        assertRoundTrip("false", Value(false));
        assertRoundTrip("0", Value(0));
        assertRoundTrip("-42", Value(-42));
        assertRoundTrip("\"\"", Value(""));
        assertRoundTrip("\"h\xc3\xa9llo \xe2\x82\xac\xf0\x9f\x98\x80\"", Value("h\xc3\xa9llo \xe2\x82\xac\xf0\x9f\x98\x80"));
    }

    void testInt64Limits() {
        assertRoundTrip("9223372036854775807", Value(std::numeric_limits<std::int64_t>::max()));
        assertRoundTrip("-9223372036854775808", Value(std::numeric_limits<std::int64_t>::min()));
    }

    void testListVersusObject() {
        assertRoundTrip("[]", Value::array());
        Value list;
        list.push("x").push("y").push(3);
        assertRoundTrip("[\"x\",\"y\",3]", list);
        Value mixed;
        mixed.set(0, "x").set("key", true);
        assertRoundTrip("{\"0\":\"x\",\"key\":true}", mixed);
        // Keys 0..n-1 but out of order: an object, as in PHP.
        Value shuffled;
        shuffled.set(1, "b").set(0, "a");
        assertRoundTrip("{\"1\":\"b\",\"0\":\"a\"}", shuffled);
        // Not starting at 0 (PHP: json_encode([1=>1])).
        Value one;
        one.set(1, 1);
        assertRoundTrip("{\"1\":1}", one);
        // An object whose keys happen to be 0..n-1 is a list in PHP too.
        CPPUNIT_ASSERT_EQUAL(std::string("[1,2]"), toJson(fromJson("{\"0\":1,\"1\":2}")));
        CPPUNIT_ASSERT(fromJson("{}") == Value::array());
    }

    void testIntKeysBecomeStrings() {
        Value v;
        v.set(-5, "neg").set(7, "seven");
        v.set(Key(std::numeric_limits<std::int64_t>::max()), "max");
        v.set(Key(std::numeric_limits<std::int64_t>::min()), "min");
        assertRoundTrip("{\"-5\":\"neg\",\"7\":\"seven\",\"9223372036854775807\":\"max\",\"-9223372036854775808\":\"min\"}", v);
    }

    void testKeyNormalisation() {
        // PHP json_decode('{"7":"a","07":"b","-0":"c","":"d"}', true)
        Value v;
        v.set("7", "a").set("07", "b").set("-0", "c").set("", "d");
        assertRoundTrip("{\"7\":\"a\",\"07\":\"b\",\"-0\":\"c\",\"\":\"d\"}", v);
        Value d = fromJson("{\"7\":1}");
        CPPUNIT_ASSERT(d.asArray().begin()->key.isInt());
        CPPUNIT_ASSERT(!fromJson("{\"07\":1}").asArray().begin()->key.isInt());
        // Escaped key text is decoded before normalising.
        CPPUNIT_ASSERT(fromJson("{\"\\u0037\":1}").asArray().begin()->key == Key(7));
    }

    void testNested() {
        Value inner;
        inner.set("d", false);
        Value c;
        c.push(1).push(2.5).push(Value()).push(inner);
        Value b;
        b.set("c", c);
        Value a;
        a.set("b", b);
        Value v;
        v.set("a", a);
        assertRoundTrip("{\"a\":{\"b\":{\"c\":[1,2.5,null,{\"d\":false}]}}}", v);
    }

    void testDoraRequestMatchesSerialize() {
        const std::string json = "{\"guid\":\"9dd4e461268c8034f5c8564e155c67a6\",\"type\":\"SSS\",\"api\":{\"one\":{\"name\":\"get_user\",\"param\":{\"name\":\"alice\"}}}}";
        const std::string php =
            "a:3:{s:4:\"guid\";s:32:\"9dd4e461268c8034f5c8564e155c67a6\";s:4:\"type\";s:3:\"SSS\";"
            "s:3:\"api\";a:1:{s:3:\"one\";a:2:{s:4:\"name\";s:8:\"get_user\";s:5:\"param\";a:1:{s:4:"
            "\"name\";s:5:\"alice\";}}}}";
        Value fromPhp = dora::sdk::unserialize(php);
        CPPUNIT_ASSERT(fromJson(json) == fromPhp);
        CPPUNIT_ASSERT_EQUAL(json, toJson(fromPhp));
        CPPUNIT_ASSERT_EQUAL(php, dora::sdk::serialize(fromJson(json)));
    }

    void testFloats() {
        assertRoundTrip("0.1", Value(0.1));
        assertRoundTrip("1.0", Value(1.0));
        assertRoundTrip("-2.5", Value(-2.5));
        assertRoundTrip("100.0", Value(100.0));
        assertRoundTrip("0.0", Value(0.0));
        assertRoundTrip("-0.0", Value(-0.0));
        assertRoundTrip("1.0e+25", Value(1e25));
        assertRoundTrip("1.5e-7", Value(1.5e-7));
        assertRoundTrip("0.0001", Value(0.0001));
        assertRoundTrip("1.0e-5", Value(0.00001));
        assertRoundTrip("1000000000000000.0", Value(1e15));
        assertRoundTrip("10000000000000000.0", Value(1e16));
        assertRoundTrip("1.0e+17", Value(1e17));
        assertRoundTrip("12345678901234568.0", Value(12345678901234567.0));
        assertRoundTrip("1.2345678901234568e+20", Value(123456789012345680000.0));
        assertRoundTrip("0.3333333333333333", Value(1.0 / 3.0));
        assertRoundTrip("5.0e-324", Value(5e-324));
        assertRoundTrip("1.7976931348623157e+308", Value(1.7976931348623157e308));
        CPPUNIT_ASSERT(std::signbit(fromJson("-0.0").asFloat()));
        // A float stays a float through JSON.
        CPPUNIT_ASSERT(fromJson(toJson(Value(3.0))).isFloat());
    }

    void testNonFiniteIsNull() {
        CPPUNIT_ASSERT_EQUAL(std::string("null"), toJson(Value(std::numeric_limits<double>::infinity())));
        CPPUNIT_ASSERT_EQUAL(std::string("null"), toJson(Value(-std::numeric_limits<double>::infinity())));
        CPPUNIT_ASSERT_EQUAL(std::string("[null]"), toJson(Value().push(std::numeric_limits<double>::quiet_NaN())));
    }

    void testNumbersOnInput() {
        CPPUNIT_ASSERT(fromJson("-0") == Value(0));
        CPPUNIT_ASSERT(fromJson("-0").isInt());
        CPPUNIT_ASSERT(fromJson("1E2").isFloat());
        CPPUNIT_ASSERT_EQUAL(100.0, fromJson("1E2").asFloat());
        CPPUNIT_ASSERT_EQUAL(1.5, fromJson("15e-1").asFloat());
        CPPUNIT_ASSERT_EQUAL(250.0, fromJson("2.5E+2").asFloat());
        // Beyond int64: a float, as json_decode does.
        CPPUNIT_ASSERT(fromJson("9223372036854775808").isFloat());
        CPPUNIT_ASSERT_EQUAL(9223372036854775808.0, fromJson("9223372036854775808").asFloat());
        CPPUNIT_ASSERT_EQUAL(-9223372036854775808.0 * 10, fromJson("-92233720368547758080").asFloat());
        CPPUNIT_ASSERT_EQUAL(std::numeric_limits<double>::infinity(), fromJson("1e400").asFloat());
        CPPUNIT_ASSERT_EQUAL(0.0, fromJson("1e-400").asFloat());
    }

    void testEscapesOnOutput() {
        // json_encode("\x00\x01\x08\t\n\x0b\x0c\r\x1f\x7f")
        assertRoundTrip("\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f\x7f\"",
                        Value(str("\x00\x01\x08\x09\x0a\x0b\x0c\x0d\x1f\x7f", 10)));
        // Slashes stay, quotes and backslashes are escaped.
        assertRoundTrip("\"say \\\"hi\\\" \\\\ / </script>\"", Value("say \"hi\" \\ / </script>"));
        // U+2028/2029 are escaped even with JSON_UNESCAPED_UNICODE.
        assertRoundTrip("\"a\\u2028b\\u2029c\"", Value("a\xe2\x80\xa8"
                                                     "b\xe2\x80\xa9"
                                                     "c"));
        // String keys are escaped the same way.
        Value k;
        k.set("a\"b\n", 1);
        assertRoundTrip("{\"a\\\"b\\n\":1}", k);
    }

    void testInvalidUtf8Substituted() {
        // One U+FFFD per bad sequence, with PHP's idea of where it ends.
        CPPUNIT_ASSERT_EQUAL(std::string("\"a\xef\xbf\xbd\xef\xbf\xbd"
                                         "b\""),
                             toJson(Value("a\xff\xfe"
                                          "b")));
        CPPUNIT_ASSERT_EQUAL(std::string("\"\xef\xbf\xbd\""), toJson(Value("\xe2\x82")));
        CPPUNIT_ASSERT_EQUAL(std::string("\"\xef\xbf\xbdz\""), toJson(Value("\xe2\x82z")));
        CPPUNIT_ASSERT_EQUAL(std::string("\"\xef\xbf\xbd\xef\xbf\xbd\""), toJson(Value("\xc0\x80")));
        CPPUNIT_ASSERT_EQUAL(std::string("\"\xef\xbf\xbd\""), toJson(Value("\xed\xa0\x80")));
        CPPUNIT_ASSERT_EQUAL(std::string("\"\xef\xbf\xbd\""), toJson(Value("\xf4\x90\x80\x80")));
        CPPUNIT_ASSERT_EQUAL(std::string("\"\xef\xbf\xbdx\""), toJson(Value("\xe2\xc0\x80x")));
        CPPUNIT_ASSERT_EQUAL(std::string("\"\xf0\x9f\x98\x80\xef\xbf\xbd\""),
                             toJson(Value("\xf0\x9f\x98\x80\xf0\x9f\x98")));
        // The output is valid JSON that reads back.
        CPPUNIT_ASSERT(fromJson(toJson(Value("\xff"))) == Value("\xef\xbf\xbd"));
    }

    void testEscapesOnInput() {
        CPPUNIT_ASSERT(fromJson("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"") == Value("\"\\/\b\f\n\r\t"));
        CPPUNIT_ASSERT(fromJson("\"\\u0000a\"") == Value(str("\0a", 2)));
        CPPUNIT_ASSERT(fromJson("\"\\u00e9\\u20AC\"") == Value("\xc3\xa9\xe2\x82\xac"));
        // A surrogate pair is one 4-byte character.
        CPPUNIT_ASSERT(fromJson("\"\\ud83d\\ude00\"") == Value("\xf0\x9f\x98\x80"));
        CPPUNIT_ASSERT(fromJson("\"\\uD83D\\uDE00!\"") == Value("\xf0\x9f\x98\x80!"));
    }

    void testWhitespace() {
        CPPUNIT_ASSERT(fromJson(" \t\r\n{ \"a\" : [ 1 , 2 ] }\n") == fromJson("{\"a\":[1,2]}"));
        CPPUNIT_ASSERT(fromJson("[ ]") == Value::array());
        CPPUNIT_ASSERT(fromJson("{ }") == Value::array());
    }

    void testDuplicateKeyLastWins() {
        Value v = fromJson("{\"a\":1,\"b\":2,\"a\":3}");
        CPPUNIT_ASSERT_EQUAL(std::string("{\"a\":3,\"b\":2}"), toJson(v));
    }

    void testAppends() {
        std::string out = "prefix:";
        toJsonTo(out, Value(1));
        CPPUNIT_ASSERT_EQUAL(std::string("prefix:1"), out);
    }

    void testRefusesBadSyntax() {
        assertRefused("", "unexpected end of input");
        assertRefused("   ", "unexpected end of input");
        assertRefused("[", "unexpected end of input");
        assertRefused("{", "expected a string key");
        assertRefused("[1,]", "expected a value");
        assertRefused("[1 2]", "expected ',' or ']'");
        assertRefused("[1", "unexpected end of input in array");
        assertRefused("{\"a\":1,}", "expected a string key");
        assertRefused("{\"a\" 1}", "expected ':'");
        assertRefused("{\"a\":1", "unexpected end of input in object");
        assertRefused("{\"a\":1 \"b\":2}", "expected ',' or '}'");
        assertRefused("{a:1}", "expected a string key");
        assertRefused("{1:2}", "expected a string key");
        assertRefused("'x'", "expected a value");
        assertRefused("tru", "expected a value");
        assertRefused("nul", "expected a value");
        assertRefused("True", "expected a value");
        assertRefused("NaN", "expected a value");
        assertRefused("Infinity", "expected a value");
    }

    void testRefusesBadNumbers() {
        assertRefused("01", "trailing bytes");
        assertRefused("[01]", "expected ',' or ']'");
        assertRefused("1.", "expected a digit after '.'");
        assertRefused(".5", "expected a value");
        assertRefused("+1", "expected a value");
        assertRefused("-", "expected a digit");
        assertRefused("-a", "expected a digit");
        assertRefused("1e", "expected exponent digits");
        assertRefused("1e+", "expected exponent digits");
        assertRefused("0x10", "trailing bytes");
    }

    void testRefusesBadStrings() {
        assertRefused("\"abc", "unterminated string");
        assertRefused("\"abc\\", "unterminated string");
        assertRefused("\"\\x\"", "unknown escape");
        assertRefused("\"\\u12zz\"", "bad hex digit");
        assertRefused("\"\\u12", "truncated \\u escape");
        assertRefused("\"\\ud800\"", "unpaired UTF-16 surrogate");
        assertRefused("\"\\udc00\\ud800\"", "unpaired UTF-16 surrogate");
        assertRefused("\"\\ud800\\u0041\"", "unpaired UTF-16 surrogate");
        assertRefused("\"\x01\"", "control character");
        assertRefused("\"a\nb\"", "control character");
        assertRefused("\"\xff\"", "malformed UTF-8");
        assertRefused("\"\xc0\x80\"", "malformed UTF-8");
        assertRefused("\"\xed\xa0\x80\"", "malformed UTF-8");
        assertRefused("\"\xe2\x82\"", "malformed UTF-8");
        assertRefused("{\"\xff\":1}", "malformed UTF-8");
    }

    void testRefusesTrailingBytes() {
        assertRefused("[1]]", "trailing bytes");
        assertRefused("[1] x", "trailing bytes");
        assertRefused("1 2", "trailing bytes");
        assertRefused(str("null\0", 5), "trailing bytes");
    }

    void testErrorNamesOffset() {
        try {
            fromJson("{\"a\":[1,2,}");
            CPPUNIT_FAIL("accepted");
        } catch (const DecodeError& e) {
            CPPUNIT_ASSERT_EQUAL(std::size_t(10), e.offset());
            CPPUNIT_ASSERT_EQUAL(std::string("json: unexpected character, expected a value at byte 10"),
                                 std::string(e.what()));
        }
    }

    void testDepthLimit() {
        auto nested = [](std::size_t n) { return std::string(n, '[') + std::string(n, ']'); };
        CPPUNIT_ASSERT(fromJson(nested(64)).isArray());
        assertRefused(nested(65), "nested deeper than 64");
        assertRefused(std::string(100000, '['), "nested deeper than 64");
        DecodeLimits two;
        two.maxDepth = 2;
        CPPUNIT_ASSERT(fromJson("{\"a\":[]}", two).isArray());
        assertRefused("{\"a\":[{}]}", "nested deeper than 2", two);
    }

    void testElementLimit() {
        DecodeLimits three;
        three.maxElements = 3;
        CPPUNIT_ASSERT(fromJson("[1,{\"a\":2}]", three).isArray());
        assertRefused("[1,{\"a\":2,\"b\":3}]", "more than 3 elements", three);
        assertRefused("[1,2,3,4]", "more than 3 elements", three);
    }

    /// 100k elements decode and encode back byte for byte. How fast is the
    /// bench's business (a wall-clock bound here flakes on a loaded box); a
    /// quadratic decoder still shows, as CTest's timeout.
    void testBigArrayRoundTrips() {
        const std::size_t n = 100000;
        std::string json = "[";
        for (std::size_t i = 0; i < n; ++i) {
            if (i) json += ',';
            json += "{\"id\":" + std::to_string(i) + ",\"name\":\"user\"}";
        }
        json += "]";
        Value v = fromJson(json);
        CPPUNIT_ASSERT_EQUAL(n, v.asArray().size());
        CPPUNIT_ASSERT(*v.find(77777)->find("id") == Value(77777));
        CPPUNIT_ASSERT_EQUAL(json, toJson(v));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(JsonTest);
