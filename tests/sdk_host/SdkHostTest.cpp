// SDK 1.2 over the real host: the sdk12 fixture plugin
// (tests/fixtures/plugins/sdk12) reports what each new host function
// answered, over real sockets, with the private MariaDB and Redis; the
// compat fixtures, built against the frozen 1.0 and 1.1 SDK headers, serve
// unchanged.
#include "lifecycle/LifecycleSupport.h"

#include <dora/sdk/serialize.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <unistd.h>

#include <csignal>
#include <iostream>
#include <memory>
#include <string>

using namespace dora::test;
using namespace dora::test::lifecycle;
using dora::sdk::Value;

namespace {

std::string localAddress(const WireClient& c) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    getsockname(c.fd(), reinterpret_cast<sockaddr*>(&a), &len);
    char ip[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(ntohs(a.sin_port));
}

const Value& at(const Value& v, const char* key) {
    const Value* f = v.find(key);
    if (!f) throw std::runtime_error(std::string("no '") + key + "' in " + dora::sdk::serialize(v));
    return *f;
}

std::string text(const Value& v, const char* key) { return at(v, key).asString(); }
std::int64_t num(const Value& v, const char* key) { return at(v, key).asInt(); }

Value strings(std::initializer_list<const char*> xs) {
    Value l = Value::array();
    for (const char* x : xs)
        l.push(x);
    return l;
}

Answer redisCall(WireClient& c, std::initializer_list<const char*> cmd) {
    return call(c, "sdk12_redis", Value::array().set("cmd", strings(cmd)));
}

/// The test Redis, for a redis: section with more keys.
std::string redisSection(const std::string& more) {
    return "redis:\n  socket: " + requireRedis() + "\n" + more;
}

/// POSTs a JSON body to the HTTP gateway on c and reads until the close.
std::string httpPost(WireClient& c, const std::string& path, const std::string& json) {
    c.sendRaw(
        "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
        "Content-Length: " + std::to_string(json.size()) + "\r\nConnection: close\r\n\r\n" + json);
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(c.fd(), buf, sizeof buf)) > 0;)
        out.append(buf, static_cast<std::size_t>(n));
    return out;
}

} // namespace

class SdkHostTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(SdkHostTest);
    CPPUNIT_TEST(testCallMetadata);
    CPPUNIT_TEST(testCallMetadataOverHttp);
    CPPUNIT_TEST(testQueuedTaskMetadataCountsAttempts);
    CPPUNIT_TEST(testAttemptCountsOnAfterTakeover);
    CPPUNIT_TEST(testHandlerSeesItsDeadlinePass);
    CPPUNIT_TEST(testRedisCommandsAndPipeline);
    CPPUNIT_TEST(testRedisPoolIsBounded);
    CPPUNIT_TEST(testRedisDownIsItsOwnCode);
    CPPUNIT_TEST(testOptionsCheckedWithFileAndLine);
    CPPUNIT_TEST(testReloadAppliesChangedOptions);
    CPPUNIT_TEST(testMetricsInGetStat);
    CPPUNIT_TEST(testPluginsBuiltAgainstOldSdksServe);
    CPPUNIT_TEST_SUITE_END();

