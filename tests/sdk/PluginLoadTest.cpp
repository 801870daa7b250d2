// The built sample plugins, loaded with dlopen and driven through a fake
// host function table: entry point, ABI stamp, exported symbols, what init
// registers, echo's bytes, and sync_user's answers that need no database
// (validation) or a scripted one (errors).
#include "sdk/FakeHost.h"

#include <dora/sdk/error.h>
#include <dora/sdk/serialize.h>
#include <dora/sdk/value.h>

#include <cppunit/extensions/HelperMacros.h>

#include <dlfcn.h>
#include <elf.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

using dora::test::FakeHost;

namespace {

std::string pluginPath(const std::string& name) {
    const char* dir = std::getenv("DORA_BUILD_DIR");
    if (dir == nullptr) throw std::runtime_error("DORA_BUILD_DIR is not set (run through ctest)");
    return std::string(dir) + "/lib/dorahost/plugins/lib" + name + ".so";
}

/// A dlopen'ed plugin library and its entry point's answer.
class Loaded {
public:
    explicit Loaded(const std::string& name) : path(pluginPath(name)) {
        _handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (_handle == nullptr) throw std::runtime_error(std::string("dlopen: ") + dlerror());
        auto entry =
            reinterpret_cast<dora_plugin_entry_fn>(dlsym(_handle, DORA_PLUGIN_ENTRY_SYMBOL));
        if (entry == nullptr) throw std::runtime_error(path + " has no " DORA_PLUGIN_ENTRY_SYMBOL);
        info = entry();
        if (info == nullptr) throw std::runtime_error(path + ": entry returned null");
    }
    ~Loaded() { dlclose(_handle); }
    Loaded(const Loaded&) = delete;
    Loaded& operator=(const Loaded&) = delete;

