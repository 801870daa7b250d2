// taskStatus (`dora task GUID`) through a task's life on the real host:
// queued while the consumer cannot take more, running once delivered,
// applied (when, where); a poison task retrying (attempts, last error),
// then dead-lettered (why). Asked on new connections after the sender's
// connection has closed.
#include "queue/QueueSupport.h"

#include <dora/sdk/serialize.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <vector>

using dora::sdk::Value;
using namespace dora::test;
using namespace dora::test::queue;

namespace {

constexpr std::int64_t kAccepted = 100001;

std::string queueName(const std::string& test) { return "ts" + std::to_string(::getpid()) + "-" + test; }

/// The answer of taskStatus for guid, asked on a connection of its own.
Value taskStatus(std::uint16_t port, const std::string& guid) {
    Value param = Value::array();
    param.set("guid", guid);
    Value cmd = Value::array();
    cmd.set("name", "taskStatus");
    cmd.set("param", param);
    Value api = Value::array();
    api.set("cmd", cmd);
    WireClient c(port);
    return callV1(c, "SC", api, newGuid());
}

/// A control command with a param, on a connection of its own.
Value control(std::uint16_t port, const std::string& name, const Value& param) {
    Value cmd = Value::array();
    cmd.set("name", name);
    cmd.set("param", param);
    Value api = Value::array();
    api.set("cmd", cmd);
    WireClient c(port);
    return callV1(c, "SC", api, newGuid());
}

Value idParam(const std::string& id) {
    Value p = Value::array();
    p.set("id", id);
    return p;
}

/// data.task.state of a served answer; "" when the answer is an error.
std::string stateOf(const Value& answer) {
    if (answer.find("code")->asInt() != 0) return "";
    return answer.find("data")->find("task")->find("state")->asString();
}

const Value& task(const Value& answer) { return *answer.find("data")->find("task"); }

/// Sends one async call on a connection that is closed right after the
/// answer; returns the request's guid.
std::string sendAsync(std::uint16_t port, const std::string& api, const Value& param) {
    WireClient c(port);
    std::string guid = newGuid();
    Value a = callV1(c, "SRS", oneCall(api, param), guid);
    CPPUNIT_ASSERT_EQUAL(kAccepted, a.find("code")->asInt());
    return guid;
}

/// Waits until guid's state is `want`; fails with the last answer.
void waitState(std::uint16_t port, const std::string& guid, const std::string& want, const HostProcess& host) {
    Value last;
    bool ok = waitFor(
        [&] {
            last = taskStatus(port, guid);
            return stateOf(last) == want;
        },
        30000);
    if (!ok) {
        std::string log = host.log();
        if (log.size() > 4000) log = "..." + log.substr(log.size() - 4000);
        CPPUNIT_FAIL("task " + guid + " never became " + want + "; last answer " + dora::sdk::serialize(last) +
                     "\nhost log:\n" + log);
    }
}

/// A host of queue q serving the plugins of dirs, with these queue keys.
HostProcess::Options withPlugins(const std::string& q, const PluginDirs& dirs, const std::string& queueYaml) {
    HostProcess::Options o;
    o.queueName = q;
    o.pluginsDir = dirs.plugins();
    o.routesDir = dirs.routes();
    o.queueYaml = queueYaml;
    return o;
}

} // namespace

class TaskStatusTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(TaskStatusTest);
    CPPUNIT_TEST(testQueuedRunningApplied);
    CPPUNIT_TEST(testPoisonRetryingThenDeadLettered);
    CPPUNIT_TEST(testUnknownGuidAndBadParam);
    CPPUNIT_TEST(testDeadLetterRedriveKeepsTaskIds);
    CPPUNIT_TEST(testPackedRequestsEachSettleOnTheirOwn);
    CPPUNIT_TEST_SUITE_END();

