// dora/sdk/testing.h with a real database: the kit runs sync_user's
// handlers in-process (no host), and its SqlScript::backend sends every
// statement, transactions included, to the private MariaDB through the
// MariaDB C API. So a plugin author can unit-test handlers against real
// SQL: rows really written, a real duplicate key, a real transaction.
#include "common/TestSupport.h"

#include <dora/sdk/error.h>
#include <dora/sdk/testing.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <mysql.h>

#include <memory>
#include <stdexcept>
#include <string>

extern "C" const dora_plugin_info* dora_plugin_entry(void); // sync_user's DORA_PLUGIN

using dora::sdk::Value;
using dora::sdk::testing::SqlAnswer;
using dora::sdk::testing::SqlRequest;
using namespace dora::test;

namespace {

/// A backend for the kit: one MariaDB connection, statements with their
/// ? placeholders filled in as escaped literals (the test's own choice; a
/// real plugin test may bind them however it likes).
class MariaDbBackend {
public:
    MariaDbBackend() {
        DbSettings s = testDb();
        _c = mysql_init(nullptr);
        if (!mysql_real_connect(_c, s.host.c_str(), s.user.c_str(), s.password.c_str(), s.database.c_str(), s.port,
                                nullptr, 0))
            throw std::runtime_error(std::string("MariaDB: ") + mysql_error(_c));
        mysql_set_character_set(_c, "utf8mb4");
    }
    ~MariaDbBackend() { mysql_close(_c); }
    MariaDbBackend(const MariaDbBackend&) = delete;
    MariaDbBackend& operator=(const MariaDbBackend&) = delete;

    SqlAnswer operator()(const SqlRequest& r) {
        std::string sql = r.kind == "begin"      ? "START TRANSACTION"
                          : r.kind == "commit"   ? "COMMIT"
                          : r.kind == "rollback" ? "ROLLBACK"
                                                 : fill(r.sql, r.params);
        SqlAnswer a;
        if (mysql_real_query(_c, sql.data(), sql.size()) != 0) {
            a.status = DORA_ERR_SQL;
            a.sqlErrno = static_cast<int>(mysql_errno(_c));
            a.error = mysql_error(_c);
            return a;
        }
        if (r.kind != "query") {
            a.affected = mysql_affected_rows(_c);
            a.insertId = mysql_insert_id(_c);
            return a;
        }
        MYSQL_RES* res = mysql_store_result(_c);
        if (!res) return a;
        const unsigned n = mysql_num_fields(res);
        MYSQL_FIELD* f = mysql_fetch_fields(res);
        while (MYSQL_ROW row = mysql_fetch_row(res)) {
            unsigned long* len = mysql_fetch_lengths(res);
            Value v = Value::array();
            for (unsigned i = 0; i < n; ++i) {
                if (!row[i]) {
                    v.set(f[i].name, Value());
                } else if (IS_NUM(f[i].type) && f[i].type != MYSQL_TYPE_DECIMAL && f[i].type != MYSQL_TYPE_NEWDECIMAL &&
                           f[i].type != MYSQL_TYPE_FLOAT && f[i].type != MYSQL_TYPE_DOUBLE) {
                    v.set(f[i].name, static_cast<std::int64_t>(std::stoll(row[i])));
                } else {
                    v.set(f[i].name, std::string(row[i], len[i]));
                }
            }
            a.rows.push_back(std::move(v));
        }
        mysql_free_result(res);
        return a;
    }