    std::string path;
    const dora_plugin_info* info = nullptr;

private:
    void* _handle = nullptr;
};

/// Names of the symbols a shared object defines and exports (default or
/// protected visibility) in its dynamic symbol table.
std::set<std::string> exportedSymbols(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::string f((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (f.size() < sizeof(Elf64_Ehdr) || f.compare(0, 4, ELFMAG) != 0 || f[EI_CLASS] != ELFCLASS64)
        throw std::runtime_error(path + " is not a 64-bit ELF file");
    Elf64_Ehdr eh;
    std::memcpy(&eh, f.data(), sizeof eh);
    auto section = [&](std::size_t i) {
        Elf64_Shdr sh;
        std::memcpy(&sh, f.data() + eh.e_shoff + i * eh.e_shentsize, sizeof sh);
        return sh;
    };
    std::set<std::string> out;
    for (std::size_t i = 0; i < eh.e_shnum; ++i) {
        Elf64_Shdr sh = section(i);
        if (sh.sh_type != SHT_DYNSYM) continue;
        Elf64_Shdr strtab = section(sh.sh_link);
        for (std::size_t off = 0; off + sizeof(Elf64_Sym) <= sh.sh_size; off += sizeof(Elf64_Sym)) {
            Elf64_Sym sym;
            std::memcpy(&sym, f.data() + sh.sh_offset + off, sizeof sym);
            unsigned bind = ELF64_ST_BIND(sym.st_info);
            if (sym.st_shndx == SHN_UNDEF || bind == STB_LOCAL) continue;
            if (ELF64_ST_VISIBILITY(sym.st_other) == STV_HIDDEN) continue;
            out.insert(std::string(f.data() + strtab.sh_offset + sym.st_name));
        }
    }
    return out;
}

std::set<std::string> registeredNames(const FakeHost& host) {
    std::set<std::string> names;
    for (const auto& h : host.reg.handlers)
        names.insert(h.name);
    return names;
}

std::string ser(const dora::sdk::Value& v) { return dora::sdk::serialize(v); }

dora_call makeCall(const dora::sdk::Value& params) {
    dora_call c;
    c.params = ser(params);
    return c;
}

} // namespace

class PluginLoadTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(PluginLoadTest);
    CPPUNIT_TEST(testEntryPointAndAbiStamp);
    CPPUNIT_TEST(testOnlyTheEntryPointIsExported);
    CPPUNIT_TEST(testInitRegistersExactlyTheRoutes);
    CPPUNIT_TEST(testEchoReturnsTheParamBytes);
    CPPUNIT_TEST(testEchoVersion);
    CPPUNIT_TEST(testSyncUserRejectsBadParams);
    CPPUNIT_TEST(testAddUserDuplicateIsConflict);
    CPPUNIT_TEST(testAddUserReturnsInsertId);
    CPPUNIT_TEST(testDatabaseDownIsClearError);
    CPPUNIT_TEST(testGetUserNotFound);
    CPPUNIT_TEST(testUpdateUserNotFoundRollsBack);
    CPPUNIT_TEST(testUpdateUserUnchangedValueStillUpdates);
    CPPUNIT_TEST(testInitRefusesOtherHostMajor);
    CPPUNIT_TEST(testInitRefusesTruncatedTable);
    CPPUNIT_TEST_SUITE_END();

public:
    void testEntryPointAndAbiStamp() {
        for (const char* name : {"echo", "sync_user"}) {
            Loaded lib(name);
            CPPUNIT_ASSERT_EQUAL(static_cast<std::uint32_t>(sizeof(dora_plugin_info)),
                                 lib.info->struct_size);
            CPPUNIT_ASSERT_EQUAL(static_cast<std::uint16_t>(DORA_ABI_MAJOR), lib.info->abi_major);
            CPPUNIT_ASSERT_EQUAL(static_cast<std::uint16_t>(DORA_ABI_MINOR), lib.info->abi_minor);
            CPPUNIT_ASSERT_EQUAL(std::string(name), std::string(lib.info->name));
            // sync_user 1.1.0: get_user's Redis cache.
            CPPUNIT_ASSERT_EQUAL(std::string(std::string(name) == "echo" ? "1.0.0" : "1.1.0"),
                                 std::string(lib.info->version));
            CPPUNIT_ASSERT(lib.info->init != nullptr);
            CPPUNIT_ASSERT(lib.info->shutdown != nullptr);
        }
    }

    void testOnlyTheEntryPointIsExported() {
        for (const char* name : {"echo", "sync_user"}) {
            std::set<std::string> syms = exportedSymbols(pluginPath(name));
            std::string all;
            for (const auto& s : syms)
                all += s + " ";
            CPPUNIT_ASSERT_MESSAGE(std::string(name) + " exports: " + all,
                                   syms == std::set<std::string>{"dora_plugin_entry"});
        }
    }

    void testInitRegistersExactlyTheRoutes() {
        Loaded sync("sync_user");
        FakeHost s(sync.info);
        CPPUNIT_ASSERT_EQUAL(static_cast<std::int32_t>(DORA_OK), s.status);
        CPPUNIT_ASSERT(s.state() != nullptr);
        // Each write per call and as a batch (the shipped routes use the
        // batch form with group_commit); get_user per call only.
        CPPUNIT_ASSERT((std::set<std::string>{"add_user", "get_user", "update_user", "insert_user",
                                              "plus_user", "add_user_batch", "update_user_batch",
                                              "insert_user_batch", "plus_user_batch"} == registeredNames(s)));
        CPPUNIT_ASSERT_EQUAL(std::size_t(9), s.reg.handlers.size());
        for (const auto& h : s.reg.handlers) {
            const bool batch = h.name.size() > 6 && h.name.compare(h.name.size() - 6, 6, "_batch") == 0;
            CPPUNIT_ASSERT_MESSAGE(h.name, batch ? (h.fn == nullptr && h.batch != nullptr)
                                                 : (h.fn != nullptr && h.batch == nullptr));
        }

        Loaded echo("echo");
        FakeHost e(echo.info);
        CPPUNIT_ASSERT_EQUAL(static_cast<std::int32_t>(DORA_OK), e.status);
        CPPUNIT_ASSERT((std::set<std::string>{"echo", "version"} == registeredNames(e)));
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), e.reg.handlers.size());
    }

    void testEchoReturnsTheParamBytes() {
        Loaded lib("echo");
        FakeHost host(lib.info);
        // Bytes PHP's unserialize() accepts but serialize() never writes
        // ("i:+5;", "d:.5;"): a decode and re-encode would change them.
        const std::string params = "a:3:{s:4:\"name\";s:3:\"bob\";i:7;i:+5;s:1:\"f\";d:.5;}";
        dora_call call;
        call.params = params;
        dora_ctx ctx;
        CPPUNIT_ASSERT_EQUAL(static_cast<std::int32_t>(DORA_OK), host.invoke("echo", call, ctx));
        CPPUNIT_ASSERT(!call.isError);
        CPPUNIT_ASSERT_EQUAL(1, call.answers);
        CPPUNIT_ASSERT_EQUAL(params, call.result);
        CPPUNIT_ASSERT(ctx.trace.empty());

        dora_call none;
        CPPUNIT_ASSERT_EQUAL(static_cast<std::int32_t>(DORA_OK), host.invoke("echo", none, ctx));
        CPPUNIT_ASSERT_EQUAL(std::string("N;"), none.result);
    }

    void testEchoVersion() {
        Loaded lib("echo");
        FakeHost host(lib.info);
        dora_call call;
        dora_ctx ctx;
        CPPUNIT_ASSERT_EQUAL(static_cast<std::int32_t>(DORA_OK), host.invoke("version", call, ctx));
        CPPUNIT_ASSERT_EQUAL(std::string("s:5:\"1.0.0\";"), call.result);
    }

    void testSyncUserRejectsBadParams() {
        using dora::sdk::Value;
        Loaded lib("sync_user");
        FakeHost host(lib.info);
        const std::string longName(65, 'x');
        struct Case {
            const char* handler;
            std::string params;
            std::string message;
        };
        const std::vector<Case> cases = {
            {"add_user", ser(Value("bob")), "params must be an array, got string"},
            {"add_user", ser(Value(5)), "params must be an array, got int"},
            {"add_user", "a:1:{", "params do not decode"}, // prefix: the decoder says why
            {"add_user", ser(Value::array()), "param 'name' is required"},
            {"add_user", "N;", "param 'name' is required"},
            {"add_user", ser(Value::array().set("name", nullptr)), "param 'name' is required"},
            {"add_user", ser(Value::array().set("name", 42)),
             "param 'name' must be a string, got int"},
            {"add_user", ser(Value::array().set("name", Value::array())),
             "param 'name' must be a string, got array"},
            {"add_user", ser(Value::array().set("name", "")), "param 'name' must not be empty"},
            {"add_user", ser(Value::array().set("name", longName)),
             "param 'name' must be at most 64 bytes"},
            {"add_user", ser(Value::array().set("name", "bob").set("department", 3)),
             "param 'department' must be a string, got int"},
            {"add_user", ser(Value::array().set("name", "bob").set("department", longName)),
             "param 'department' must be at most 64 bytes"},
            {"get_user", ser(Value::array().set("name", true)),
             "param 'name' must be a string, got bool"},
            {"get_user", ser(Value::array().set("nam", "bob")), "param 'name' is required"},
            {"update_user", ser(Value::array().set("name", "bob")),
             "param 'department' is required"},
            {"update_user", ser(Value::array().set("name", "bob").set("department", 1.5)),
             "param 'department' must be a string, got float"},
            {"insert_user", ser(Value::array().set("department", "ops")),
             "param 'name' is required"},
            {"plus_user", ser(Value::array().set("name", longName)),
             "param 'name' must be at most 64 bytes"},
        };
        for (const Case& c : cases) {
            dora_call call;
            call.params = c.params;
            dora_ctx ctx;
            std::string what = std::string(c.handler) + " " + c.params;
            CPPUNIT_ASSERT_EQUAL_MESSAGE(what, static_cast<std::int32_t>(DORA_OK),
                                         host.invoke(c.handler, call, ctx));
            CPPUNIT_ASSERT_MESSAGE(what, call.isError);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(what, dora::sdk::kBadParam, call.code);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(what, c.message, call.message.substr(0, c.message.size()));
            CPPUNIT_ASSERT_MESSAGE(what + ": touched the database", ctx.trace.empty());
        }
        // A numeric string is still a string.
        dora_call ok = makeCall(Value::array().set("name", "123"));
        dora_ctx ctx;
        ctx.script.push_back({DORA_OK, 0, "", "", 1, 9});
        host.invoke("add_user", ok, ctx);
        CPPUNIT_ASSERT_MESSAGE(ok.message, !ok.isError);
    }

    void testAddUserDuplicateIsConflict() {
        Loaded lib("sync_user");
        FakeHost host(lib.info);
        dora_call call =
            makeCall(dora::sdk::Value::array().set("name", "bob").set("department", "ops"));
        dora_ctx ctx;
        ctx.script.push_back({DORA_ERR_SQL, 1062, "Duplicate entry 'bob' for key 'uq_users_name'"});
        host.invoke("add_user", call, ctx);
        CPPUNIT_ASSERT(call.isError);
        CPPUNIT_ASSERT_EQUAL(dora::sdk::kConflict, call.code);
        CPPUNIT_ASSERT_EQUAL(std::string("user 'bob' already exists"), call.message);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), ctx.trace.size());
        CPPUNIT_ASSERT_EQUAL(std::string("exec INSERT INTO users (name, department) VALUES (?, ?) "
                                         "a:2:{i:0;s:3:\"bob\";i:1;s:3:\"ops\";}"),
                             ctx.trace[0]);

        // Another SQL failure is not a conflict: the database's message.
        dora_call other = makeCall(dora::sdk::Value::array().set("name", "bob"));
        ctx.script.push_back({DORA_ERR_SQL, 1146, "Table 'dora.users' doesn't exist"});
        host.invoke("add_user", other, ctx);
        CPPUNIT_ASSERT_EQUAL(dora::sdk::kHandlerFailed, other.code);
        CPPUNIT_ASSERT_EQUAL(std::string("Table 'dora.users' doesn't exist"), other.message);
    }

    void testAddUserReturnsInsertId() {
        using dora::sdk::Value;
        Loaded lib("sync_user");
        FakeHost host(lib.info);
        dora_call call = makeCall(Value::array().set("name", "bob"));
        dora_ctx ctx;
        ctx.script.push_back({DORA_OK, 0, "", "", 1, 41});
        host.invoke("add_user", call, ctx);
        CPPUNIT_ASSERT_MESSAGE(call.message, !call.isError);
        CPPUNIT_ASSERT_EQUAL(
            ser(Value::array().set("id", 41).set("name", "bob").set("department", "")),
            call.result);
    }

    void testDatabaseDownIsClearError() {
        Loaded lib("sync_user");
        FakeHost host(lib.info);
        for (const char* handler :
             {"add_user", "get_user", "update_user", "insert_user", "plus_user"}) {
            dora_call call =
                makeCall(dora::sdk::Value::array().set("name", "bob").set("department", "x"));
            dora_ctx ctx;
            ctx.script.push_back(
                {DORA_ERR_DB_DOWN, 2003, "Can't connect to MySQL server on '10.1.2.3'"});
            CPPUNIT_ASSERT_EQUAL(static_cast<std::int32_t>(DORA_OK),
                                 host.invoke(handler, call, ctx));
            CPPUNIT_ASSERT_MESSAGE(handler, call.isError);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(handler, dora::sdk::kDatabaseDown, call.code);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(handler, std::string("database unavailable"),
                                         call.message);
        }
    }

    void testGetUserNotFound() {
        Loaded lib("sync_user");
        FakeHost host(lib.info);
        dora_call call = makeCall(dora::sdk::Value::array().set("name", "bob"));
        dora_ctx ctx; // no script: the query answers no rows
        host.invoke("get_user", call, ctx);
        CPPUNIT_ASSERT(call.isError);
        CPPUNIT_ASSERT_EQUAL(dora::sdk::kNotFound, call.code);
        CPPUNIT_ASSERT_EQUAL(std::string("user 'bob' not found"), call.message);

        // Found: the row is the result.
        using dora::sdk::Value;
        Value row = Value::array()
                        .set("id", 3)
                        .set("name", "bob")
                        .set("department", "ops")
                        .set("visits", 2);
        dora_call found = makeCall(Value::array().set("name", "bob"));
        ctx.script.push_back({DORA_OK, 0, "", ser(Value::array().push(row)), 0, 0});
        host.invoke("get_user", found, ctx);
        CPPUNIT_ASSERT_MESSAGE(found.message, !found.isError);
        CPPUNIT_ASSERT_EQUAL(ser(row), found.result);
    }

    void testUpdateUserNotFoundRollsBack() {
        Loaded lib("sync_user");
        FakeHost host(lib.info);
        dora_call call =
            makeCall(dora::sdk::Value::array().set("name", "bob").set("department", "ops"));
        dora_ctx ctx;
        host.invoke("update_user", call, ctx);
        CPPUNIT_ASSERT_EQUAL(dora::sdk::kNotFound, call.code);
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), ctx.trace.size());
        CPPUNIT_ASSERT_EQUAL(std::string("begin"), ctx.trace[0]);
        CPPUNIT_ASSERT(ctx.trace[1].find("FOR UPDATE") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::string("rollback"), ctx.trace[2]);
    }

    void testUpdateUserUnchangedValueStillUpdates() {
        using dora::sdk::Value;
        Loaded lib("sync_user");
        FakeHost host(lib.info);
        dora_call call = makeCall(Value::array().set("name", "bob").set("department", "ops"));
        dora_ctx ctx;
        ctx.script.push_back({}); // begin
        ctx.script.push_back(
            {DORA_OK, 0, "", ser(Value::array().push(Value::array().set("id", 3))), 0, 0});
        ctx.script.push_back({DORA_OK, 0, "", "", 0, 0}); // UPDATE: 0 affected (same value)
        host.invoke("update_user", call, ctx);
        CPPUNIT_ASSERT_MESSAGE(call.message, !call.isError);
        CPPUNIT_ASSERT_EQUAL(ser(Value::array().set("updated", true)), call.result);
        CPPUNIT_ASSERT_EQUAL(std::string("commit"), ctx.trace.back());
    }

    void testInitRefusesOtherHostMajor() {
        Loaded lib("sync_user");
        dora_host_api api = dora::test::fakeHostApi();
        api.abi_major = DORA_ABI_MAJOR + 1;
        FakeHost host(lib.info, api);
        CPPUNIT_ASSERT(host.status != DORA_OK);
        CPPUNIT_ASSERT(host.state() == nullptr);
        CPPUNIT_ASSERT(host.reg.handlers.empty());
        const std::string expect = "plugin ABI " + std::to_string(DORA_ABI_MAJOR) + "." +
                                   std::to_string(DORA_ABI_MINOR) + ", host ABI " +
                                   std::to_string(DORA_ABI_MAJOR + 1) + "." +
                                   std::to_string(DORA_ABI_MINOR);
        CPPUNIT_ASSERT_MESSAGE(host.initError,
                               host.initError.find("not binary compatible") != std::string::npos);
        CPPUNIT_ASSERT_MESSAGE(host.initError, host.initError.find(expect) != std::string::npos);
    }

    void testInitRefusesTruncatedTable() {
        Loaded lib("echo");
        dora_host_api api = dora::test::fakeHostApi();
        api.struct_size = offsetof(dora_host_api, ctx_last_error); // a member short
        FakeHost host(lib.info, api);
        CPPUNIT_ASSERT(host.status != DORA_OK);
        CPPUNIT_ASSERT(host.reg.handlers.empty());
        CPPUNIT_ASSERT_MESSAGE(host.initError,
                               host.initError.find("not binary compatible") != std::string::npos);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(PluginLoadTest);
