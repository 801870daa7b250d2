// The SDK as a third party gets it: installed into a staging prefix
// (component sdk only), the example plugin copied out of that prefix,
// configured and built against it alone, dropped into a running host's
// folders, reloaded and called.
#include "lifecycle/LifecycleSupport.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <csignal>
#include <filesystem>
#include <iostream>
#include <sstream>

using dora::sdk::Value;
using namespace dora::test;
using namespace dora::test::lifecycle;
namespace fs = std::filesystem;

namespace {

std::string cmake() { return env("DORA_CMAKE", "cmake"); }

void mustRun(const std::vector<std::string>& argv, const std::string& what) {
    RunResult r = run(argv);
    if (r.status != 0)
        throw std::runtime_error(what + " failed (exit " + std::to_string(r.status) + "):\n" +
                                 r.out + r.err);
}

/// The one path under root whose name is `name`.
std::string findUnder(const std::string& root, const std::string& name) {
    for (const auto& e : fs::recursive_directory_iterator(root))
        if (e.path().filename() == name) return e.path().string();
    return "";
}

} // namespace

class SdkInstallTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(SdkInstallTest);
    CPPUNIT_TEST(testExampleBuiltOutOfTreeAgainstStagedSdk);
    CPPUNIT_TEST_SUITE_END();

public:
    void testExampleBuiltOutOfTreeAgainstStagedSdk() {
        Stage s;
        const std::string prefix = s.dir() + "/prefix";
        const std::string work = s.dir() + "/example";

        // 1. Install only the SDK component into a staging prefix.
        mustRun({cmake(), "--install", buildDir(), "--prefix", prefix, "--component", "sdk"},
                "installing the sdk component");
        CPPUNIT_ASSERT(fs::exists(prefix + "/include/dora/sdk/abi.h"));
        CPPUNIT_ASSERT(fs::exists(prefix + "/include/dora/sdk/plugin.h"));
        std::string config = findUnder(prefix, "DoraSDKConfig.cmake");
        CPPUNIT_ASSERT_MESSAGE("no DoraSDKConfig.cmake under " + prefix, !config.empty());
        CPPUNIT_ASSERT_MESSAGE(config, contains(config, "/cmake/DoraSDK/"));
        std::string example = findUnder(prefix, "plugin-example");
        CPPUNIT_ASSERT_MESSAGE("no example under " + prefix,
                               contains(example, "/doc/dorahost-dev/examples/"));
        // Nothing of the host's package came along.
        CPPUNIT_ASSERT(!fs::exists(prefix + "/bin"));

        // 2. Copy the example out, as an author would, and build it against
        // the prefix only: no registry, no source tree.
        fs::copy(example, work, fs::copy_options::recursive);
        const std::string build = work + "/build";
        RunResult r =
            run({cmake(), "-S", work, "-B", build, "-DCMAKE_PREFIX_PATH=" + prefix,
                 "-DCMAKE_CXX_COMPILER=" + env("DORA_CXX", "c++"),
                 "-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF", "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON"});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.out + r.err, 0, r.status);
        std::string sdkLine;
        {
            std::istringstream in(r.out);
            for (std::string line; std::getline(in, line);)
                if (contains(line, "DoraSDK ")) sdkLine = line;
        }
        std::cout << "\n  example configured:" << sdkLine.substr(sdkLine.find(' ')) << "\n";
        CPPUNIT_ASSERT_MESSAGE(
            r.out, contains(sdkLine, "from " + fs::path(config).parent_path().string()));
        mustRun({cmake(), "--build", build}, "building the example");
        std::string commands = readFile(build + "/compile_commands.json");
        CPPUNIT_ASSERT_MESSAGE(commands, contains(commands, prefix + "/include"));
        CPPUNIT_ASSERT_MESSAGE(commands, !contains(commands, "plugin-sdk/include"));
        const std::string so = build + "/libhello.so";
        CPPUNIT_ASSERT_MESSAGE(so, fs::exists(so));

        // Its unit tests (dora/sdk/testing.h, the fake host) run with ctest,
        // out of tree, against the installed SDK only.
        const std::string ctest = (fs::path(cmake()).has_parent_path()
                                       ? (fs::path(cmake()).parent_path() / "ctest").string()
                                       : std::string("ctest"));
        RunResult t = run({ctest, "--test-dir", build, "--output-on-failure", "--no-tests=error"});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(t.out + t.err, 0, t.status);
        CPPUNIT_ASSERT_MESSAGE(t.out, contains(t.out, "100% tests passed, 0 tests failed out of 1"));
        CPPUNIT_ASSERT_MESSAGE(commands, contains(commands, "hello_test.cpp"));
        std::cout << "  example's unit test (fake host) passed under ctest\n";

        // Its only exported symbol is the entry point.
        RunResult nm = run({"nm", "-D", "--defined-only", so});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(nm.err, 0, nm.status);
        std::istringstream syms(nm.out);
        std::vector<std::string> exported;
        for (std::string line; std::getline(syms, line);)
            exported.push_back(line.substr(line.rfind(' ') + 1));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(nm.out, std::size_t(1), exported.size());
        CPPUNIT_ASSERT_EQUAL(std::string("dora_plugin_entry"), exported[0]);

        // 3. A running host gets it: drop in, check, reload, call.
        s.add("versioned_v1", false, "versioned");
        s.addRoutes("versioned");
        HostProcess host(s.hostOptions());
        WireClient c(host.port());
        WireClient ctl(host.port());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(100200), call(c, "hello").code);
        std::int64_t reloads = reloadCount(serverStats(ctl));
        copyFile(so, s.pluginPath("libhello.so"));
        copyFile(work + "/hello.yaml", s.routesPath("hello"));
        RunResult check =
            run({buildDir() + "/bin/dorahost", "--check-config", "--config", s.writeCheckConfig()});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(check.out + check.err, 0, check.status);
        host.signal(SIGHUP);
        Value st = waitForReloads(ctl, reloads + 1);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(pluginErrors(st), std::string("hello=1.0.0,versioned=v1"),
                                     pluginList(st));

        Answer a = call(c, "hello");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.msg, std::int64_t(0), a.code);
        CPPUNIT_ASSERT_EQUAL(std::string("hello, world"), a.data.find("greeting")->asString());
        a = call(c, "hello", Value::array().set("name", "dora"));
        CPPUNIT_ASSERT_EQUAL(std::string("hello, dora"), a.data.find("greeting")->asString());
        CPPUNIT_ASSERT_EQUAL(std::string("hello 1.0.0"), a.data.find("served_by")->asString());
        a = call(c, "hello_add", Value::array().set("a", 2).set("b", 40));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(42), a.data.find("sum")->asInt());
        a = call(c, "hello_add", Value::array().set("a", "two"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(100210), a.code);
        CPPUNIT_ASSERT_EQUAL(std::string("param 'a' must be an int, got string"), a.msg);
        CPPUNIT_ASSERT_EQUAL(std::string("v1"),
                             call(c, "version_probe").data.find("version")->asString());
        std::cout << "  example plugin dropped in, reloaded by SIGHUP and called: " << a.msg
                  << "\n";
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SdkInstallTest);
