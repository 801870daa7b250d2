// tests/dispatch/PhpScanTest.cpp — protocol::PhpScan, the in-place reader
// the host's three fast paths share (request bodies, SQL parameters, Redis
// argv), on its own; and those paths agreeing with the full decode on
// inputs where a scan could read differently (leading zeros, signs, long
// digit runs, cut bytes): each fast path either reads exactly what the
// full decode reads or gives up, so the full decode answers.
#include "pools/MySqlSessions.h"
#include "protocol/PhpScan.h"

#include <dora/sdk/serialize.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <cstdint>
#include <string>
#include <vector>

using dora::protocol::PhpScan;

namespace {

/// ParamList (the fast path, else the full decode) and the full decode
/// alone agree: the same values, or both refuse.
void assertParamsAgree(const std::string& bytes) {
    std::vector<dora::pools::SqlValue> full;
    dora::sdk::Value owner; // what full's strings view
    bool fullOk = true;
    try {
        owner = dora::sdk::unserialize(bytes);
        full = dora::pools::paramsOf(owner);
    } catch (const std::exception&) {
        fullOk = false;
    }
    bool listOk = true;
    std::vector<dora::pools::SqlValue> got;
    try {
        dora::pools::ParamList list(bytes);
        got = list.params();
        // Compare while the list (which its views may point into) lives.
        CPPUNIT_ASSERT_EQUAL_MESSAGE(bytes, fullOk, true);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(bytes, full.size(), got.size());
        for (std::size_t i = 0; i < got.size(); ++i) {
            CPPUNIT_ASSERT_MESSAGE(bytes, got[i].kind == full[i].kind);
            CPPUNIT_ASSERT_MESSAGE(bytes, got[i].i == full[i].i && got[i].d == full[i].d);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(bytes, std::string(full[i].s), std::string(got[i].s));
        }
    } catch (const CppUnit::Exception&) {
        throw;
    } catch (const std::exception&) {
        listOk = false;
    }
    CPPUNIT_ASSERT_EQUAL_MESSAGE(bytes, fullOk, listOk);
}

} // namespace

class PhpScanTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(PhpScanTest);
    CPPUNIT_TEST(testReadsTokensInPlace);
    CPPUNIT_TEST(testGivesUpAtTheFirstUnexpectedByte);
    CPPUNIT_TEST(testCutInputIsNeverReadPast);
    CPPUNIT_TEST(testSqlParamsAgreeWithTheFullDecode);
    CPPUNIT_TEST_SUITE_END();

