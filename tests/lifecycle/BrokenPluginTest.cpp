// Broken plugins are refused or contained, and the host keeps serving:
// at start, in `dorahost --check-config`, and across the ABI (a clang++ /
// old-std::string plugin serves, an ABI 1.0 plugin serves, a plugin for
// another major or a newer minor is refused naming both versions).
#include "lifecycle/LifecycleSupport.h"

#include <dora/sdk/abi.h>
#include <dora/sdk/serialize.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <functional>
#include <iostream>
#include <sstream>

using dora::sdk::Value;
using namespace dora::test;
using namespace dora::test::lifecycle;

namespace {

const std::string kVersionHost =
    std::to_string(DORA_ABI_MAJOR) + "." + std::to_string(DORA_ABI_MINOR);

/// The 1-based line of the first line of `path` starting with `prefix`.
int lineOf(const std::string& path, const std::string& prefix) {
    std::istringstream in(readFile(path));
    std::string line;
    for (int n = 1; std::getline(in, line); ++n)
        if (line.rfind(prefix, 0) == 0) return n;
    throw std::runtime_error(path + " has no line starting with '" + prefix + "'");
}

/// "<routes file>:<line of library:>: plugin library <plugins>/lib<name>.so "
std::string libraryRefusal(const Stage& s, const std::string& name) {
    return s.routesPath(name) + ":" + std::to_string(lineOf(s.routesPath(name), "library:")) +
           ": plugin library " + s.pluginPath("lib" + name + ".so") + " ";
}

std::string abiRefusal(const Stage& s, const std::string& name, const std::string& built) {
    // A newer minor of our major is told how to build for this host.
    const bool sameMajor = built.rfind(std::to_string(DORA_ABI_MAJOR) + ".", 0) == 0;
    return libraryRefusal(s, name) + "is not binary compatible: it was built for plugin ABI " +
           built + " and this host provides ABI " + kVersionHost +
           (sameMajor ? "; rebuild it against SDK " + kVersionHost +
                            ", or build it with DORA_PLUGIN_MIN_ABI_MINOR " +
                            std::to_string(DORA_ABI_MINOR) + " and probe newer functions"
                      : std::string());
}

const std::string kNextMajor = std::to_string(DORA_ABI_MAJOR + 1) + ".0";
const std::string kNextMinor =
    std::to_string(DORA_ABI_MAJOR) + "." + std::to_string(DORA_ABI_MINOR + 1);

/// Every fixture that must be refused, plus what must load beside them.
void stageEverything(Stage& s) {
    s.add("versioned_v1", false, "versioned");
    s.addRoutes("versioned");
    for (const char* ok : {"old_minor", "clang_abi", "throws", "dup_a"})
        s.add(ok);
    for (const char* bad :
         {"dup_b", "missing_handler", "init_fails", "no_entry", "abi_next_major", "abi_next_minor"})
        s.add(bad);
    // Not a library at all, and a library that is not there.
    writeFile(s.pluginPath("libgarbage.so"), "this is not an ELF file\n");
    s.writeRoutes("garbage",
                  "plugin: garbage\nlibrary: libgarbage.so\nroutes:\n  - api: garbage_call\n");
    s.writeRoutes("absent",
                  "plugin: absent\nlibrary: libabsent.so\nroutes:\n  - api: absent_call\n");
    // A route file that is not YAML (an unclosed flow sequence on line 3).
    s.writeRoutes("zz_bad", "plugin: zz_bad\nlibrary: libzz_bad.so\nroutes: [\n  - api: x\n");
}

/// The one message of `errors` (newline-separated) starting with prefix.
std::string findLine(const std::string& errors, const std::string& prefix) {
    std::istringstream in(errors);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(prefix, 0) == 0) return line;
    return "";
}

} // namespace

class BrokenPluginTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(BrokenPluginTest);
    CPPUNIT_TEST(testBrokenPluginsRefusedHostServes);
    CPPUNIT_TEST(testThrowingHandlersContained);
    CPPUNIT_TEST(testAbiProof);
    CPPUNIT_TEST(testCheckConfig);
    CPPUNIT_TEST_SUITE_END();