    std::int64_t scalar(const std::string& sql) {
        SqlRequest r{"query", sql, Value::array()};
        SqlAnswer a = (*this)(r);
        if (a.status != DORA_OK || a.rows.empty()) throw std::runtime_error("scalar failed: " + sql + " " + a.error);
        return a.rows[0].asArray().begin()->value.asInt();
    }

private:
    std::string fill(const std::string& sql, const Value& params) {
        std::string out;
        std::size_t k = 0;
        const auto& list = params.asArray();
        auto it = list.begin();
        for (char ch : sql) {
            if (ch != '?') {
                out += ch;
                continue;
            }
            if (it == list.end()) throw std::runtime_error("more ? than params in " + sql);
            const Value& v = it->value;
            ++it;
            ++k;
            if (v.isNull()) {
                out += "NULL";
            } else if (v.isInt()) {
                out += std::to_string(v.asInt());
            } else if (v.isBool()) {
                out += v.asBool() ? "1" : "0";
            } else {
                const std::string s = v.isString() ? v.asString() : std::to_string(v.asFloat());
                std::string esc(s.size() * 2 + 1, '\0');
                esc.resize(mysql_real_escape_string(_c, esc.data(), s.data(), s.size()));
                out += '\'' + esc + '\'';
            }
        }
        return out;
    }
    MYSQL* _c = nullptr;
};

} // namespace

class SdkKitDbTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(SdkKitDbTest);
    CPPUNIT_TEST(testHandlersAgainstRealMariaDb);
    CPPUNIT_TEST_SUITE_END();

public:
    void testHandlersAgainstRealMariaDb() {
        prepareTestDatabase();
        auto db = std::make_shared<MariaDbBackend>();
        (*db)(SqlRequest{"exec", "DELETE FROM users WHERE name LIKE 'kit\\\\_%'", Value::array()});

        // No Redis cache in this test: every get_user reads the database.
        dora::sdk::testing::FakeHost host(dora_plugin_entry(), {{"cache_ttl_sec", "0"}});
        CPPUNIT_ASSERT_MESSAGE(host.error(), host.loaded());
        host.sql.backend = [db](const SqlRequest& r) { return (*db)(r); };

        auto added = host.call("add_user", Value::array().set("name", "kit_ann").set("department", "eng"));
        CPPUNIT_ASSERT_MESSAGE(added.message, added.ok());
        const std::int64_t id = added.value.find("id")->asInt();
        CPPUNIT_ASSERT(id > 0);
        CPPUNIT_ASSERT_EQUAL(id, db->scalar("SELECT id FROM users WHERE name = 'kit_ann'")); // really written

        auto got = host.call("get_user", Value::array().set("name", "kit_ann"));
        CPPUNIT_ASSERT_MESSAGE(got.message, got.ok());
        CPPUNIT_ASSERT_EQUAL(id, got.value.find("id")->asInt());
        CPPUNIT_ASSERT_EQUAL(std::string("eng"), got.value.find("department")->asString());

        // A real duplicate key (errno 1062) becomes the plugin's conflict.
        auto dup = host.call("add_user", Value::array().set("name", "kit_ann"));
        CPPUNIT_ASSERT(dup.isError);
        CPPUNIT_ASSERT_EQUAL(dora::sdk::kConflict, dup.code);

        // A real transaction (begin, locking read, update, commit).
        auto upd = host.call("update_user", Value::array().set("name", "kit_ann").set("department", "ops"));
        CPPUNIT_ASSERT_MESSAGE(upd.message, upd.ok());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1),
                             db->scalar("SELECT COUNT(*) FROM users WHERE name = 'kit_ann' AND department = 'ops'"));
        bool begun = false, committed = false;
        for (const auto& t : host.sql.trace) {
            begun = begun || t == "begin";
            committed = committed || t == "commit";
        }
        CPPUNIT_ASSERT(begun && committed);

        auto missing = host.call("get_user", Value::array().set("name", "kit_nobody"));
        CPPUNIT_ASSERT(missing.isError);
        CPPUNIT_ASSERT_EQUAL(dora::sdk::kNotFound, missing.code);
        // The shared validation: the same UTF-8 rule as async_user.
        auto bad = host.call("add_user", Value::array().set("name", std::string("kit_\xff")));
        CPPUNIT_ASSERT(bad.isError);
        CPPUNIT_ASSERT_EQUAL(dora::sdk::kBadParam, bad.code);
        CPPUNIT_ASSERT_EQUAL(std::string("param 'name' must be valid UTF-8"), bad.message);
        (*db)(SqlRequest{"exec", "DELETE FROM users WHERE name LIKE 'kit\\\\_%'", Value::array()});
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SdkKitDbTest);
