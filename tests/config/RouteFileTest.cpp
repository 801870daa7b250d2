// Tests for config/RouteFile.h.
#include "config/RouteFile.h"
#include "config/TestUtil.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <cstdlib>
#include <filesystem>

using namespace dora::config;
using dora::config::test::assertError;
using dora::config::test::errorOf;
using dora::config::test::TempDir;
namespace fs = std::filesystem;

namespace {

const std::string kFile = "routes.d/sync_user.yaml";

const char* kGood = R"(# sample
plugin: sync_user
library: libsync_user.so
routes:
  - api: add_user
    mode: sync
    handler: add_user_handler
    timeout_ms: 2000
    max_concurrency: 8
  - api: plus_user
    mode: async
    batch: true
    timeout_ms: 1s
  - api: user.get:v2
    mode: any
)";

RouteFile load(const std::string& yaml) { return loadRouteFileFromString(yaml, kFile); }
std::string loadError(const std::string& yaml) {
    return errorOf([&] { load(yaml); });
}

/// A valid file whose single route has `routeKeys` (already indented).
std::string withRoute(const std::string& routeKeys) {
    return "plugin: p\nlibrary: libp.so\nroutes:\n  - api: a\n" + routeKeys;
}

} // namespace

class RouteFileTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(RouteFileTest);
    CPPUNIT_TEST(testGoodFile);
    CPPUNIT_TEST(testMissingRequiredKeys);
    CPPUNIT_TEST(testEmptyFile);
    CPPUNIT_TEST(testInvalidPluginName);
    CPPUNIT_TEST(testInvalidLibrary);
    CPPUNIT_TEST(testRoutesNotAList);
    CPPUNIT_TEST(testRouteEntryNotAMap);
    CPPUNIT_TEST(testRouteMissingApi);
    CPPUNIT_TEST(testInvalidRouteValues);
    CPPUNIT_TEST(testBadMode);
    CPPUNIT_TEST(testModeAliases);
    CPPUNIT_TEST(testBatchNeedsAsync);
    CPPUNIT_TEST(testInlineNeedsInProcessCalls);
    CPPUNIT_TEST(testGroupCommitRules);
    CPPUNIT_TEST(testDuplicateApiNamesBothLines);
    CPPUNIT_TEST(testUnknownKeys);
    CPPUNIT_TEST(testLoadRouteFileFromDisk);
    CPPUNIT_TEST(testLoadRoutesDir);
    CPPUNIT_TEST(testLoadRoutesDirMissing);
    CPPUNIT_TEST(testShippedRouteFiles);
    CPPUNIT_TEST(testOptions);
    CPPUNIT_TEST_SUITE_END();