public:
    /// guid, mode, generation, peer, attempt, time left and options as the
    /// handler sees them; the call's log line carries the guid.
    void testCallMetadata() {
        Stage s;
        s.add("sdk12");
        HostProcess host(s.hostOptions());
        WireClient c(host.port());
        const std::string guid = newGuid();
        Value r =
            callV1(c, "SSS", oneCall("sdk12_meta", Value::array().set("log", "marker-1")), guid);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(dora::sdk::serialize(r), std::int64_t(0), num(r, "code"));
        const Value& m = at(r, "data");
        CPPUNIT_ASSERT_EQUAL(guid, text(m, "guid"));
        CPPUNIT_ASSERT_EQUAL(std::string("sync_single"), text(m, "mode"));
        CPPUNIT_ASSERT_EQUAL(std::string("v1"), text(m, "generation"));
        CPPUNIT_ASSERT_EQUAL(localAddress(c), text(m, "peer"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), num(m, "attempt"));
        // timeout_ms 60000: some time has passed, not all of it.
        const std::int64_t left = num(m, "time_left_us");
        CPPUNIT_ASSERT_MESSAGE(std::to_string(left), left > 0 && left < 60000000);
        const Value& o = at(m, "options");
        CPPUNIT_ASSERT_EQUAL(std::string("bonjour"), text(o, "greeting")); // from the file
        CPPUNIT_ASSERT_EQUAL(std::int64_t(42), num(o, "limit"));           // from the file
        CPPUNIT_ASSERT(!at(o, "verbose").asBool());                        // the default
        CPPUNIT_ASSERT_EQUAL(0.5, at(o, "ratio").asFloat());               // the default
        CPPUNIT_ASSERT_MESSAGE(host.log(), waitUntil([&] {
                                   return contains(host.log(), "[" + guid + "] meta-log marker-1");
                               }));

        // No timeout on the route: no deadline. A multi request: sync_multi.
        Value api = Value::array();
        api.set("a", Value::array().set("name", "sdk12_meta_untimed").set("param", Value::array()));
        api.set("b", Value::array().set("name", "sdk12_meta").set("param", Value::array()));
        const std::string g2 = newGuid();
        Value multi = callV1(c, "SSM", api, g2);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(dora::sdk::serialize(multi), std::int64_t(0),
                                     num(multi, "code"));
        const Value& a = at(at(multi, "data"), "a");
        CPPUNIT_ASSERT_EQUAL(std::int64_t(-1), num(a, "time_left_us"));
        CPPUNIT_ASSERT_EQUAL(std::string("sync_multi"), text(a, "mode"));
        CPPUNIT_ASSERT_EQUAL(g2, text(at(at(multi, "data"), "b"), "guid"));
    }

    /// Through the HTTP gateway: generation http, the client's address.
    void testCallMetadataOverHttp() {
        Stage s;
        s.add("sdk12");
        HostProcess::Options opt = s.hostOptions();
        opt.httpPort = freePort();
        HostProcess host(opt);
        WireClient c(host.httpPort());
        const std::string guid = newGuid();
        std::string reply = httpPost(
            c, "/api/multisync",
            "{\"guid\":\"" + guid + "\",\"api\":{\"k\":{\"name\":\"sdk12_meta\",\"param\":{}}}}");
        CPPUNIT_ASSERT_MESSAGE(reply, contains(reply, "\"guid\":\"" + guid + "\""));
        CPPUNIT_ASSERT_MESSAGE(reply, contains(reply, "\"generation\":\"http\""));
        CPPUNIT_ASSERT_MESSAGE(reply, contains(reply, "\"mode\":\"sync_multi\""));
        CPPUNIT_ASSERT_MESSAGE(reply, contains(reply, "\"peer\":\"" + localAddress(c) + "\""));
    }

    /// A queued task: its request's guid and mode, no peer, and its
    /// attempt counted across the host's retries.
    void testQueuedTaskMetadataCountsAttempts() {
        Db db;
        db.exec("CREATE TABLE IF NOT EXISTS sdk12_meta (tag VARCHAR(64) NOT NULL, guid VARCHAR(64) "
                "NOT NULL, "
                "mode VARCHAR(32) NOT NULL, generation VARCHAR(16) NOT NULL, peer VARCHAR(64) NOT "
                "NULL, "
                "attempt INT NOT NULL, time_left_us BIGINT NOT NULL)");
        db.exec("DELETE FROM sdk12_meta");
        Stage s;
        s.add("sdk12");
        HostProcess::Options opt = s.hostOptions();
        opt.queueYaml = "  retry_backoff_ms: 1\n";
        HostProcess host(opt);
        WireClient c(host.port());
        const std::string guid = newGuid();
        Value r = callV1(
            c, "SRS",
            oneCall("sdk12_meta_async", Value::array().set("tag", "queued").set("fail_before", 3)),
            guid);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(dora::sdk::serialize(r), std::int64_t(100001), num(r, "code"));
        // The failed attempts' rows roll back with them (each task runs under
        // its own savepoint): what stays is the third attempt, which passed.
        CPPUNIT_ASSERT_MESSAGE(
            host.log(), waitUntil([&] {
                return db.scalar("SELECT COUNT(*) FROM sdk12_meta WHERE tag = 'queued'") >= 1;
            }));
        auto rows =
            db.query("SELECT guid, mode, generation, peer, attempt, time_left_us FROM sdk12_meta "
                     "WHERE tag = 'queued'");
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), rows.size());
        CPPUNIT_ASSERT_EQUAL(guid, text(rows[0], "guid"));
        CPPUNIT_ASSERT_EQUAL(std::string("async_single"), text(rows[0], "mode"));
        CPPUNIT_ASSERT_EQUAL(std::string("v1"), text(rows[0], "generation"));
        CPPUNIT_ASSERT_EQUAL(std::string(""), text(rows[0], "peer"));
        CPPUNIT_ASSERT_EQUAL(std::string("3"),
                             text(rows[0], "attempt")); // the test's Db reads text
        CPPUNIT_ASSERT_EQUAL(std::string("-1"), text(rows[0], "time_left_us"));
        CPPUNIT_ASSERT_MESSAGE(host.log(), contains(host.log(), "retry 2 in"));
        db.exec("DROP TABLE sdk12_meta");
    }

    /// A queued task taken over from a host that died counts on from the
    /// attempts made there: host A fails attempt 1 and waits ten minutes to
    /// retry, A is killed (-9), host B takes the entry over and runs it as
    /// attempt 2 (from A's "retrying" record). B allows no retries of its
    /// own (max_retries 0), so only a run counted as attempt 2 can pass
    /// (the handler fails while its attempt is below 2): counted from 1, B
    /// would dead-letter it.
    void testAttemptCountsOnAfterTakeover() {
        Db db;
        db.exec("CREATE TABLE IF NOT EXISTS sdk12_meta (tag VARCHAR(64) NOT NULL, guid VARCHAR(64) "
                "NOT NULL, mode VARCHAR(32) NOT NULL, generation VARCHAR(16) NOT NULL, peer VARCHAR(64) NOT "
                "NULL, attempt INT NOT NULL, time_left_us BIGINT NOT NULL)");
        db.exec("DELETE FROM sdk12_meta WHERE tag = 'takeover'");
        Stage s;
        s.add("sdk12");
        HostProcess::Options o = s.hostOptions();
        o.queueName = "att" + std::to_string(::getpid()) + "_" + newGuid().substr(0, 6);
        o.nodeId = "att-a";
        o.queueYaml = "  retry_backoff_ms: 600000\n  claim_idle_ms: 500\n";
        auto a = std::make_unique<HostProcess>(o);
        const std::string guid = newGuid();
        {
            WireClient c(a->port());
            Value r = callV1(c, "SRS",
                             oneCall("sdk12_meta_async", Value::array().set("tag", "takeover").set("fail_before", 2)),
                             guid);
            CPPUNIT_ASSERT_EQUAL(std::int64_t(100001), num(r, "code"));
        }
        auto status = [&](std::uint16_t port) {
            WireClient c(port);
            Value cmd = Value::array().set("name", "taskStatus").set("param", Value::array().set("guid", guid));
            Value r = callV1(c, "SC", Value::array().set("cmd", cmd), newGuid());
            const Value* d = r.find("data");
            const Value* t = d ? d->find("task") : nullptr;
            return t ? *t : Value();
        };
        CPPUNIT_ASSERT_MESSAGE(a->log(), waitUntil([&] {
                                   Value t = status(a->port());
                                   return t.isArray() && t.find("state")->asString() == "retrying";
                               }));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), num(status(a->port()), "attempts"));
        a->signal(SIGKILL);
        a->waitExit(10000);

        o.nodeId = "att-b";
        o.queueYaml = "  retry_backoff_ms: 1\n  claim_idle_ms: 500\n  max_retries: 0\n";
        HostProcess b(o);
        CPPUNIT_ASSERT_MESSAGE(b.log(), waitUntil([&] {
                                   Value t = status(b.port());
                                   return t.isArray() && (t.find("state")->asString() == "applied" ||
                                                          t.find("state")->asString() == "dead_lettered");
                               }));
        Value t = status(b.port());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(dora::sdk::serialize(t) + "\n" + b.log(), std::string("applied"),
                                     text(t, "state"));
        CPPUNIT_ASSERT_EQUAL(std::string("att-b"), text(t, "node"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2), num(t, "attempts"));
        auto rows = db.query("SELECT attempt FROM sdk12_meta WHERE tag = 'takeover'");
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), rows.size());
        CPPUNIT_ASSERT_EQUAL(std::string("2"), text(rows[0], "attempt"));
        db.exec("DELETE FROM sdk12_meta WHERE tag = 'takeover'");
    }

    /// A handler waiting on its own deadline sees it pass (expired()),
    /// while the client got the timeout answer.
    void testHandlerSeesItsDeadlinePass() {
        Db db;
        db.exec("CREATE TABLE IF NOT EXISTS sdk12_meta (tag VARCHAR(64) NOT NULL, guid VARCHAR(64) "
                "NOT NULL, "
                "mode VARCHAR(32) NOT NULL, generation VARCHAR(16) NOT NULL, peer VARCHAR(64) NOT "
                "NULL, "
                "attempt INT NOT NULL, time_left_us BIGINT NOT NULL)");
        db.exec("DELETE FROM sdk12_meta");
        Stage s;
        s.add("sdk12");
        HostProcess host(s.hostOptions());
        WireClient c(host.port());
        Answer a = call(c, "sdk12_wait_deadline", Value::array().set("tag", "deadline"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.msg, std::int64_t(100203), a.code);
        CPPUNIT_ASSERT(waitUntil([&] {
            return db.scalar("SELECT COUNT(*) FROM sdk12_meta WHERE tag = 'deadline'") == 1;
        }));
        CPPUNIT_ASSERT_EQUAL(
            std::int64_t(0),
            db.scalar("SELECT time_left_us FROM sdk12_meta WHERE tag = 'deadline'"));
        db.exec("DROP TABLE sdk12_meta");
    }

    /// Commands and a pipeline on the real Redis: replies as Values, an
    /// error reply as the handler's error, one failing command of a
    /// pipeline failing alone.
    void testRedisCommandsAndPipeline() {
        Stage s;
        s.add("sdk12");
        HostProcess host(s.hostOptions());
        WireClient c(host.port());
        const std::string key = "sdk12:test:" + newGuid();
        const std::string list = key + ":list";
        Answer a = redisCall(c, {"SET", key.c_str(), "v\0x"});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.msg, std::int64_t(0), a.code);
        CPPUNIT_ASSERT_EQUAL(std::string("OK"), text(a.data, "reply"));
        a = redisCall(c, {"GET", key.c_str()});
        CPPUNIT_ASSERT_EQUAL(std::string("v"), text(a.data, "reply"));
        a = redisCall(c, {"GET", (key + ":absent").c_str()});
        CPPUNIT_ASSERT(at(a.data, "reply").isNull());
        a = redisCall(c, {"RPUSH", list.c_str(), "a", "b", "c"});
        CPPUNIT_ASSERT_EQUAL(std::int64_t(3), num(a.data, "reply"));
        a = redisCall(c, {"LRANGE", list.c_str(), "0", "-1"});
        CPPUNIT_ASSERT_EQUAL(dora::sdk::serialize(strings({"a", "b", "c"})),
                             dora::sdk::serialize(at(a.data, "reply")));
        a = redisCall(c, {"INCR", key.c_str()}); // "v" is no integer
        CPPUNIT_ASSERT_EQUAL(std::int64_t(100201), a.code);
        CPPUNIT_ASSERT_MESSAGE(a.msg, contains(a.msg, "not an integer"));

        Value cmds = Value::array();
        cmds.push(strings({"SET", key.c_str(), "10"}));
        cmds.push(strings({"INCRBY", key.c_str(), "5"}));
        cmds.push(strings({"LPUSH", key.c_str(), "x"})); // WRONGTYPE
        cmds.push(strings({"GET", key.c_str()}));
        cmds.push(strings({"DEL", key.c_str(), list.c_str()}));
        Answer p = call(c, "sdk12_pipeline", Value::array().set("cmds", cmds));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(p.msg, std::int64_t(0), p.code);
        const auto& replies = p.data.asArray();
        CPPUNIT_ASSERT_EQUAL(std::size_t(5), replies.size());
        auto reply = [&](int i) { return *replies.find(dora::sdk::Key(i)); };
        CPPUNIT_ASSERT_EQUAL(std::string("b:1;s:2:\"OK\";"),
                             dora::sdk::serialize(*reply(0).find(0)) +
                                 dora::sdk::serialize(*reply(0).find(1)));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(15), reply(1).find(1)->asInt());
        CPPUNIT_ASSERT(!reply(2).find(0)->asBool());
        CPPUNIT_ASSERT_MESSAGE(reply(2).find(1)->asString(),
                               contains(reply(2).find(1)->asString(), "WRONGTYPE"));
        CPPUNIT_ASSERT_EQUAL(std::string("15"), reply(3).find(1)->asString());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2), reply(4).find(1)->asInt());

        // An inline route runs on an I/O thread: Redis is refused there.
        a = call(c, "sdk12_redis_inline", Value::array().set("cmd", strings({"PING"})));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(100201), a.code);
        CPPUNIT_ASSERT_MESSAGE(a.msg, contains(a.msg, "route 'sdk12_redis_inline' is inline"));
    }

    /// handler_connections: 1 — while one call holds the connection,
    /// another cannot get one (Redis down for it, code 100213), and the
    /// host never opened a second.
    void testRedisPoolIsBounded() {
        Stage s;
        s.add("sdk12");
        HostProcess::Options opt = s.hostOptions();
        opt.redisYaml = redisSection("  handler_connections: 1\n  connect_timeout_ms: 200\n");
        HostProcess host(opt);
        Gate gate(host.dir());
        WireClient holder(host.port());
        holder.sendRaw(v1Frame(
            v1Request(newGuid(), "SSS",
                      oneCall("sdk12_hold_redis", Value::array().set("until_file", gate.path())))));
        CPPUNIT_ASSERT(gate.waitEntered());
        WireClient c(host.port());
        Answer a = redisCall(c, {"PING"});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.msg, std::int64_t(100213), a.code);
        CPPUNIT_ASSERT_EQUAL(std::string("Redis unavailable"), a.msg);
        CPPUNIT_ASSERT_MESSAGE(host.log(),
                               contains(host.log(), "all 1 handler Redis connections stayed busy"));
        Value st = serverStats(c);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), num(at(st, "handler_redis"), "size"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), num(at(st, "handler_redis"), "lent"));
        gate.open();
        Value held = dora::sdk::unserialize(holder.readFrame());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(dora::sdk::serialize(held), std::string("PONG"),
                                     text(held, "data"));
        // The connection came back: the next call gets it.
        a = redisCall(c, {"PING"});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.msg, std::int64_t(0), a.code);
        st = serverStats(c);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), num(at(st, "handler_redis"), "peak_open"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), num(at(st, "handler_redis"), "lent"));
    }

    /// Redis unreachable: the handler's call answers 100213, sync SQL-free
    /// calls keep working.
    void testRedisDownIsItsOwnCode() {
        Stage s;
        s.add("sdk12");
        HostProcess::Options opt = s.hostOptions();
        opt.redisYaml = "redis:\n  socket: " + s.dir() + "/no-redis.sock\n";
        HostProcess host(opt);
        WireClient c(host.port());
        Answer a = redisCall(c, {"PING"});
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.msg, std::int64_t(100213), a.code);
        Answer p = call(c, "sdk12_pipeline",
                        Value::array().set("cmds", Value::array().push(strings({"PING"}))));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(p.msg, std::int64_t(100213), p.code);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), call(c, "sdk12_meta").code);
    }

    /// --check-config lists the options in force; an unknown key and a
    /// value of the wrong type are refused with their file and line.
    void testOptionsCheckedWithFileAndLine() {
        const std::string bin = buildDir() + "/bin/dorahost";
        {
            Stage s;
            s.add("sdk12");
            RunResult r = run({bin, "--check-config", "--config", s.writeCheckConfig()});
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.out + r.err, 0, r.status);
            CPPUNIT_ASSERT_MESSAGE(
                r.out,
                contains(r.out, "option sdk12.greeting = \"bonjour\" (line 5): what meta says\n"));
            CPPUNIT_ASSERT_MESSAGE(
                r.out,
                contains(r.out, "option sdk12.limit = 42 (line 6): a number meta reports\n"));
            CPPUNIT_ASSERT_MESSAGE(
                r.out,
                contains(r.out, "option sdk12.verbose = false (default): a flag meta reports\n"));
        }
        Stage s;
        s.add("sdk12", false);
        std::string yaml = readFile(fixtureRoutes("sdk12"));
        // Lines 5-6 are greeting and limit; a wrong type and an unknown key.
        yaml.replace(yaml.find("  limit: 42\n"), 12, "  limit: many\n  colour: blue\n");
        s.writeRoutes("sdk12", yaml);
        RunResult r = run({bin, "--check-config", "--config", s.writeCheckConfig()});
        CPPUNIT_ASSERT_MESSAGE(r.out + r.err, r.status != 0);
        const std::string file = s.routesPath("sdk12");
        CPPUNIT_ASSERT_MESSAGE(r.out,
                               contains(r.out, file + ":6: option 'limit' of plugin 'sdk12': "));
        CPPUNIT_ASSERT_MESSAGE(
            r.out,
            contains(r.out, file + ":7: unknown option 'colour' (plugin 'sdk12' takes: "
                                   "greeting, limit, ratio, verbose); plugin 'sdk12' not loaded"));
        CPPUNIT_ASSERT_MESSAGE(r.out, contains(r.out, "2 problem(s) found"));
    }

    /// A reload with changed options serves the new values; one with a
    /// bad option changes nothing and says why.
    void testReloadAppliesChangedOptions() {
        Stage s;
        s.add("sdk12");
        HostProcess host(s.hostOptions());
        WireClient c(host.port());
        CPPUNIT_ASSERT_EQUAL(std::string("bonjour"),
                             text(at(call(c, "sdk12_meta").data, "options"), "greeting"));
        std::string yaml = readFile(fixtureRoutes("sdk12"));
        std::string changed = yaml;
        changed.replace(changed.find("bonjour"), 7, "salut");
        changed.replace(changed.find("  limit: 42\n"), 12, "  limit: 7\n  verbose: true\n");
        s.writeRoutes("sdk12", changed);
        Value r = control(c, "reloadTask");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(dora::sdk::serialize(r), std::int64_t(0), num(r, "code"));
        Value o = at(call(c, "sdk12_meta").data, "options");
        CPPUNIT_ASSERT_EQUAL(std::string("salut"), text(o, "greeting"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(7), num(o, "limit"));
        CPPUNIT_ASSERT(at(o, "verbose").asBool());

        std::string bad = changed;
        bad.replace(bad.find("  verbose: true\n"), 16, "  verbose: sometimes\n");
        s.writeRoutes("sdk12", bad);
        r = control(c, "reloadTask");
        CPPUNIT_ASSERT(num(r, "code") != 0);
        CPPUNIT_ASSERT_MESSAGE(
            text(r, "msg"),
            contains(text(r, "msg"), s.routesPath("sdk12") + ":7: option 'verbose'"));
        CPPUNIT_ASSERT_EQUAL(std::string("salut"),
                             text(at(call(c, "sdk12_meta").data, "options"), "greeting"));
    }

    /// Counters and histograms appear in getStat under the plugin's name.
    void testMetricsInGetStat() {
        Stage s;
        s.add("sdk12");
        HostProcess host(s.hostOptions());
        WireClient c(host.port());
        for (int n : {5, 50, 500, 1})
            CPPUNIT_ASSERT_EQUAL(std::int64_t(0),
                                 call(c, "sdk12_observe", Value::array().set("n", n)).code);
        Value st = serverStats(c);
        const Value& m = at(at(st, "plugin_metrics"), "sdk12");
        CPPUNIT_ASSERT_EQUAL_MESSAGE(dora::sdk::serialize(m), std::int64_t(4), num(m, "calls"));
        const Value& h = at(m, "n_seen");
        CPPUNIT_ASSERT_EQUAL(std::int64_t(4), num(h, "count"));
        CPPUNIT_ASSERT_EQUAL(556.0, at(h, "sum").asFloat());
        const Value& le = at(h, "le"); // cumulative, as Prometheus has them
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), num(le, "1"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2), num(le, "10"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(3), num(le, "100"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(4), num(le, "+Inf"));
    }

    /// Plugins compiled against the 1.0 and the 1.1 SDK headers as they
    /// were released load next to a 1.2 plugin and serve, SQL included.
    void testPluginsBuiltAgainstOldSdksServe() {
        Stage s;
        s.add("compat_v10");
        s.add("compat_v11");
        s.add("sdk12");
        HostProcess host(s.hostOptions());
        WireClient c(host.port());
        Value st = serverStats(c);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(pluginErrors(st), std::string(""), pluginErrors(st));
        CPPUNIT_ASSERT_EQUAL(std::string("1.0"), pluginVersion(st, "compat_1.0"));
        CPPUNIT_ASSERT_EQUAL(std::string("1.1"), pluginVersion(st, "compat_1.1"));
        Answer a = call(c, "compat_v10_echo", Value::array().set("n", 41));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.msg, std::int64_t(0), a.code);
        CPPUNIT_ASSERT_EQUAL(std::string("1.0"), text(a.data, "abi"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(42), num(a.data, "sum"));
        CPPUNIT_ASSERT(!a.data.find("task_id"));
        a = call(c, "compat_v11_echo", Value::array().set("n", 1));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.msg, std::int64_t(0), a.code);
        CPPUNIT_ASSERT_EQUAL(std::string("1.1"), text(a.data, "abi"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2), num(a.data, "sum"));
        CPPUNIT_ASSERT_EQUAL(std::string(""), text(a.data, "task_id"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), call(c, "sdk12_meta").code);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SdkHostTest);