public:
    /// All broken fixtures in one routes folder at start: each refused with
    /// a sentence naming its file and line, everything else serves.
    void testBrokenPluginsRefusedHostServes() {
        Stage s;
        stageEverything(s);
        HostProcess host(s.hostOptions());
        WireClient c(host.port());
        Value st = serverStats(c);
        std::string errors = pluginErrors(st);
        std::cout << "\n  plugin_errors at start:\n" << errors << "\n";

        CPPUNIT_ASSERT_EQUAL(
            std::string("clang_abi=1.0.0-clang,dup_a=1.0.0,old_minor=1.0,throws=1.0.0,"
                        "versioned=v1"),
            pluginList(st));
        auto expectLine = [&](const std::string& exact) {
            CPPUNIT_ASSERT_EQUAL_MESSAGE("in:\n" + errors, exact, findLine(errors, exact));
        };
        expectLine(abiRefusal(s, "abi_next_major", kNextMajor));
        expectLine(abiRefusal(s, "abi_next_minor", kNextMinor));
        expectLine(libraryRefusal(s, "no_entry") +
                   "is not a dorahost plugin: it exports no 'dora_plugin_entry' entry point");
        expectLine(libraryRefusal(s, "init_fails") +
                   "refused to start: init returned 5 (plugin init failed: the settings file "
                   "/nonexistent/init_fails.ini is missing)");
        expectLine(s.routesPath("missing_handler") + ":9: plugin 'missing_handler' (" +
                   s.pluginPath("libmissing_handler.so") +
                   ") has no handler 'absent'; plugin 'missing_handler' not loaded");
        expectLine(s.routesPath("dup_b") + ":" +
                   std::to_string(lineOf(s.routesPath("dup_b"), "  - api: dup_api")) +
                   ": api 'dup_api' (sync) is already served by " + s.routesPath("dup_a") +
                   "; plugin 'dup_b' not loaded");
        expectLine(libraryRefusal(s, "absent") + "does not exist");
        expectLine(libraryRefusal(s, "garbage") + "cannot be loaded: file too short");
        CPPUNIT_ASSERT_MESSAGE(errors, !findLine(errors, s.routesPath("zz_bad") + ":").empty());

        // The survivors serve; the refused plugins' apis are unknown.
        CPPUNIT_ASSERT_EQUAL(std::string("v1"),
                             call(c, "version_probe").data.find("version")->asString());
        CPPUNIT_ASSERT_EQUAL(std::string("dup_a"),
                             call(c, "dup_api").data.find("plugin")->asString());
        CPPUNIT_ASSERT_EQUAL(std::string("dup_a"),
                             call(c, "dup_a_own").data.find("plugin")->asString());
        for (const char* api : {"dup_b_own", "missing_handler_present", "missing_handler_absent",
                                "init_fails_call", "no_entry_call", "abi_next_major_call",
                                "abi_next_minor_call", "garbage_call", "absent_call"}) {
            Answer a = call(c, api);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(api, std::int64_t(100200), a.code);
        }
        // The abi_mismatch fixtures abort in init: the host never ran it.
        CPPUNIT_ASSERT(host.running());
        CPPUNIT_ASSERT_EQUAL(0, host.stop());
    }

    /// Handlers that throw anything or never answer: that call gets an
    /// error answer, the next call is served, the host stays up.
    void testThrowingHandlersContained() {
        Stage s;
        s.add("throws");
        HostProcess host(s.hostOptions());
        WireClient c(host.port());
        for (int round = 0; round < 3; ++round) {
            Answer a = call(c, "throws_std");
            CPPUNIT_ASSERT_EQUAL(std::int64_t(100201), a.code);
            CPPUNIT_ASSERT_EQUAL(std::string("handler 'throws_std' failed: boom from throws_std"),
                                 a.msg);
            a = call(c, "throws_unknown");
            CPPUNIT_ASSERT_EQUAL(std::int64_t(100201), a.code);
            CPPUNIT_ASSERT_EQUAL(std::string("handler 'throws_unknown' failed: unknown exception"),
                                 a.msg);
            a = call(c, "throws_error");
            CPPUNIT_ASSERT_EQUAL(std::int64_t(100211), a.code);
            CPPUNIT_ASSERT_EQUAL(std::string("throws_error found nothing"), a.msg);
            a = call(c, "throws_no_answer");
            CPPUNIT_ASSERT_EQUAL(std::int64_t(100201), a.code);
            CPPUNIT_ASSERT_MESSAGE(a.msg, contains(a.msg, "gave no answer"));
            a = call(c, "throws_ok");
            CPPUNIT_ASSERT_EQUAL(std::int64_t(0), a.code);
            CPPUNIT_ASSERT(a.data.find("ok")->asBool());
        }
        // A multi request mixing failing and good calls answers each.
        Value api = Value::array();
        for (const char* n : {"throws_std", "throws_ok", "throws_unknown"}) {
            Value one = Value::array();
            one.set("name", n);
            one.set("param", Value::array());
            api.set(n, one);
        }
        Value r = callV1(c, "SSM", api, newGuid());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(dora::sdk::serialize(r), std::int64_t(0),
                                     r.find("code")->asInt());
        CPPUNIT_ASSERT(host.running());
        Value st = serverStats(c);
        CPPUNIT_ASSERT_EQUAL(std::string("throws=1.0.0"), pluginList(st));
        CPPUNIT_ASSERT_EQUAL(0, host.stop());
    }

    /// A plugin from another compiler and std::string ABI serves; one
    /// stamped ABI 1.0 serves in this 1.x host; the next major and a newer
    /// minor are refused with both versions named.
    void testAbiProof() {
        Stage s;
        for (const char* p : {"clang_abi", "old_minor", "abi_next_major", "abi_next_minor"})
            s.add(p);
        HostProcess host(s.hostOptions());
        WireClient c(host.port());

        Value params = Value::array();
        params.set("name", std::string(300, 'x').substr(0, 200)); // longer than any SSO buffer
        params.set("tags", Value::array().push("a").push("bb").push(std::string(40, 'c')));
        Answer a = call(c, "clang_abi_hello", params);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.msg, std::int64_t(0), a.code);
        CPPUNIT_ASSERT_EQUAL("hello " + std::string(200, 'x') + " from clang",
                             a.data.find("greeting")->asString());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), a.data.find("cxx11_abi")->asInt());
        std::string compiler = a.data.find("compiler")->asString();
        CPPUNIT_ASSERT_MESSAGE(compiler, compiler.rfind("clang ", 0) == 0);
        const Value& tags = *a.data.find("tags");
        CPPUNIT_ASSERT_EQUAL(std::string(40, 'c'), tags.find(0)->asString());
        CPPUNIT_ASSERT_EQUAL(std::string("a"), tags.find(2)->asString());
        a = call(c, "clang_abi_fail");
        CPPUNIT_ASSERT_EQUAL(std::int64_t(100212), a.code);
        CPPUNIT_ASSERT_EQUAL(std::string("clang_abi refuses: on purpose"), a.msg);
        a = call(c, "clang_abi_hello"); // no name: the SDK's validation, in clang's std::string
        CPPUNIT_ASSERT_EQUAL(std::int64_t(100210), a.code);
        CPPUNIT_ASSERT_EQUAL(std::string("param 'name' is required"), a.msg);

        a = call(c, "old_minor_echo", Value::array().set("k", "v"));
        CPPUNIT_ASSERT_EQUAL(std::string("v"), a.data.find("k")->asString());
        a = call(c, "old_minor_echo", Value());
        CPPUNIT_ASSERT_EQUAL(std::string("old_minor 1.0"), a.data.asString());
        CPPUNIT_ASSERT_EQUAL(std::string("old_minor (ABI 1.0) loaded"),
                             host.log().find("old_minor (ABI 1.0) loaded") != std::string::npos
                                 ? std::string("old_minor (ABI 1.0) loaded")
                                 : host.log());

        Value st = serverStats(c);
        CPPUNIT_ASSERT_EQUAL(std::string("clang_abi=1.0.0-clang,old_minor=1.0"), pluginList(st));
        std::string errors = pluginErrors(st);
        std::string major = findLine(errors, libraryRefusal(s, "abi_next_major"));
        std::string minor = findLine(errors, libraryRefusal(s, "abi_next_minor"));
        std::cout << "\n  clang plugin: " << compiler << ", _GLIBCXX_USE_CXX11_ABI=0, served"
                  << "\n  ABI 1.0 plugin: served by this ABI " << kVersionHost << " host"
                  << "\n  refused (next major): " << major << "\n  refused (newer minor): " << minor
                  << "\n";
        CPPUNIT_ASSERT_EQUAL(abiRefusal(s, "abi_next_major", kNextMajor), major);
        CPPUNIT_ASSERT_EQUAL(abiRefusal(s, "abi_next_minor", kNextMinor), minor);
        CPPUNIT_ASSERT(host.running());
    }

    /// --check-config: exit 0 and a summary for a good set; non-zero and
    /// each problem with file and line for a bad config and for every
    /// broken fixture on its own.
    void testCheckConfig() {
        const std::string bin = buildDir() + "/bin/dorahost";
        {
            Stage s;
            s.add("versioned_v1", false, "versioned");
            s.addRoutes("versioned");
            s.add("clang_abi");
            s.add("old_minor");
            RunResult r = run({bin, "--check-config", "--config", s.writeCheckConfig()});
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.out + r.err, 0, r.status);
            CPPUNIT_ASSERT_EQUAL(s.dir() + "/check.yaml: OK (4 routes from 3 plugins)\n", r.out);
        }
        {
            // An unknown key on line 4 of the host config.
            Stage s;
            std::string cfg = s.writeCheckConfig("server:\n  tcp_port: 9567\n");
            RunResult r = run({bin, "--check-config", "--config", cfg});
            std::cout << "\n  --check-config, bad host config (exit " << r.status << "): " << r.err;
            CPPUNIT_ASSERT(r.status != 0);
            CPPUNIT_ASSERT_MESSAGE(r.err,
                                   contains(r.err, cfg + ":5: unknown key 'server.tcp_port'"));
        }
        auto one = [&](const std::string& what, const std::function<std::string(Stage&)>& stage) {
            Stage s;
            s.add("versioned_v1", false, "versioned");
            s.addRoutes("versioned");
            std::string expected = stage(s);
            RunResult r = run({bin, "--check-config", "--config", s.writeCheckConfig()});
            std::cout << "  --check-config, " << what << " (exit " << r.status << "):\n    "
                      << r.out.substr(0, r.out.find('\n')) << "\n";
            CPPUNIT_ASSERT_EQUAL_MESSAGE(what + ": " + r.out + r.err, 1, r.status);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(what, expected + "\n1 problem(s) found\n", r.out);
        };
        one("no entry point", [](Stage& s) {
            s.add("no_entry");
            return libraryRefusal(s, "no_entry") +
                   "is not a dorahost plugin: it exports no 'dora_plugin_entry' entry point";
        });
        one("next ABI major", [](Stage& s) {
            s.add("abi_next_major");
            return abiRefusal(s, "abi_next_major", kNextMajor);
        });
        one("newer ABI minor", [](Stage& s) {
            s.add("abi_next_minor");
            return abiRefusal(s, "abi_next_minor", kNextMinor);
        });
        one("init fails", [](Stage& s) {
            s.add("init_fails");
            return libraryRefusal(s, "init_fails") +
                   "refused to start: init returned 5 (plugin init failed: the settings file "
                   "/nonexistent/init_fails.ini is missing)";
        });
        one("missing handler", [](Stage& s) {
            s.add("missing_handler");
            return s.routesPath("missing_handler") + ":9: plugin 'missing_handler' (" +
                   s.pluginPath("libmissing_handler.so") +
                   ") has no handler 'absent'; plugin 'missing_handler' not loaded";
        });
        one("duplicate api", [](Stage& s) {
            s.add("dup_a");
            s.add("dup_b");
            return s.routesPath("dup_b") + ":" +
                   std::to_string(lineOf(s.routesPath("dup_b"), "  - api: dup_api")) +
                   ": api 'dup_api' (sync) is already served by " + s.routesPath("dup_a") +
                   "; plugin 'dup_b' not loaded";
        });
        one("missing library", [](Stage& s) {
            s.addRoutes("throws"); // its library is not copied
            return libraryRefusal(s, "throws") + "does not exist";
        });
        one("bad route YAML", [](Stage& s) {
            s.writeRoutes("typo", "plugin: typo\nlibrary: libtypo.so\nroutes:\n  - api: typo_call\n"
                                  "    mode: sometimes\n");
            return s.routesPath("typo") +
                   ":5: routes[0].mode: expected one of sync, async, any, in_process, queued, got 'sometimes'";
        });
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(BrokenPluginTest);