public:
    void testReadsTokensInPlace() {
        const std::string in = "a:2:{i:0;s:3:\"a\"b\";i:-7;}";
        PhpScan s(in);
        std::size_t n = 0;
        CPPUNIT_ASSERT(s.header('a', n));
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), n);
        CPPUNIT_ASSERT_EQUAL('i', s.peek());
        const std::size_t from = s.at();
        CPPUNIT_ASSERT(s.lit("i:"));
        std::size_t k = 9;
        CPPUNIT_ASSERT(s.digits(k) && k == 0 && s.lit(";"));
        std::string_view str;
        CPPUNIT_ASSERT(s.string(str));
        CPPUNIT_ASSERT_EQUAL(std::string("a\"b"), std::string(str));
        CPPUNIT_ASSERT(str.data() > in.data() && str.data() < in.data() + in.size()); // a view
        CPPUNIT_ASSERT_EQUAL(std::string("i:0;s:3:\"a\"b\";"), std::string(s.since(from)));
        std::int64_t v = 0;
        CPPUNIT_ASSERT(s.lit("i:") && s.int64(v, ';'));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(-7), v);
        CPPUNIT_ASSERT_EQUAL(std::string("}"), std::string(s.rest()));
        CPPUNIT_ASSERT(s.close() && s.atEnd());
        CPPUNIT_ASSERT_EQUAL('\0', s.peek());

        // Leading zeros are digits, as the full decode reads them, unless refused.
        PhpScan z("007;");
        CPPUNIT_ASSERT(z.digits(k) && k == 7);
        PhpScan z2("007;");
        CPPUNIT_ASSERT(!z2.digits(k, 9, true));
        PhpScan z3("0;");
        CPPUNIT_ASSERT(z3.digits(k, 9, true) && k == 0);
        // At most maxDigits: a longer run stops there (the next byte is then a digit, not what follows).
        PhpScan big("a:1234567890:{");
        CPPUNIT_ASSERT(!big.header('a', n));
        PhpScan nine("a:123456789:{");
        CPPUNIT_ASSERT(nine.header('a', n) && n == 123456789);
    }

    void testGivesUpAtTheFirstUnexpectedByte() {
        std::size_t n = 0;
        std::string_view s;
        std::int64_t v = 0;
        CPPUNIT_ASSERT(!PhpScan("s:2:{").header('a', n));     // another tag
        CPPUNIT_ASSERT(!PhpScan("a:2:\"").header('a', n));    // a string's opening
        CPPUNIT_ASSERT(!PhpScan("a::{").header('a', n));      // no digits
        CPPUNIT_ASSERT(!PhpScan("a:-1:{").header('a', n));    // no sign on counts
        CPPUNIT_ASSERT(!PhpScan("s:3:\"ab\";").string(s));    // length past the quote
        CPPUNIT_ASSERT(!PhpScan("s:1:\"ab\";").string(s));    // no closing quote where the length says
        CPPUNIT_ASSERT(!PhpScan("s:2:\"ab\"").string(s));     // no ';'
        CPPUNIT_ASSERT(!PhpScan("+5;").int64(v, ';'));        // '+' is the full decode's
        CPPUNIT_ASSERT(!PhpScan("5").int64(v, ';'));          // no terminator
        CPPUNIT_ASSERT(!PhpScan("99999999999999999999;").int64(v, ';')); // past int64
        CPPUNIT_ASSERT(!PhpScan("").close());
        CPPUNIT_ASSERT(!PhpScan("x").lit("xy"));
    }

    /// Every prefix of a valid list: each read fails before the end
    /// instead of reading past it (asan would see it).
    void testCutInputIsNeverReadPast() {
        const std::string whole = "a:3:{i:0;s:5:\"hello\";i:1;i:-12;i:2;s:0:\"\";}";
        for (std::size_t cut = 0; cut < whole.size(); ++cut) {
            const std::string part = whole.substr(0, cut);
            PhpScan s(part);
            std::size_t n = 0;
            bool ok = s.header('a', n);
            for (std::size_t i = 0; ok && i < n; ++i) {
                std::size_t k = 0;
                ok = s.lit("i:") && s.digits(k) && s.lit(";");
                if (!ok) break;
                std::string_view str;
                std::int64_t v = 0;
                ok = s.peek() == 's' ? s.string(str) : (s.lit("i:") && s.int64(v, ';'));
            }
            ok = ok && s.close() && s.atEnd();
            CPPUNIT_ASSERT_MESSAGE(part, !ok);
            CPPUNIT_ASSERT(s.at() <= part.size());
        }
    }

    void testSqlParamsAgreeWithTheFullDecode() {
        for (const char* bytes : {
                 "a:2:{i:0;i:5;i:1;s:2:\"ok\";}",
                 "a:02:{i:0;i:5;i:1;s:2:\"ok\";}",       // a leading zero in the count
                 "a:1:{i:0;s:02:\"ok\";}",               // and in a length
                 "a:1:{i:00;i:-0;}",                     // a key 00, a value -0
                 "a:1:{i:0;i:007;}",                     // a value with leading zeros
                 "a:1:{i:0;i:+5;}",                      // a sign the scan leaves to the full decode
                 "a:1:{i:0;i:9223372036854775807;}",     // int64 max
                 "a:1:{i:0;i:9223372036854775808;}",     // one past it
                 "a:1:{i:-3;s:1:\"x\";}",                // a negative key
                 "a:1:{s:1:\"k\";b:1;}",                 // a string key
                 "a:1:{i:0;b:2;}",                       // not a bool
                 "a:2:{i:0;N;}",                         // fewer items than counted
                 "a:1:{i:0;N;}x",                        // bytes after the list
                 "N;",
                 "N;N;",
                 "a:0:{}",
                 "a:1234567890:{}",                      // a count longer than the scan reads
             })
            assertParamsAgree(bytes);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(PhpScanTest);