public:
    void testQueuedRunningApplied() {
        const std::string q = queueName("life");
        StreamCleanup cleanup(q);
        PluginDirs dirs({"slow"});
        HostProcess::Options o;
        o.queueName = q;
        o.nodeId = "node-" + q;
        o.taskWorkers = 1; // one slot: a held sync call keeps the consumer from taking more than one batch
        o.httpPort = freePort();
        o.pluginsDir = dirs.plugins();
        o.routesDir = dirs.routes();
        // queue.status_ttl_sec left at its default (on, 3600).
        HostProcess host(o);
        Db db;
        db.exec("DELETE FROM users WHERE name LIKE 'q_ts_%'");

        // The only slot is held by a sync call waiting at a gate.
        Gate gate(host.dir());
        WireClient held(host.port());
        Value slow = Value::array();
        slow.set("until_file", gate.path());
        held.sendRaw(v1Frame(v1Request(newGuid(), "SSS", oneCall("slow_echo", slow))));
        CPPUNIT_ASSERT(gate.waitEntered());

        // A is read by the consumer, its batch waits for the slot: running here.
        std::string a = sendAsync(host.port(), "plus_user", userParam("q_ts_a"));
        waitState(host.port(), a, "running", host);
        Value ta = task(taskStatus(host.port(), a));
        CPPUNIT_ASSERT_EQUAL(o.nodeId, ta.find("node")->asString());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), ta.find("deliveries")->asInt());
        // B stays in the stream: the consumer takes no more while A's batch
        // waits. (Sent only once that batch is formed: before, the consumer
        // may still be in its batch_latency_ms wait, which would take B into
        // A's batch.)
        CPPUNIT_ASSERT(waitFor([&] { return statInt(queueStat(host.port()), "batches_in_flight") == 1; }, 30000));
        std::string b = sendAsync(host.port(), "plus_user", userParam("q_ts_b"));
        Value tb;
        CPPUNIT_ASSERT(waitFor(
            [&] {
                Value ans = taskStatus(host.port(), b);
                if (ans.find("code")->asInt() != 0) return false; // record not written yet
                tb = task(ans);
                return true;
            },
            30000));
        CPPUNIT_ASSERT_EQUAL(std::string("queued"), tb.find("state")->asString());
        CPPUNIT_ASSERT(tb.find("entry")->asString().find('-') != std::string::npos);
        CPPUNIT_ASSERT(tb.find("stored_at")->asInt() > 0);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), db.scalar("SELECT COUNT(*) FROM users WHERE name IN ('q_ts_a','q_ts_b')"));

        gate.open();
        held.readFrame();
        waitState(host.port(), a, "applied", host);
        waitState(host.port(), b, "applied", host);
        Value done = task(taskStatus(host.port(), b));
        CPPUNIT_ASSERT_EQUAL(o.nodeId, done.find("node")->asString());
        CPPUNIT_ASSERT(done.find("at")->asInt() >= tb.find("stored_at")->asInt());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), done.find("attempts")->asInt());
        const Value& call = *done.find("calls")->find(dora::sdk::Key(0));
        CPPUNIT_ASSERT_EQUAL(std::string("one"), call.find("key")->asString());
        CPPUNIT_ASSERT_EQUAL(std::string("plus_user"), call.find("api")->asString());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), call.find("code")->asInt());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), db.scalar("SELECT visits FROM users WHERE name = 'q_ts_a'"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), db.scalar("SELECT visits FROM users WHERE name = 'q_ts_b'"));
        // The same answer in a v2 frame and over HTTP /server/cmd.
        {
            Value body = Value::array();
            std::string g2 = newGuid();
            body.set("guid", g2);
            body.set("type", "SC");
            Value param = Value::array();
            param.set("guid", b);
            Value cmd = Value::array();
            cmd.set("name", "taskStatus");
            cmd.set("param", param);
            Value api = Value::array();
            api.set("cmd", cmd);
            body.set("api", api);
            WireClient c(host.port());
            c.sendRaw(v1Frame(g2 + dora::sdk::serialize(body))); // same length prefix; the guid header makes it v2
            std::string answer = c.readFrame();
            Value v2 = dora::sdk::unserialize(answer.substr(32));
            CPPUNIT_ASSERT_EQUAL(std::string("applied"), v2.find("data")->find("task")->find("state")->asString());
            std::string json = "{\"guid\":\"" + g2 + "\",\"api\":{\"cmd\":{\"name\":\"taskStatus\",\"param\":{\"guid\":\"" +
                               b + "\"}}}}";
            std::string cmdline = "curl -sS -H 'Content-Type: application/json' --data '" + json + "' http://127.0.0.1:" +
                                  std::to_string(host.httpPort()) + "/server/cmd";
            FILE* p = ::popen(cmdline.c_str(), "r");
            CPPUNIT_ASSERT(p != nullptr);
            std::string out;
            char buf[4096];
            std::size_t n;
            while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
            CPPUNIT_ASSERT_EQUAL(0, ::pclose(p));
            CPPUNIT_ASSERT_MESSAGE(out, out.find("\"state\":\"applied\"") != std::string::npos &&
                                            out.find("\"code\":0") != std::string::npos);
        }
        // The record expires (queue.status_ttl_sec, 3600 by default): it is a
        // field of the applied hash of its time slot (10 s), which lives
        // ttl + one slot from its first write; no key per request.
        RedisClient r;
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), r.integer({"EXISTS", tasksStream(q) + ":status:" + b}));
        RedisClient::Reply keys = r.command({"KEYS", tasksStream(q) + ":status:a:*"});
        CPPUNIT_ASSERT(keys && keys->type == REDIS_REPLY_ARRAY && keys->elements >= 1);
        bool found = false;
        for (std::size_t i = 0; i < keys->elements; ++i) {
            const std::string key(keys->element[i]->str, keys->element[i]->len);
            if (r.integer({"HEXISTS", key, b}) != 1) continue;
            found = true;
            std::int64_t ttl = r.integer({"TTL", key});
            CPPUNIT_ASSERT_MESSAGE(std::to_string(ttl), ttl > 3000 && ttl <= 3610);
        }
        CPPUNIT_ASSERT(found);
        for (std::size_t i = 0; i < keys->elements; ++i)
            r.command({"DEL", std::string(keys->element[i]->str, keys->element[i]->len)});
        db.exec("DELETE FROM users WHERE name LIKE 'q_ts_%'");
    }

    void testPoisonRetryingThenDeadLettered() {
        const std::string q = queueName("poison");
        StreamCleanup cleanup(q);
        PluginDirs dirs({"poison"});
        HostProcess::Options o;
        o.queueName = q;
        o.nodeId = "node-" + q;
        o.pluginsDir = dirs.plugins();
        o.routesDir = dirs.routes();
        // One retry, 3 s after the first failure: long enough to see it
        // retrying, short enough for a quick test.
        o.queueYaml = "  max_retries: 1\n  retry_backoff_ms: 3000\n";
        HostProcess host(o);
        Db db;

        Value fail = Value::array();
        fail.set("name", "q_ts_fail");
        fail.set("fail", true);
        std::string g = sendAsync(host.port(), "poison", fail);
        waitState(host.port(), g, "retrying", host);
        Value t = task(taskStatus(host.port(), g));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), t.find("attempts")->asInt());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(3000), t.find("retry_in_ms")->asInt());
        std::string err = t.find("last_error")->asString();
        CPPUNIT_ASSERT_MESSAGE(err, err.find("100201") != std::string::npos &&
                                        err.find("failing on purpose") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(o.nodeId, t.find("node")->asString());

        waitState(host.port(), g, "dead_lettered", host);
        t = task(taskStatus(host.port(), g));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2), t.find("attempts")->asInt());
        std::string why = t.find("reason")->asString();
        CPPUNIT_ASSERT_MESSAGE(why, why.find("gave up after 2 attempts") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(100201), t.find("calls")->find(dora::sdk::Key(0))->find("code")->asInt());

        // A bad parameter is final: dead-lettered at the first attempt.
        Value bad = Value::array();
        bad.set("name", "q_ts_bad");
        bad.set("bad", true);
        std::string gb = sendAsync(host.port(), "poison", bad);
        waitState(host.port(), gb, "dead_lettered", host);
        Value tb = task(taskStatus(host.port(), gb));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), tb.find("attempts")->asInt());
        CPPUNIT_ASSERT(tb.find("reason")->asString().find("100210") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), db.scalar("SELECT COUNT(*) FROM users WHERE name IN ('q_ts_fail','q_ts_bad')"));
        RedisClient r;
        r.command({"DEL", tasksStream(q) + ":status:" + g, tasksStream(q) + ":status:" + gb});
    }

    void testUnknownGuidAndBadParam() {
        HostProcess::Options o;
        o.queueName = queueName("unknown");
        HostProcess host(o);
        Value a = taskStatus(host.port(), newGuid());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(100211), a.find("code")->asInt());
        CPPUNIT_ASSERT(a.find("msg")->asString().find("is known") != std::string::npos);
        WireClient c(host.port());
        Value cmd = Value::array();
        cmd.set("name", "taskStatus");
        Value api = Value::array();
        api.set("cmd", cmd);
        Value b = callV1(c, "SC", api, newGuid());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(100210), b.find("code")->asInt());
        CPPUNIT_ASSERT(b.find("msg")->asString().find("'guid'") != std::string::npos);
    }

    // A multi request whose second call fails until a file exists dies
    // after its first attempt (the first call applied); the fix is made,
    // the letter redriven: the second call is applied, the first skipped
    // as already applied (same task ids), the letter is gone.
    void testDeadLetterRedriveKeepsTaskIds() {
        const std::string q = queueName("redrive");
        StreamCleanup cleanup(q);
        PluginDirs dirs({"poison"});
        HostProcess::Options o = withPlugins(q, dirs, "  max_retries: 0\n");
        HostProcess host(o);
        Db db;
        db.exec("DELETE FROM users WHERE name LIKE 'q_rd_%'");
        const std::string fix = host.dir() + "/fixed";

        Value a = Value::array();
        a.set("name", "q_rd_a");
        Value b = Value::array();
        b.set("name", "q_rd_b");
        b.set("until_file", fix);
        Value calls = Value::array();
        Value ca = Value::array();
        ca.set("name", "poison");
        ca.set("param", a);
        Value cb = Value::array();
        cb.set("name", "poison");
        cb.set("param", b);
        calls.set("a", ca);
        calls.set("b", cb);
        std::string guid = newGuid();
        {
            WireClient c(host.port());
            CPPUNIT_ASSERT_EQUAL(kAccepted, callV1(c, "SRM", calls, guid).find("code")->asInt());
        }
        waitState(host.port(), guid, "dead_lettered", host);

        Value list = control(host.port(), "deadList", Value::array());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), list.find("code")->asInt());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), list.find("data")->find("dead_letters")->asInt());
        const Value& letter = *list.find("data")->find("letters")->find(dora::sdk::Key(0));
        CPPUNIT_ASSERT_EQUAL(guid, letter.find("guid")->asString());
        const std::string id = letter.find("id")->asString();
        const std::string origin = letter.find("origin")->asString();
        CPPUNIT_ASSERT(letter.find("reason")->asString().find("waiting for " + fix) != std::string::npos);
        Value shown = control(host.port(), "deadShow", idParam(id));
        const Value& sc = *shown.find("data")->find("letter")->find("calls");
        CPPUNIT_ASSERT_EQUAL(std::string("q_rd_b"), sc.find(dora::sdk::Key(1))->find("param")->find("name")->asString());
        // a was applied before the entry died; b was not.
        // The entry's ledger row: call 0 applied, call 1 not.
        auto ledger = db.query("SELECT applied FROM dora_processed_tasks WHERE task_id LIKE '%:" + origin + "'");
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), ledger.size());
        CPPUNIT_ASSERT_EQUAL(std::string("10"), ledger[0].find("applied")->asString());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), db.scalar("SELECT COUNT(*) FROM users WHERE name = 'q_rd_a'"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), db.scalar("SELECT COUNT(*) FROM users WHERE name = 'q_rd_b'"));

        std::ofstream(fix).flush(); // the fix
        Value redriven = control(host.port(), "deadRedrive", idParam(id));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), redriven.find("code")->asInt());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), redriven.find("data")->find("redriven")->asInt());
        waitState(host.port(), guid, "applied", host);
        Value t = task(taskStatus(host.port(), guid));
        const Value& tc = *t.find("calls");
        CPPUNIT_ASSERT(tc.find(dora::sdk::Key(0))->find("msg")->asString().find("applied earlier") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), tc.find(dora::sdk::Key(1))->find("code")->asInt());
        // The same row (the origin's): one row per entry, never two; now every call applied.
        const std::string rows = "SELECT COUNT(*) FROM dora_processed_tasks WHERE task_id LIKE '%:" + origin + "%'";
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), db.scalar(rows));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), db.scalar(rows + " AND applied IS NULL"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), db.scalar("SELECT COUNT(*) FROM users WHERE name = 'q_rd_b'"));
        Value qs = queueStat(host.port());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), statInt(qs, "duplicates_skipped"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2), statInt(qs, "applied"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), statInt(qs, "dead_letters"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(100211), control(host.port(), "deadShow", idParam(id)).find("code")->asInt());

        // Purge: one by id, then all.
        for (const char* n : {"q_rd_c", "q_rd_d", "q_rd_e"}) {
            Value bad = Value::array();
            bad.set("name", n);
            bad.set("bad", true);
            waitState(host.port(), sendAsync(host.port(), "poison", bad), "dead_lettered", host);
        }
        Value l2 = control(host.port(), "deadList", Value::array());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(3), l2.find("data")->find("dead_letters")->asInt());
        std::string first = l2.find("data")->find("letters")->find(dora::sdk::Key(0))->find("id")->asString();
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1),
                             control(host.port(), "deadPurge", idParam(first)).find("data")->find("purged")->asInt());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2),
                             control(host.port(), "deadPurge", idParam("all")).find("data")->find("purged")->asInt());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), control(host.port(), "deadList", Value::array())
                                                  .find("data")->find("dead_letters")->asInt());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(100210), control(host.port(), "deadRedrive", idParam("12; DEL x")).find("code")->asInt());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(100211), control(host.port(), "deadPurge", idParam("1-1")).find("code")->asInt());
        db.exec("DELETE FROM users WHERE name LIKE 'q_rd_%'");
    }

    // queue.tasks_per_entry: requests the producer has in hand together
    // share one stream entry (queue/Pack.h). Redis is paused while six
    // pipelined requests arrive, so the producer's first XADD waits and
    // the others pile up behind it and go as one packed entry. Inside that
    // entry each request is a task of its own: the good ones are applied
    // once and show applied under their own "<entry>/<index>" id while a
    // failing one retries and a bad one is dead-lettered alone; the entry
    // leaves the stream once all six are settled.
    void testPackedRequestsEachSettleOnTheirOwn() {
        const std::string q = queueName("pack");
        StreamCleanup cleanup(q);
        PluginDirs dirs({"poison"});
        HostProcess::Options o = withPlugins(q, dirs, "  max_retries: 1\n  retry_backoff_ms: 50\n  tasks_per_entry: 8\n");
        HostProcess host(o);
        Db db;
        db.exec("DELETE FROM users WHERE name LIKE 'q_pk_%'");
        RedisClient redis;

        const std::vector<std::pair<std::string, const char*>> reqs = {
            {"q_pk_0", nullptr}, {"q_pk_1", nullptr}, {"q_pk_fail", "fail"},
            {"q_pk_2", nullptr}, {"q_pk_bad", "bad"},  {"q_pk_3", nullptr}};
        std::vector<std::string> guids;
        std::string frames;
        for (const auto& [name, flag] : reqs) {
            Value p = Value::array();
            p.set("name", name);
            if (flag) p.set(flag, true);
            guids.push_back(newGuid());
            frames += v1Frame(v1Request(guids.back(), "SRS", oneCall("poison", p)));
        }
        WireClient c(host.port());
        redis.command({"CLIENT", "PAUSE", "500", "WRITE"});
        c.sendRaw(frames);
        for (std::size_t i = 0; i < reqs.size(); ++i)
            CPPUNIT_ASSERT_EQUAL(kAccepted, dora::sdk::unserialize(c.readFrame(10000)).find("code")->asInt());
        CPPUNIT_ASSERT(statInt(queueStat(host.port()), "packed_entries") >= 1);

        std::set<std::string> entries;
        for (std::size_t i = 0; i < reqs.size(); ++i) {
            const bool good = reqs[i].second == nullptr;
            waitState(host.port(), guids[i], good ? "applied" : "dead_lettered", host);
            entries.insert(task(taskStatus(host.port(), guids[i])).find("entry")->asString());
        }
        CPPUNIT_ASSERT_EQUAL(reqs.size(), entries.size()); // a task id each
        std::size_t packed = 0;
        for (const auto& e : entries)
            if (e.find('/') != std::string::npos) ++packed;
        CPPUNIT_ASSERT(packed >= 2);
        // The packed entry left the stream once all six were settled.
        CPPUNIT_ASSERT(waitFor(
            [&] { return redis.integer({"XLEN", tasksStream(q)}) == 0 && redis.pending(tasksStream(q)) == 0; },
            30000));

        // Each good request ran once, the failing one twice (max_retries 1),
        // the bad one once; only the good ones wrote.
        const std::string log = host.log();
        auto runs = [&](const std::string& n) {
            std::size_t k = 0;
            for (auto at = log.find("poison run " + n + "\n"); at != std::string::npos;
                 at = log.find("poison run " + n + "\n", at + 1))
                ++k;
            return k;
        };
        for (const char* n : {"q_pk_0", "q_pk_1", "q_pk_2", "q_pk_3"}) {
            CPPUNIT_ASSERT_EQUAL_MESSAGE(n, std::size_t(1), runs(n));
            CPPUNIT_ASSERT_EQUAL(std::int64_t(1),
                                 db.scalar(std::string("SELECT COUNT(*) FROM users WHERE name = '") + n + "'"));
        }
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), runs("q_pk_fail"));
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), runs("q_pk_bad"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0),
                             db.scalar("SELECT COUNT(*) FROM users WHERE name IN ('q_pk_fail', 'q_pk_bad')"));
        // The dead letters: the two failed requests alone, under their own ids.
        auto letters = redis.range(deadStream(q));
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), letters.size());
        for (auto& l : letters) {
            CPPUNIT_ASSERT(entries.count(l["entry"]) == 1);
            CPPUNIT_ASSERT(l["calls"].find("q_pk_fail") != std::string::npos ||
                           l["calls"].find("q_pk_bad") != std::string::npos);
        }
        Value qs = queueStat(host.port());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(4), statInt(qs, "applied"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2), statInt(qs, "dead_lettered"));
        CPPUNIT_ASSERT_EQUAL(std::int64_t(0), statInt(qs, "duplicates_skipped"));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(TaskStatusTest);
