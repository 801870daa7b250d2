// The `dora` CLI as a user runs it: the built binary as a process, its
// stdout, stderr and exit status for every command, on success and on
// error; and `dora bench --verify` on a small seed run.
#include "client/FakeServer.h"
#include "common/TestSupport.h"

#include <dora/client/Codec.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

using dora::sdk::Value;
using namespace dora::test;

namespace {

struct Run {
    int status = -1;
    std::string out, err;
    std::string show() const {
        return "exit " + std::to_string(status) + "\n--stdout--\n" + out + "--stderr--\n" + err;
    }
};

std::string slurp(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

/// Runs build/bin/dora with args; stdin is empty, environment as ours.
Run runDora(const std::vector<std::string>& args) {
    std::string bin = buildDir() + "/bin/dora";
    char outT[] = "/tmp/dora-cli-out-XXXXXX";
    char errT[] = "/tmp/dora-cli-err-XXXXXX";
    int outFd = mkstemp(outT);
    int errFd = mkstemp(errT);
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = ::open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(outFd, 1);
        dup2(errFd, 2);
        std::vector<char*> argv{bin.data()};
        std::vector<std::string> copy = args;
        for (auto& a : copy)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        execv(bin.c_str(), argv.data());
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    Run r;
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.out = slurp(outT);
    r.err = slurp(errT);
    ::close(outFd);
    ::close(errFd);
    ::unlink(outT);
    ::unlink(errT);
    return r;
}

std::string server(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

std::size_t lines(const std::string& s) {
    std::size_t n = 0;
    for (char c : s)
        if (c == '\n') ++n;
    return n;
}

std::vector<std::string> mysqlFlags() {
    DbSettings db = testDb();
    return {"--mysql-host", db.host,    "--mysql-port",     std::to_string(db.port),
            "--mysql-user", db.user,    "--mysql-password", db.password,
            "--mysql-db",   db.database};
}

bool contains(const std::string& s, const std::string& what) {
    return s.find(what) != std::string::npos;
}

} // namespace

class CliTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(CliTest);
    CPPUNIT_TEST(testHelpOnEveryCommand);
    CPPUNIT_TEST(testUsageErrors);
    CPPUNIT_TEST(testCall);
    CPPUNIT_TEST(testCallErrors);
    CPPUNIT_TEST(testCallAsync);
    CPPUNIT_TEST(testMulti);
    CPPUNIT_TEST(testStatAndReload);
    CPPUNIT_TEST(testUnreachableServer);
    CPPUNIT_TEST(testServerListFailover);
    CPPUNIT_TEST(testRegistryAndGroup);
    CPPUNIT_TEST(testBench);
    CPPUNIT_TEST(testBenchVerifySeed);
    CPPUNIT_TEST(testBenchVerifySeedSync);
    CPPUNIT_TEST(testBenchVerifyReportsLostWrites);
    CPPUNIT_TEST(testBenchChecksEchoData);
    CPPUNIT_TEST_SUITE_END();

public:
    void setUp() override {
        prepareTestDatabase();
        Db().exec("DELETE FROM users");
    }

    void testHelpOnEveryCommand() {
        Run top = runDora({"--help"});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(top.show(), 0, top.status);
        for (const char* c : {"call", "multi", "stat", "reload", "task", "dead", "top", "bench"})
            CPPUNIT_ASSERT_MESSAGE(c, contains(top.out, std::string("  ") + c));
        for (const char* c : {"call", "multi", "stat", "reload", "task", "dead", "top", "bench"}) {
            Run r = runDora({c, "--help"});
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 0, r.status);
            CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.out, std::string("usage: dora ") + c));
            CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.out, "--server HOST:PORT"));
            CPPUNIT_ASSERT(r.err.empty());
        }
    }

    void testUsageErrors() {
        struct Case {
            std::vector<std::string> args;
            const char* says;
        } cases[] = {
            {{}, "usage: dora"},
            {{"frobnicate"}, "unknown command 'frobnicate'"},
            {{"call"}, "missing API name"},
            {{"call", "echo", "{not json"}, "invalid JSON"},
            {{"call", "echo", "{}", "--bogus"}, "unknown option '--bogus'"},
            {{"call", "echo", "{}", "--server", "nonsense"}, "--server"},
            {{"call", "echo", "{}", "--proto", "v9"}, "--proto"},
            {{"multi"}, "missing the JSON object"},
            {{"multi", "{\"a\":{\"param\":1}}"}, "has no \"name\""},
            {{"stat", "extra"}, "unexpected argument"},
            {{"bench", "-c", "zero"}, "--connections"},
            {{"bench", "--scenario", "nope"}, "--scenario"},
        };
        for (const auto& c : cases) {
            Run r = runDora(c.args);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 2, r.status);
            std::string all = r.out + r.err;
            CPPUNIT_ASSERT_MESSAGE(r.show(), contains(all, c.says));
            if (!c.args.empty())
                CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), std::size_t(1), lines(r.err));
        }
    }

    void testCall() {
        HostProcess host;
        for (const char* proto : {"v1", "v2", "json"}) {
            Run r = runDora({"call", "echo", "{\"a\":1,\"b\":[true,null,\"x\"]}", "--server",
                             server(host.port()), "--proto", proto});
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 0, r.status);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(),
                                         std::string("{\"a\":1,\"b\":[true,null,\"x\"]}\n"), r.out);
            CPPUNIT_ASSERT_MESSAGE(r.show(), r.err.empty());
        }
        Run r = runDora({"call", "add_user", "{\"name\":\"cli\",\"department\":\"ops\"}",
                         "--server", server(host.port()), "--json"});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 0, r.status);
        Value doc = dora::client::fromJson(r.out);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), doc.find("code")->asInt());
        CPPUNIT_ASSERT_EQUAL(std::size_t(32), doc.find("guid")->asString().size());
        CPPUNIT_ASSERT_EQUAL(server(host.port()), doc.find("server")->asString());
        CPPUNIT_ASSERT_EQUAL(std::string("cli"), doc.find("data")->find("name")->asString());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1),
                             Db().scalar("SELECT COUNT(*) FROM users WHERE name='cli'"));
    }

    void testCallErrors() {
        HostProcess host;
        std::string s = server(host.port());
        // A handler error: exit 1, nothing on stdout, one line naming the code.
        Run r = runDora({"call", "get_user", "{\"name\":\"ghost\"}", "--server", s});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 1, r.status);
        CPPUNIT_ASSERT_MESSAGE(r.show(), r.out.empty());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), std::size_t(1), lines(r.err));
        CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.err, "100211") && contains(r.err, "ghost"));

        // --json still prints the answer, with the error code.
        r = runDora(
            {"call", "get_user", "{\"name\":\"ghost\"}", "--server", s, "--json", "--proto", "v1"});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 1, r.status);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(100211),
                             dora::client::fromJson(r.out).find("code")->asInt());

        r = runDora({"call", "no_such_api", "{}", "--server", s});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 1, r.status);
        CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.err, "100200"));

        r = runDora({"call", "add_user", "{\"department\":\"x\"}", "--server", s});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 1, r.status);
        CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.err, "100210"));

        r = runDora({"call", "add_user", "{\"name\":\"dup\",\"department\":\"x\"}", "--server", s});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 0, r.status);
        r = runDora({"call", "add_user", "{\"name\":\"dup\",\"department\":\"x\"}", "--server", s});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 1, r.status);
        CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.err, "100212"));
    }

    void testCallAsync() {
        // The test scripts always start Redis: async calls are stored and
        // answered "accepted".
        requireRedis();
        HostProcess host;
        Run r = runDora({"call", "--async", "echo", "{\"x\":1}", "--server", server(host.port())});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 0, r.status);
        CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.out, "accepted (guid "));
        CPPUNIT_ASSERT_MESSAGE(r.show(), r.err.empty());
        // AM_* never needs the queue: the pushed result is printed.
        r = runDora({"call", "--async-result", "echo", "{\"x\":2}", "--server", server(host.port()),
                     "--json"});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 0, r.status);
        Value doc = dora::client::fromJson(r.out);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), doc.find("code")->asInt());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2), doc.find("data")->find("x")->asInt());
        // A route that serves only sync calls refuses async ones: exit 1, 100207.
        r = runDora(
            {"call", "--async", "get_user", "{\"name\":\"x\"}", "--server", server(host.port())});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 1, r.status);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), std::size_t(1), lines(r.err));
        CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.err, "100207"));
    }

    void testMulti() {
        HostProcess host;
        std::string s = server(host.port());
        Run r = runDora({"multi",
                         "{\"a\":{\"name\":\"echo\",\"param\":{\"n\":1}},\"b\":{\"name\":\"echo\","
                         "\"param\":{\"n\":2}}}",
                         "--server", s});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 0, r.status);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), std::string("{\"a\":{\"n\":1},\"b\":{\"n\":2}}\n"),
                                     r.out);

        r = runDora({"multi",
                     "{\"a\":{\"name\":\"echo\",\"param\":{\"n\":1}},\"b\":{\"name\":\"get_user\","
                     "\"param\":{\"name\":\"nobody\"}}}",
                     "--server", s});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 1, r.status);
        Value doc = dora::client::fromJson(r.out);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), doc.find("a")->find("n")->asInt());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(100211), doc.find("b")->find("code")->asInt());
        CPPUNIT_ASSERT_MESSAGE(r.show(),
                               contains(r.err, "in call 'b'") && contains(r.err, "100211"));
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), lines(r.err));

        r = runDora({"multi", "{\"a\":{\"name\":\"echo\",\"param\":{\"n\":1}}}", "--server", s,
                     "--json", "--proto", "v1"});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 0, r.status);
        doc = dora::client::fromJson(r.out);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), doc.find("calls")->find("a")->find("code")->asInt());
    }

    void testStatAndReload() {
        HostProcess host;
        std::string s = server(host.port());
        Run r = runDora({"stat", "--server", s});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 0, r.status);
        CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.out, "server.request_count: "));
        r = runDora({"stat", "--server", s, "--json"});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 0, r.status);
        Value doc = dora::client::fromJson(r.out);
        CPPUNIT_ASSERT(doc.find("data")->find("server")->find("request_count"));

        r = runDora({"reload", "--server", s});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 0, r.status);
        CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.out, "reload: OK"));

        // A failing reload (a broken route file appears) exits 1 with the reason.
        HostProcess::Options opt;
        char tmpl[] = "/tmp/dora-routes-XXXXXX";
        std::string routes = mkdtemp(tmpl);
        std::string copy = "cp " + buildDir() + "/etc/dorahost/routes.d/*.yaml " + routes + "/";
        CPPUNIT_ASSERT_EQUAL(0, std::system(copy.c_str()));
        opt.routesDir = routes;
        HostProcess h2(opt);
        std::ofstream(routes + "/broken.yaml")
            << "plugin: broken\nlibrary: libnothere.so\nroutes: [\n";
        r = runDora({"reload", "--server", server(h2.port())});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 1, r.status);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), std::size_t(1), lines(r.err));
        CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.err, "reload: error"));
        CPPUNIT_ASSERT_EQUAL(0, std::system(("rm -rf " + routes).c_str()));
    }

    void testUnreachableServer() {
        std::string closed = server(freePort());
        for (auto cmd :
             std::vector<std::vector<std::string>>{{"call", "echo", "{}"},
                                                   {"multi", "{\"a\":{\"name\":\"echo\"}}"},
                                                   {"stat"},
                                                   {"reload"}}) {
            cmd.push_back("--server");
            cmd.push_back(closed);
            Run r = runDora(cmd);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 1, r.status);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), std::size_t(1), lines(r.err));
            CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.err, "100010") && contains(r.err, closed));
        }
    }

    void testServerListFailover() {
        HostProcess host;
        for (int i = 0; i < 5; ++i) {
            Run r = runDora({"call", "echo", "{\"i\":1}", "--server", server(freePort()),
                             "--server", server(host.port()), "--json"});
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 0, r.status);
            // The second server answered, with the call's real result.
            Value doc = dora::client::fromJson(r.out);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), server(host.port()),
                                         doc.find("server")->asString());
            CPPUNIT_ASSERT_EQUAL(std::int64_t(1), doc.find("data")->find("i")->asInt());
        }
    }

    void testRegistryAndGroup() {
        const std::string g = "cli" + std::to_string(::getpid());
        HostProcess::Options o;
        o.extraYaml = "registry:\n  groups: [" + g + "]\n  interval_sec: 1\n";
        HostProcess host(o);
        const std::string reg = "unix:" + requireRedis();
        Run r;
        // Registered right after the listener opens.
        CPPUNIT_ASSERT(waitUntil([&] {
            r = runDora({"call", "echo", "{\"i\":2}", "--registry", reg, "--group", g, "--json"});
            return r.status == 0;
        }, 20000));
        Value doc = dora::client::fromJson(r.out);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), server(host.port()), doc.find("server")->asString());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2), doc.find("data")->find("i")->asInt());
        r = runDora({"call", "echo", "{}", "--registry", reg, "--group", g + "-nobody"});
        CPPUNIT_ASSERT_MESSAGE(r.show(), r.status != 0 && contains(r.err, "no live server of group"));
        r = runDora({"call", "echo", "{}", "--group", g});
        CPPUNIT_ASSERT_MESSAGE(r.show(), r.status == 2 && contains(r.err, "--group needs --registry"));
    }

    void testBench() {
        HostProcess host;
        std::string s = server(host.port());
        Run r = runDora({"bench", "--server", s, "-n", "2000", "-c", "8"});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 0, r.status);
        CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.out, "requests    2,000 in"));
        CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.out, "errors      none"));
        CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.out, "p99"));

        // Pipelined, v1 back to back, and a multi mix; JSON summary.
        for (const char* proto : {"v2", "v1"}) {
            r = runDora({"bench", "--server", s, "-n", "3000", "-c", "4", "-P", "16", "--proto",
                         proto, "--api", "echo:3,version:1", "--multi", "3", "--json",
                         "--progress-sec", "0"});
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 0, r.status);
            Value doc = dora::client::fromJson(r.out);
            CPPUNIT_ASSERT_EQUAL(std::int64_t(3000), doc.find("requests")->asInt());
            CPPUNIT_ASSERT_EQUAL(std::int64_t(9000), doc.find("ok_calls")->asInt());
            CPPUNIT_ASSERT(doc.find("latency_ms")->find("p99")->asFloat() > 0);
        }
        // Errors are counted by code and make the exit status 1.
        r = runDora({"bench", "--server", s, "-n", "200", "-c", "2", "--api", "get_user",
                     "--progress-sec", "0"});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 1, r.status);
        CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.out, "100211") && contains(r.out, "200 calls"));
        CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.err, "dora: bench:"));
        // Duration mode ends on time: it measured at least the second it was
        // given and stopped soon after (a run that ignored -d would go on to
        // its request count); the bound is loose on purpose, for a loaded box.
        r = runDora({"bench", "--server", s, "-d", "1", "-c", "4", "--progress-sec", "0.2",
                     "--json"});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 0, r.status);
        CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.err, "progress:"));
        Value doc = dora::client::fromJson(r.out);
        double secs = doc.find("seconds")->asFloat();
        CPPUNIT_ASSERT_MESSAGE(r.show(), secs >= 0.99 && secs < 15.0);
        CPPUNIT_ASSERT_MESSAGE(r.show(), doc.find("requests")->asInt() > 0);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), doc.find("requests")->asInt(),
                                     doc.find("ok_requests")->asInt());
    }

    void testBenchVerifySeed() {
        // The seed's own mode is async; the test scripts always start Redis,
        // so the host takes it.
        requireRedis();
        seedVerify({}, "async multi");
    }

    void testBenchVerifySeedSync() {
        // Sync multi (SSM/W_M): an answer means the writes are committed.
        seedVerify({"--mode", "sync"}, "sync multi");
    }