public:
    void testGoodFile() {
        RouteFile f = load(kGood);
        CPPUNIT_ASSERT_EQUAL(kFile, f.path);
        CPPUNIT_ASSERT_EQUAL(std::string("sync_user"), f.plugin);
        CPPUNIT_ASSERT_EQUAL(std::string("libsync_user.so"), f.library);
        CPPUNIT_ASSERT_EQUAL(3, f.line);
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), f.routes.size());

        const RouteSpec& a = f.routes[0];
        CPPUNIT_ASSERT_EQUAL(std::string("add_user"), a.api);
        CPPUNIT_ASSERT(a.mode == RouteMode::InProcess);
        CPPUNIT_ASSERT_EQUAL(std::string("add_user_handler"), a.handler);
        CPPUNIT_ASSERT_EQUAL(2000, a.timeoutMs);
        CPPUNIT_ASSERT_EQUAL(8, a.maxConcurrency);
        CPPUNIT_ASSERT(!a.batch);
        CPPUNIT_ASSERT_EQUAL(5, a.line);

        const RouteSpec& b = f.routes[1];
        CPPUNIT_ASSERT_EQUAL(std::string("plus_user"), b.api);
        CPPUNIT_ASSERT(b.mode == RouteMode::Queued);
        CPPUNIT_ASSERT_EQUAL(std::string("plus_user"), b.handler); // defaults to api
        CPPUNIT_ASSERT_EQUAL(1000, b.timeoutMs);
        CPPUNIT_ASSERT_EQUAL(0, b.maxConcurrency);
        CPPUNIT_ASSERT(b.batch);
        CPPUNIT_ASSERT_EQUAL(10, b.line);

        const RouteSpec& c = f.routes[2];
        CPPUNIT_ASSERT_EQUAL(std::string("user.get:v2"), c.api);
        CPPUNIT_ASSERT(c.mode == RouteMode::Any);
        CPPUNIT_ASSERT_EQUAL(0, c.timeoutMs);
        CPPUNIT_ASSERT_EQUAL(14, c.line);

        CPPUNIT_ASSERT_EQUAL(std::string("sync"), std::string(toString(RouteMode::InProcess)));
        CPPUNIT_ASSERT_EQUAL(std::string("async"), std::string(toString(RouteMode::Queued)));
        CPPUNIT_ASSERT_EQUAL(std::string("any"), std::string(toString(RouteMode::Any)));
    }

    void testMissingRequiredKeys() {
        const char* routes = "routes:\n  - api: a\n";
        assertError(loadError(std::string("library: l.so\n") + routes),
                    kFile + ":1: ", "missing required key 'plugin'");
        assertError(loadError(std::string("plugin: p\n") + routes),
                    kFile + ":1: ", "missing required key 'library'");
        assertError(loadError("plugin: p\nlibrary: l.so\n"),
                    kFile + ":1: ", "missing required key 'routes'");
    }

    void testEmptyFile() {
        assertError(loadError(""), kFile + ":1: ", "missing required key 'plugin'");
        assertError(loadError("- a\n"), kFile + ":1: ", "the document must be a map");
    }

    void testInvalidPluginName() {
        assertError(loadError("plugin: bad/name\nlibrary: l.so\nroutes:\n  - api: a\n"),
                    kFile + ":1: plugin: ", "expected a plugin name");
        assertError(loadError("plugin: ''\nlibrary: l.so\nroutes:\n  - api: a\n"),
                    kFile + ":1: plugin: ", "expected a plugin name");
    }

    void testInvalidLibrary() {
        assertError(loadError("plugin: p\nlibrary: ../lib/x.so\nroutes:\n  - api: a\n"),
                    kFile + ":2: library: ", "without '/'");
        assertError(loadError("plugin: p\nlibrary: ''\nroutes:\n  - api: a\n"),
                    kFile + ":2: library: ", "file name");
        assertError(loadError("plugin: p\nlibrary:\nroutes:\n  - api: a\n"),
                    kFile + ":2: library: ", "no value given");
    }

    void testRoutesNotAList() {
        assertError(loadError("plugin: p\nlibrary: l.so\nroutes: []\n"),
                    kFile + ":3: routes: ", "non-empty list");
        assertError(loadError("plugin: p\nlibrary: l.so\nroutes:\n  api: a\n"),
                    kFile + ":3: routes: ", "non-empty list");
        assertError(loadError("plugin: p\nlibrary: l.so\nroutes:\n"),
                    kFile + ":3: routes: ", "non-empty list");
    }

    void testRouteEntryNotAMap() {
        assertError(loadError("plugin: p\nlibrary: l.so\nroutes:\n  - api: a\n  - add_user\n"),
                    kFile + ":5: routes[1]: ", "expected a map");
    }

    void testRouteMissingApi() {
        assertError(loadError("plugin: p\nlibrary: l.so\nroutes:\n  - api: a\n"
                              "  - mode: sync\n    handler: h\n"),
                    kFile + ":5: ", "missing required key 'routes[1].api'");
    }

    void testInvalidRouteValues() {
        const std::pair<const char*, const char*> cases[] = {
            {"api: ''", "routes[0].api: expected a name"},
            {"api: 'add user'", "routes[0].api: expected a name"},
            {"handler: 'h()'", "routes[0].handler: expected a name"},
            {"handler: ''", "routes[0].handler: expected a name"},
            {"timeout_ms: -1", "routes[0].timeout_ms: not a duration"},
            {"timeout_ms: soon", "routes[0].timeout_ms: not a duration"},
            {"max_concurrency: -2", "routes[0].max_concurrency: expected an integer in 0..1000000"},
            {"max_concurrency: [1]", "routes[0].max_concurrency: expected a single value"},
            {"batch: 1", "routes[0].batch: expected true or false"},
        };
        for (const auto& [line, expect] : cases) {
            // The bad key is the route's first key, on line 4.
            std::string yaml = std::string("plugin: p\nlibrary: l.so\nroutes:\n  - ") + line +
                               (std::string(line).rfind("api", 0) == 0 ? "" : "\n    api: a") +
                               "\n";
            assertError(loadError(yaml), kFile + ":4: " + expect);
        }
    }

    void testBadMode() {
        assertError(loadError(withRoute("    mode: wait\n")),
                    kFile + ":5: routes[0].mode: ", "expected one of sync, async, any, in_process, queued, got 'wait'");
        assertError(loadError(withRoute("    mode: Sync\n")),
                    kFile + ":5: routes[0].mode: ", "expected one of sync, async, any");
    }

    void testModeAliases() {
        using dora::config::RouteMode;
        CPPUNIT_ASSERT(load(withRoute("    mode: in_process\n")).routes[0].mode == RouteMode::InProcess);
        CPPUNIT_ASSERT(load(withRoute("    mode: sync\n")).routes[0].mode == RouteMode::InProcess);
        CPPUNIT_ASSERT(load(withRoute("")).routes[0].mode == RouteMode::InProcess);
        RouteFile q = load(withRoute("    mode: queued\n    batch: true\n"));
        CPPUNIT_ASSERT(q.routes[0].mode == RouteMode::Queued && q.routes[0].batch);
        CPPUNIT_ASSERT(load(withRoute("    mode: async\n")).routes[0].mode == RouteMode::Queued);
        // The aliases obey the same rules as the names they stand for.
        assertError(loadError(withRoute("    mode: queued\n    inline: true\n")),
                    kFile + ":6: routes[0].inline: ", "set mode to sync or any");
    }

    void testBatchNeedsAsync() {
        assertError(loadError(withRoute("    batch: true\n")),
                    kFile + ":5: routes[0].batch: ", "set mode to async or any");
        CPPUNIT_ASSERT(load(withRoute("    mode: any\n    batch: true\n")).routes[0].batch);
    }

    void testInlineNeedsInProcessCalls() {
        CPPUNIT_ASSERT(!load(withRoute("")).routes[0].inlineRun);
        CPPUNIT_ASSERT(load(withRoute("    inline: true\n")).routes[0].inlineRun);
        CPPUNIT_ASSERT(load(withRoute("    mode: any\n    inline: true\n")).routes[0].inlineRun);
        assertError(loadError(withRoute("    mode: async\n    inline: true\n")),
                    kFile + ":6: routes[0].inline: ", "set mode to sync or any");
        assertError(loadError(withRoute("    inline: maybe\n")), kFile + ":5: routes[0].inline: ", "");
    }

    void testGroupCommitRules() {
        CPPUNIT_ASSERT(!load(withRoute("")).routes[0].groupCommit);
        CPPUNIT_ASSERT(load(withRoute("    group_commit: true\n")).routes[0].groupCommit);
        // A batch handler may serve sync calls only when they come in groups.
        RouteFile f = load(withRoute("    batch: true\n    group_commit: true\n"));
        CPPUNIT_ASSERT(f.routes[0].batch && f.routes[0].groupCommit);
        assertError(loadError(withRoute("    mode: async\n    group_commit: true\n")),
                    kFile + ":6: routes[0].group_commit: ", "set mode to sync or any");
        assertError(loadError(withRoute("    inline: true\n    group_commit: true\n")),
                    kFile + ":6: routes[0].group_commit: ", "drop inline or group_commit");
        assertError(loadError(withRoute("    max_concurrency: 2\n    group_commit: true\n")),
                    kFile + ":6: routes[0].group_commit: ", "do not combine");
    }

    void testDuplicateApiNamesBothLines() {
        std::string yaml = "plugin: p\nlibrary: l.so\nroutes:\n"
                           "  - api: add_user\n"  // 4
                           "  - api: get_user\n"  // 5
                           "  - mode: async\n"    // 6
                           "    api: add_user\n"; // 7
        assertError(loadError(yaml), kFile + ":6: ", "duplicate api 'add_user' (lines 4 and 6)");
    }

    /// `options:` is read as written (the plugin loader checks it against
    /// what the plugin declares); only its shape is checked here.
    void testOptions() {
        auto f =
            dora::config::loadRouteFileFromString("plugin: p\nlibrary: l.so\noptions:\n  ttl: 30\n "
                                                  " name: \"7\"\n  on: true\nroutes:\n  - api: a\n",
                                                  kFile);
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), f.options.size());
        CPPUNIT_ASSERT_EQUAL(std::string("ttl"), f.options[0].name);
        CPPUNIT_ASSERT_EQUAL(std::string("30"), f.options[0].text);
        CPPUNIT_ASSERT_EQUAL(4, f.options[0].line);
        CPPUNIT_ASSERT(!f.options[0].quoted);
        CPPUNIT_ASSERT_EQUAL(std::string("7"), f.options[1].text);
        CPPUNIT_ASSERT(f.options[1].quoted);
        CPPUNIT_ASSERT_EQUAL(6, f.options[2].line);
        assertError(
            loadError("plugin: p\nlibrary: l.so\noptions:\n  ttl: [1, 2]\nroutes:\n  - api: a\n"),
            kFile + ":4: ", "options.ttl: expected a single value");
        assertError(loadError("plugin: p\nlibrary: l.so\noptions: 5\nroutes:\n  - api: a\n"),
                    kFile + ":3: ", "options: expected a map");
        assertError(
            loadError("plugin: p\nlibrary: l.so\noptions:\n  a: 1\n  a: 2\nroutes:\n  - api: a\n"),
            kFile + ":5: ", "options: 'a' is given twice (lines 4 and 5)");
    }

    void testUnknownKeys() {
        assertError(
            loadError("plugin: p\nlibrary: l.so\nversion: 2\nroutes:\n  - api: a\n"),
            kFile + ":3: ", "unknown key 'version' (allowed: plugin, library, options, routes)");
        assertError(loadError(withRoute("    timeout: 5\n")), kFile + ":5: ",
                    "unknown key 'routes[0].timeout' (allowed in routes[0]: api, mode, handler, "
                    "timeout_ms, max_concurrency, batch, inline, group_commit)");
    }

    void testLoadRouteFileFromDisk() {
        TempDir dir;
        std::string path = dir.write("x.yaml", kGood);
        RouteFile f = loadRouteFile(path);
        CPPUNIT_ASSERT_EQUAL(path, f.path);
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), f.routes.size());
        assertError(errorOf([&] { loadRouteFile(dir.path() + "/none.yaml"); }),
                    dir.path() + "/none.yaml: ", "cannot read");
    }

    void testLoadRoutesDir() {
        TempDir dir;
        dir.write("b_bad.yaml", "plugin: b\nlibrary: libb.so\nroutes:\n  - api: x\n    mode: no\n");
        dir.write("c_good.yml", "plugin: c\nlibrary: libc.so\nroutes:\n  - api: y\n");
        dir.write("a_good.yaml", kGood);
        for (const char* name : {"f", "d", "g", "e"}) {
            dir.write(std::string(name) + ".yaml",
                      std::string("plugin: ") + name + "\nlibrary: l.so\nroutes:\n  - api: y\n");
        }
        dir.write("notes.txt", "not a route file");
        dir.write("old.yaml.dpkg-old", "garbage: [");
        dir.write(".hidden.yaml", "garbage: [");
        fs::create_directory(dir.path() + "/sub.yaml");

        RouteDirResult r = loadRoutesDir(dir.path());
        std::string order;
        for (const auto& f : r.files)
            order += f.plugin + " ";
        CPPUNIT_ASSERT_EQUAL(std::string("sync_user c d e f g "), order);
        CPPUNIT_ASSERT_EQUAL(dir.path() + "/a_good.yaml", r.files[0].path);
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), r.errors.size());
        assertError(r.errors[0], dir.path() + "/b_bad.yaml:5: routes[0].mode: ",
                    "expected one of sync, async, any");
    }

    void testLoadRoutesDirMissing() {
        RouteDirResult r = loadRoutesDir("/nonexistent/routes.d");
        CPPUNIT_ASSERT(r.files.empty());
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), r.errors.size());
        assertError(r.errors[0], "/nonexistent/routes.d: ", "cannot read routes directory");

        TempDir dir;
        RouteDirResult empty = loadRoutesDir(dir.path());
        CPPUNIT_ASSERT(empty.files.empty());
        CPPUNIT_ASSERT(empty.errors.empty());
    }

    /// The route files shipped beside the sample plugins all parse.
    void testShippedRouteFiles() {
        const char* env = std::getenv("DORA_SOURCE_DIR");
        const std::string src = env ? env : "";
        CPPUNIT_ASSERT_MESSAGE("DORA_SOURCE_DIR not set (run through ctest)", !src.empty());
        for (const auto& plugin : fs::directory_iterator(src + "/plugins")) {
            if (!plugin.is_directory()) continue;
            RouteDirResult r = loadRoutesDir(plugin.path().string());
            for (const auto& e : r.errors)
                CPPUNIT_FAIL(e);
        }
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(RouteFileTest);
