// The one code table (dora/wire/codes.def) against everything that repeats
// it: the SDK's handler codes, the client's names and descriptions, and the
// code table in docs/protocol.md. A code added, renamed or re-valued in one
// place and not the others fails here.
#include <dora/client/Result.h>
#include <dora/sdk/error.h>
#include <dora/wire/Codes.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

namespace w = dora::wire;

class CodesTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(CodesTest);
    CPPUNIT_TEST(testTableHasUniqueCodesAndNames);
    CPPUNIT_TEST(testSdkSubsetMatchesTable);
    CPPUNIT_TEST(testClientNamesAndDescriptionsComeFromTable);
    CPPUNIT_TEST(testDocsTableMatchesTable);
    CPPUNIT_TEST_SUITE_END();

public:
    void testTableHasUniqueCodesAndNames() {
        std::set<int> codes;
        std::set<std::string> names;
        for (const auto& c : w::kCodes) {
            CPPUNIT_ASSERT_MESSAGE("duplicate code " + std::to_string(c.code), codes.insert(c.code).second);
            CPPUNIT_ASSERT_MESSAGE("duplicate name " + std::string(c.name), names.insert(std::string(c.name)).second);
            CPPUNIT_ASSERT_MESSAGE("code " + std::to_string(c.code) + " has no description", !c.text.empty());
            // The host's own codes are documented; DoraRPC's are in PROTOCOL.md.
            CPPUNIT_ASSERT_EQUAL(c.code >= 100200, !c.doc.empty());
        }
    }

    void testSdkSubsetMatchesTable() {
        CPPUNIT_ASSERT_EQUAL(w::code::kHandlerFailed, int(dora::sdk::kHandlerFailed));
        CPPUNIT_ASSERT_EQUAL(w::code::kDatabaseDown, int(dora::sdk::kDatabaseDown));
        CPPUNIT_ASSERT_EQUAL(w::code::kBadParam, int(dora::sdk::kBadParam));
        CPPUNIT_ASSERT_EQUAL(w::code::kNotFound, int(dora::sdk::kNotFound));
        CPPUNIT_ASSERT_EQUAL(w::code::kConflict, int(dora::sdk::kConflict));
        CPPUNIT_ASSERT_EQUAL(w::code::kRedisDown, int(dora::sdk::kRedisDown));
    }

    void testClientNamesAndDescriptionsComeFromTable() {
        for (const auto& c : w::kCodes) CPPUNIT_ASSERT_EQUAL(std::string(c.text), dora::client::describeCode(c.code));
        CPPUNIT_ASSERT_EQUAL(std::string("code 4242"), dora::client::describeCode(4242));
        CPPUNIT_ASSERT_EQUAL(100009, dora::client::code::kTimeout);
        CPPUNIT_ASSERT_EQUAL(100010, dora::client::code::kNoServer);
        CPPUNIT_ASSERT_EQUAL(std::string("server busy"), dora::client::describeCode(100202));
    }

    /// Every `| 1002xx | meaning | where |` row of docs/protocol.md's code
    /// table is a table code with exactly that meaning, and every host code
    /// has its row.
    void testDocsTableMatchesTable() {
        const char* src = std::getenv("DORA_SOURCE_DIR");
        CPPUNIT_ASSERT_MESSAGE("DORA_SOURCE_DIR is not set (run through ctest)", src != nullptr);
        std::ifstream in(std::string(src) + "/docs/protocol.md");
        CPPUNIT_ASSERT_MESSAGE("cannot read docs/protocol.md", in.good());
        std::map<int, std::string> documented;
        std::string line;
        while (std::getline(in, line)) {
            if (line.rfind("| 100", 0) != 0) continue;
            std::istringstream cells(line.substr(1));
            std::string codeCell, meaning;
            std::getline(cells, codeCell, '|');
            std::getline(cells, meaning, '|');
            auto trim = [](std::string s) {
                s.erase(0, s.find_first_not_of(' '));
                s.erase(s.find_last_not_of(' ') + 1);
                return s;
            };
            int c = std::atoi(trim(codeCell).c_str());
            if (c < 100200 || c > 100299) continue;
            CPPUNIT_ASSERT_MESSAGE("code " + std::to_string(c) + " is documented twice",
                                   documented.emplace(c, trim(meaning)).second);
        }
        for (const auto& c : w::kCodes) {
            if (c.code < 100200) continue;
            auto it = documented.find(c.code);
            CPPUNIT_ASSERT_MESSAGE("docs/protocol.md lacks code " + std::to_string(c.code), it != documented.end());
            CPPUNIT_ASSERT_EQUAL(std::string(c.doc), it->second);
            documented.erase(it);
        }
        CPPUNIT_ASSERT_MESSAGE("docs/protocol.md documents codes the table does not have", documented.empty());
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(CodesTest);