private:
    /// 2,000 iterations of the seed scenario with --verify; every write lands once.
    void seedVerify(const std::vector<std::string>& extra, const std::string& modeText) {
        HostProcess host;
        std::vector<std::string> args{"bench",
                                      "--scenario",
                                      "seed",
                                      "-n",
                                      "2000",
                                      "-c",
                                      "8",
                                      "--verify",
                                      "--clean",
                                      "--verify-wait",
                                      "20",
                                      "--progress-sec",
                                      "0",
                                      "--server",
                                      server(host.port())};
        args.insert(args.end(), extra.begin(), extra.end());
        for (auto& f : mysqlFlags())
            args.push_back(f);
        Run r = runDora(args);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 0, r.status);
        CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.out, ", " + modeText + ", "));
        CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.out, "requests    2,000 in"));
        CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.out, "6,000 calls"));
        CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.out, "verify: OK"));
        for (const char* api : {"add_user", "insert_user", "plus_user"})
            CPPUNIT_ASSERT_MESSAGE(r.show(),
                                   contains(r.out, std::string(api) + " ") &&
                                       contains(r.out, "acked 2,000, landed 2,000, lost 0"));
        Db db;
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2000),
                             db.scalar("SELECT COUNT(*) FROM users WHERE name LIKE 'NO%'"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2000),
                             db.scalar("SELECT COUNT(*) FROM users WHERE name LIKE 'insert%'"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2000),
                             db.scalar("SELECT SUM(visits) FROM users WHERE name LIKE 'plus%'"));
    }

public:
    void testBenchVerifyReportsLostWrites() {
        // A server that acknowledges add_user without writing anything.
        FakeServer liar(FakeServer::Behavior::Answer);
        std::vector<std::string> args{"bench",
                                      "--api",
                                      "add_user",
                                      "--param",
                                      "{\"name\":\"ghost{i}\",\"department\":\"d\"}",
                                      "-n",
                                      "50",
                                      "-c",
                                      "2",
                                      "--verify",
                                      "--server",
                                      server(liar.port()),
                                      "--progress-sec",
                                      "0"};
        for (auto& f : mysqlFlags())
            args.push_back(f);
        Run r = runDora(args);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 1, r.status);
        CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.out, "acked 50, landed 0, lost 50"));
        CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.out, "lost: ghost1 ghost2"));
        CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.out, "verify: FAILED"));
        CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.err, "50 acknowledged writes lost"));
    }

    void testBenchChecksEchoData() {
        // A server that answers every call with "fake": well-formed, code 0,
        // the right guid, but not what an echo was sent. Both generations.
        FakeServer liar(FakeServer::Behavior::Answer);
        for (const char* proto : {"v1", "v2"}) {
            Run r = runDora({"bench", "--api", "echo", "--proto", proto, "-n", "40", "-c", "2",
                             "-P", "2", "--server", server(liar.port()), "--progress-sec", "0"});
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.show(), 1, r.status);
            CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.err, "40 of 40 requests failed"));
            CPPUNIT_ASSERT_MESSAGE(r.show(), contains(r.err, "echo answered other data than its param"));
        }
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(CliTest);
