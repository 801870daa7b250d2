// tests/queue/StreamConsumerTest.cpp — the queue's Redis side on its own:
// queue::StreamConsumer, queue::DeadLetters and readTaskStatus against the
// scripted fake Redis of tests/pools (FakeRedis with a Script: it answers
// each command as the test says and records every command). What each
// sends, in order, and what it makes of the replies. No real Redis.
#include "queue/Pack.h"
#include "queue/StreamConsumer.h"
#include "pools/FakeRedis.h"
#include "queue/DeadLetters.h"
#include "queue/TaskStatus.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

using dora::queue::DeadLetter;
using dora::queue::DeadLetters;
using dora::queue::QueueSettings;
using dora::queue::StreamConsumer;
using dora::queue::StreamEntry;
using dora::test::FakeRedis;
namespace resp = dora::test::resp;
using Argv = std::vector<std::string>;

namespace {

/// Replies by command name; a name may have several replies, used in turn
/// (the last one repeats). Unscripted commands get the fake's own reply.
class Script {
public:
    Script& on(const std::string& name, std::string reply) {
        std::lock_guard<std::mutex> lock(_m);
        _replies[name].push_back(std::move(reply));
        return *this;
    }
    FakeRedis::Script fn() {
        return [this](const Argv& argv) -> std::optional<std::string> {
            std::lock_guard<std::mutex> lock(_m);
            auto it = _replies.find(argv.empty() ? "" : argv[0]);
            if (it == _replies.end()) return std::nullopt;
            std::size_t& n = _used[it->first];
            const std::string& r = it->second[std::min(n, it->second.size() - 1)];
            ++n;
            return r;
        };
    }

private:
    std::mutex _m;
    std::map<std::string, std::vector<std::string>> _replies;
    std::map<std::string, std::size_t> _used;
};

/// A stream entry as XRANGE / XREADGROUP return it.
std::string entry(const std::string& id, const std::vector<std::string>& fields) {
    std::vector<std::string> f;
    for (const auto& x : fields)
        f.push_back(resp::bulk(x));
    return resp::array({resp::bulk(id), resp::array(f)});
}

QueueSettings settings() {
    QueueSettings q;
    q.stream = "st";
    q.group = "g";
    q.consumer = "c1";
    q.deadLetterStream = "dead";
    q.statusTtlSec = 3600;
    return q;
}

dora::pools::RedisSettings redisAt(const FakeRedis& fake) {
    dora::pools::RedisSettings s;
    s.socket = fake.socketPath();
    return s;
}

/// The commands the fake received whose name is not in `skip`.
std::vector<Argv> sent(const FakeRedis& fake, const std::vector<std::string>& skip = {}) {
    std::vector<Argv> out;
    for (const auto& a : fake.received())
        if (std::find(skip.begin(), skip.end(), a.at(0)) == skip.end()) out.push_back(a);
    return out;
}

std::string show(const std::vector<Argv>& cmds) {
    std::string s;
    for (const auto& a : cmds) {
        s += "\n ";
        for (const auto& x : a)
            s += " " + x;
    }
    return s;
}

#define ASSERT_SENT(expected, actual) CPPUNIT_ASSERT_EQUAL(show(expected), show(actual))

} // namespace

class StreamConsumerTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(StreamConsumerTest);
    CPPUNIT_TEST(testSetupCreatesTheGroupAndToleratesAnExistingOne);
    CPPUNIT_TEST(testSetupRefusedDropsTheConnection);
    CPPUNIT_TEST(testReadTakesEntriesAndAcksOnesAlreadyDeleted);
    CPPUNIT_TEST(testPendingReadCountsEarlierAttempts);
    CPPUNIT_TEST(testPackedEntryIsOneTaskPerRequest);
    CPPUNIT_TEST(testPackCodecRejectsCutInput);
    CPPUNIT_TEST(testSettleIsOneRoundTripInOrder);
    CPPUNIT_TEST(testSettleRefusedIsFalseAndTheConnectionStaysInStep);
    CPPUNIT_TEST(testDepthFromRedisOwnClock);
    CPPUNIT_TEST_SUITE_END();

public:
    void testSetupCreatesTheGroupAndToleratesAnExistingOne() {
        Script script;
        script.on("XGROUP", resp::error("BUSYGROUP Consumer Group name already exists"));
        FakeRedis fake(script.fn());
        StreamConsumer c(redisAt(fake), settings());
        CPPUNIT_ASSERT(!c.connected());
        CPPUNIT_ASSERT(c.setup());
        CPPUNIT_ASSERT(c.connected());
        ASSERT_SENT((std::vector<Argv>{{"XGROUP", "CREATE", "st", "g", "0", "MKSTREAM"}}),
                    sent(fake));
    }

    /// E.g. LOADING after a restart: kept, the connection would look healthy.
    void testSetupRefusedDropsTheConnection() {
        Script script;
        script.on("XGROUP", resp::error("LOADING Redis is loading the dataset in memory"));
        FakeRedis fake(script.fn());
        StreamConsumer c(redisAt(fake), settings());
        CPPUNIT_ASSERT(!c.setup());
        CPPUNIT_ASSERT(!c.connected());
        std::vector<StreamEntry> out;
        c.read(">", 10, 0, out);
        CPPUNIT_ASSERT(out.empty());
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), fake.received().size()); // read sent nothing
    }

    void testReadTakesEntriesAndAcksOnesAlreadyDeleted() {
        Script script;
        script.on("XGROUP", resp::status("OK"))
            .on("XREADGROUP",
                resp::array({resp::array(
                    {resp::bulk("st"),
                     resp::array(
                         {entry("5-0", {"type", "2", "guid", "g5", "calls", "C5"}),
                          resp::array({resp::bulk("6-0"), resp::nilArray()}), // pending, deleted
                          entry("7-1",
                                {"type", "3", "guid", "g7", "calls", "C7", "origin", "1-0"})})})}))
            .on("XACK", resp::integer(1));
        FakeRedis fake(script.fn());
        StreamConsumer c(redisAt(fake), settings());
        CPPUNIT_ASSERT(c.setup());
        std::vector<StreamEntry> out;
        std::string last;
        c.read(">", 10, 250, out, &last);
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), out.size());
        CPPUNIT_ASSERT_EQUAL(std::string("5-0"), out[0].id);
        CPPUNIT_ASSERT_EQUAL(std::string("2"), out[0].type);
        CPPUNIT_ASSERT_EQUAL(std::string("g5"), out[0].guid);
        CPPUNIT_ASSERT_EQUAL(std::string("C5"), out[0].calls);
        CPPUNIT_ASSERT_EQUAL(std::string("5-0"), out[0].taskBase());
        CPPUNIT_ASSERT_EQUAL(std::string("7-1"), out[1].id);
        CPPUNIT_ASSERT_EQUAL(std::string("1-0"),
                             out[1].taskBase()); // a redriven letter keeps its ledger ids
        CPPUNIT_ASSERT_EQUAL(0, out[1].prior);   // read new: no earlier attempt
        CPPUNIT_ASSERT_EQUAL(std::string("7-1"), last);
        ASSERT_SENT((std::vector<Argv>{{"XREADGROUP", "GROUP", "g", "c1", "COUNT", "10", "BLOCK",
                                        "250", "STREAMS", "st", ">"},
                                       {"XACK", "st", "g", "6-0"}}),
                    sent(fake, {"XGROUP"}));
    }

    /// A packed entry (queue/Pack.h) is read as one task per request, each
    /// with its own id, guid and calls and its entry's id; a malformed one
    /// is one unreadable task under the entry's id (dead-lettered whole).
    void testPackedEntryIsOneTaskPerRequest() {
        std::string pack;
        dora::queue::appendPacked(pack, "SRS", "ga", "CA");
        dora::queue::appendPacked(pack, "SRM", "gb", std::string("C\0B:", 4));
        Script script;
        script.on("XGROUP", resp::status("OK"))
            .on("XREADGROUP",
                resp::array({resp::array({resp::bulk("st"),
                                          resp::array({entry("8-0", {"pack", pack}),
                                                       entry("9-0", {"pack", "3:SRS2:g"})})})}));
        FakeRedis fake(script.fn());
        StreamConsumer c(redisAt(fake), settings());
        CPPUNIT_ASSERT(c.setup());
        std::vector<StreamEntry> out;
        std::string last;
        c.read(">", 10, 0, out, &last);
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), out.size());
        CPPUNIT_ASSERT_EQUAL(std::string("8-0/0"), out[0].id);
        CPPUNIT_ASSERT_EQUAL(std::string("8-0"), out[0].entryId());
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), out[0].packSize);
        CPPUNIT_ASSERT_EQUAL(std::string("SRS"), out[0].type);
        CPPUNIT_ASSERT_EQUAL(std::string("ga"), out[0].guid);
        CPPUNIT_ASSERT_EQUAL(std::string("CA"), out[0].calls);
        CPPUNIT_ASSERT_EQUAL(std::string("8-0/0"), out[0].taskBase()); // its ledger row is its own
        CPPUNIT_ASSERT_EQUAL(std::string("8-0/1"), out[1].id);
        CPPUNIT_ASSERT_EQUAL(std::string("gb"), out[1].guid);
        CPPUNIT_ASSERT_EQUAL(std::string("C\0B:", 4), out[1].calls);
        CPPUNIT_ASSERT(out[1].error.empty());
        CPPUNIT_ASSERT_EQUAL(std::string("9-0"), out[2].id);
        CPPUNIT_ASSERT_EQUAL(std::string("9-0"), out[2].entryId());
        CPPUNIT_ASSERT(out[2].error.find("unreadable") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(std::string("9-0"), last); // the stream's id, not a task's
    }

    void testPackCodecRejectsCutInput() {
        std::vector<dora::queue::PackedTask> t;
        std::string error;
        std::string pack;
        dora::queue::appendPacked(pack, "AN_S", "", "a:0:{}");
        CPPUNIT_ASSERT(dora::queue::unpack(pack, t, error));
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), t.size());
        CPPUNIT_ASSERT_EQUAL(std::string("AN_S"), t[0].type);
        CPPUNIT_ASSERT(t[0].guid.empty());
        CPPUNIT_ASSERT_EQUAL(std::string("a:0:{}"), t[0].calls);
        for (const std::string& bad : {std::string(), pack.substr(0, pack.size() - 1), pack + "1", std::string("x:1"),
                                      std::string("99:ab"), std::string("1234567890:a")}) {
            error.clear();
            CPPUNIT_ASSERT_MESSAGE(bad, !dora::queue::unpack(bad, t, error));
            CPPUNIT_ASSERT(t.empty());
            CPPUNIT_ASSERT(!error.empty());
        }
        CPPUNIT_ASSERT_EQUAL(std::string("5-1/12"), dora::queue::packedId("5-1", 12));
        CPPUNIT_ASSERT_EQUAL(std::string("5-1"), std::string(dora::queue::streamIdOf("5-1/12")));
        CPPUNIT_ASSERT_EQUAL(std::string("5-1"), std::string(dora::queue::streamIdOf("5-1")));
    }

    /// Our own pending list (a restart): earlier deliveries from XPENDING,
    /// or more from a "retrying" record of the same entry.
    void testPendingReadCountsEarlierAttempts() {
        Script script;
        script.on("XGROUP", resp::status("OK"))
            .on("XREADGROUP", resp::array({resp::array(
                                  {resp::bulk("st"),
                                   resp::array({entry("5-0", {"guid", "g5", "calls", "C"}),
                                                entry("6-0", {"guid", "g6", "calls", "C"}),
                                                entry("7-0", {"guid", "g7", "calls", "C"})})})}))
            .on("XPENDING", resp::array({resp::array({resp::bulk("5-0"), resp::bulk("c1"),
                                                      resp::integer(10), resp::integer(3)}),
                                         resp::array({resp::bulk("6-0"), resp::bulk("c1"),
                                                      resp::integer(10), resp::integer(2)}),
                                         resp::array({resp::bulk("7-0"), resp::bulk("c1"),
                                                      resp::integer(10), resp::integer(1)})}))
            // g5: retried 5 times in-process; g6: a record of another entry; g7: none.
            .on("GET", resp::bulk(R"({"state":"retrying","attempts":5,"entry":"5-0"})"))
            .on("GET", resp::bulk(R"({"state":"retrying","attempts":9,"entry":"1-0"})"))
            .on("GET", resp::nil());
        FakeRedis fake(script.fn());
        StreamConsumer c(redisAt(fake), settings());
        CPPUNIT_ASSERT(c.setup());
        std::vector<StreamEntry> out;
        c.read("0", 10, 0, out);
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), out.size());
        CPPUNIT_ASSERT_EQUAL(5, out[0].prior); // max(3 - 1, 5)
        CPPUNIT_ASSERT_EQUAL(1, out[1].prior); // 2 - 1; the record is not this entry's
        CPPUNIT_ASSERT_EQUAL(0, out[2].prior);
        ASSERT_SENT((std::vector<Argv>{
                        {"XREADGROUP", "GROUP", "g", "c1", "COUNT", "10", "STREAMS", "st", "0"},
                        {"XPENDING", "st", "g", "5-0", "7-0", "3", "c1"},
                        {"GET", "st:status:g5"},
                        {"GET", "st:status:g6"},
                        {"GET", "st:status:g7"}}),
                    sent(fake, {"XGROUP"}));
    }

    void testSettleIsOneRoundTripInOrder() {
        Script script;
        script.on("XGROUP", resp::status("OK"));
        for (const char* c : {"XADD", "SET", "HSET", "EXPIRE"})
            script.on(c, resp::status("OK"));
        script.on("XACK", resp::integer(2)).on("XDEL", resp::integer(2));
        FakeRedis fake(script.fn());
        StreamConsumer c(redisAt(fake), settings());
        CPPUNIT_ASSERT(c.setup());
        StreamEntry e;
        e.id = "9-0";
        e.type = "2";
        e.guid = "g9";
        e.calls = "C9";
        e.origin = "3-0";
        const std::int64_t before = dora::queue::unixMs() / 1000;
        CPPUNIT_ASSERT(c.settle({DeadLetter{&e, "handler failed 5 times"}}, {"8-0", "9-0"},
                                {{"st:status:g9", "{dead}"}}, {{"g8", "{applied}"}}));
        const std::int64_t after = dora::queue::unixMs() / 1000;
        auto cmds = sent(fake, {"XGROUP"});
        CPPUNIT_ASSERT_EQUAL(std::size_t(6), cmds.size());
        // The applied hash of this time slot (the slot may turn between the two clock reads).
        const std::string hash = cmds[4].at(1);
        CPPUNIT_ASSERT(hash == dora::queue::statusHashKey("st", 'a', before, 3600) ||
                       hash == dora::queue::statusHashKey("st", 'a', after, 3600));
        ASSERT_SENT((std::vector<Argv>{{"XADD", "dead", "*", "entry", "9-0", "reason",
                                        "handler failed 5 times", "type", "2", "guid", "g9",
                                        "calls", "C9", "origin", "3-0"},
                                       {"XACK", "st", "g", "8-0", "9-0"},
                                       {"XDEL", "st", "8-0", "9-0"},
                                       {"SET", "st:status:g9", "{dead}", "EX", "3600"},
                                       {"HSET", hash, "g8", "{applied}"},
                                       {"EXPIRE", hash, dora::queue::statusHashTtl(3600), "NX"}}),
                    cmds);
    }

    /// A refused command fails the settle (the entries are replayed and
    /// skipped as duplicates), and every reply is still read: the next
    /// command gets its own reply, not a stale one.
    void testSettleRefusedIsFalseAndTheConnectionStaysInStep() {
        Script script;
        script.on("XGROUP", resp::status("OK"))
            .on("XACK", resp::error("ERR refused"))
            .on("XACK", resp::integer(1))
            // Read by the next settle only if this one stopped at the first error.
            .on("XDEL", resp::error("ERR stale"))
            .on("XDEL", resp::integer(1))
            .on("SET", resp::status("OK"));
        FakeRedis fake(script.fn());
        StreamConsumer c(redisAt(fake), settings());
        CPPUNIT_ASSERT(c.setup());
        CPPUNIT_ASSERT(!c.settle({}, {"1-0"}, {{"k", "v"}}));
        CPPUNIT_ASSERT(c.connected());
        CPPUNIT_ASSERT(c.settle({}, {"1-0"}));
        CPPUNIT_ASSERT_EQUAL(std::size_t(6), fake.received().size());
    }

    void testDepthFromRedisOwnClock() {
        Script script;
        script.on("XLEN", resp::integer(7))
            .on("XLEN", resp::integer(3))
            .on("XPENDING", resp::array({resp::integer(2), resp::bulk("1000-0"),
                                         resp::bulk("1500-0"), resp::nilArray()}))
            .on("TIME", resp::array({resp::bulk("2"), resp::bulk("500000")}));
        FakeRedis fake(script.fn());
        StreamConsumer c(redisAt(fake), settings());
        auto d = c.depth(); // no setup(): a connection of its own
        CPPUNIT_ASSERT_EQUAL(std::int64_t(7), d["stream_length"]);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2), d["pending"]);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1500),
                             d["oldest_pending_age_ms"]); // 2.5 s on Redis' clock - 1.0 s
        CPPUNIT_ASSERT_EQUAL(std::int64_t(3), d["dead_letters"]);
        ASSERT_SENT((std::vector<Argv>{
                        {"XLEN", "st"}, {"XPENDING", "st", "g"}, {"TIME"}, {"XLEN", "dead"}}),
                    sent(fake));
        // Nothing listening: every figure says "unreachable".
        dora::pools::RedisSettings none;
        none.socket = fake.socketPath() + ".absent";
        auto u = StreamConsumer(none, settings()).depth();
        for (const auto& [k, v] : u)
            CPPUNIT_ASSERT_EQUAL(std::int64_t(-1), v);
    }
};

class DeadLettersTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(DeadLettersTest);
    CPPUNIT_TEST(testValidIds);
    CPPUNIT_TEST(testListSummarisesOldestFirst);
    CPPUNIT_TEST(testRedriveKeepsTheOriginAndMarksTheStatusQueued);
    CPPUNIT_TEST(testRedriveThatDidNotExecThrows);
    CPPUNIT_TEST(testPurge);
    CPPUNIT_TEST_SUITE_END();

public:
    void testValidIds() {
        for (const char* ok : {"all", "1-0", "1700000000000-12"})
            CPPUNIT_ASSERT_MESSAGE(ok, DeadLetters::validId(ok));
        for (const char* bad : {"", "-", "1-", "-1", "1", "1-a", "a-1", "1-0-0", "1-0 ", "*"})
            CPPUNIT_ASSERT_MESSAGE(bad, !DeadLetters::validId(bad));
        CPPUNIT_ASSERT(
            !DeadLetters::validId(std::string(40, '1') + "-1")); // longer than any stream id
    }

    void testListSummarisesOldestFirst() {
        Script script;
        script.on("XLEN", resp::integer(5))
            .on("XRANGE", resp::array({entry("2-0", {"entry", "1-0", "reason", "poison", "type",
                                                     "2", "guid", "ga", "calls", "not decodable"}),
                                       entry("4-0", {"entry", "3-0", "origin", "0-1", "reason", "r",
                                                     "guid", "gb"})}));
        FakeRedis fake(script.fn());
        auto v = DeadLetters(redisAt(fake), settings()).list(2);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(5), v.find("dead_letters")->asInt());
        const auto* letters = v.find("letters");
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), letters->asArray().size());
        const auto& first = *letters->find(0);
        CPPUNIT_ASSERT_EQUAL(std::string("2-0"), first.find("id")->asString());
        CPPUNIT_ASSERT_EQUAL(std::string("1-0"),
                             first.find("origin")->asString()); // no origin: its entry
        CPPUNIT_ASSERT_EQUAL(std::string("poison"), first.find("reason")->asString());
        CPPUNIT_ASSERT(first.find("apis")->asArray().size() ==
                       0); // undecodable calls: no apis, no throw
        CPPUNIT_ASSERT_EQUAL(std::string("0-1"), letters->find(1)->find("origin")->asString());
        ASSERT_SENT(
            (std::vector<Argv>{{"XLEN", "dead"}, {"XRANGE", "dead", "-", "+", "COUNT", "2"}}),
            sent(fake));
    }

    /// The letter goes back with its first entry id as origin (so calls
    /// applied before it died stay skipped), in one MULTI with its XDEL;
    /// its status says queued first, then gets the new entry id only if no
    /// outcome was recorded meanwhile (EVAL compare-and-set).
    void testRedriveKeepsTheOriginAndMarksTheStatusQueued() {
        Script script;
        script
            .on("XRANGE", resp::array({entry("4-0", {"entry", "3-0", "origin", "1-0", "type", "2",
                                                     "guid", "gb", "calls", "C"})}))
            .on("SET", resp::status("OK"))
            .on("MULTI", resp::status("OK"))
            .on("XADD", resp::status("QUEUED"))
            .on("XDEL", resp::status("QUEUED"))
            .on("EXEC", resp::array({resp::bulk("10-0"), resp::integer(1)}))
            .on("EVAL", resp::status("OK"));
        FakeRedis fake(script.fn());
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), DeadLetters(redisAt(fake), settings()).redrive("4-0"));
        auto cmds = sent(fake);
        CPPUNIT_ASSERT_EQUAL(std::size_t(7), cmds.size());
        CPPUNIT_ASSERT((cmds[0] == Argv{"XRANGE", "dead", "4-0", "4-0"}));
        CPPUNIT_ASSERT_EQUAL(std::string("SET"), cmds[1][0]);
        CPPUNIT_ASSERT_EQUAL(std::string("st:status:gb"), cmds[1][1]);
        CPPUNIT_ASSERT(cmds[1][2].find("\"state\":\"queued\"") != std::string::npos);
        CPPUNIT_ASSERT(cmds[1][2].find("\"redriven_from\":\"4-0\"") != std::string::npos);
        CPPUNIT_ASSERT((Argv(cmds[1].begin() + 3, cmds[1].end()) == Argv{"EX", "3600"}));
        CPPUNIT_ASSERT((cmds[2] == Argv{"MULTI"}));
        CPPUNIT_ASSERT((cmds[3] == Argv{"XADD", "st", "*", "type", "2", "guid", "gb", "calls", "C",
                                        "origin", "1-0"}));
        CPPUNIT_ASSERT((cmds[4] == Argv{"XDEL", "dead", "4-0"}));
        CPPUNIT_ASSERT((cmds[5] == Argv{"EXEC"}));
        CPPUNIT_ASSERT_EQUAL(std::string("EVAL"), cmds[6][0]);
        CPPUNIT_ASSERT_EQUAL(std::string("st:status:gb"), cmds[6][3]);
        CPPUNIT_ASSERT_EQUAL(cmds[1][2], cmds[6][4]); // only if it still says what we wrote
        CPPUNIT_ASSERT(cmds[6][5].find("\"entry\":\"10-0\"") != std::string::npos);
    }

    void testRedriveThatDidNotExecThrows() {
        Script script;
        script.on("XRANGE", resp::array({entry("4-0", {"entry", "3-0", "calls", "C"})}))
            .on("MULTI", resp::status("OK"))
            .on("XADD", resp::status("QUEUED"))
            .on("XDEL", resp::status("QUEUED"))
            .on("EXEC", resp::nilArray()); // aborted
        FakeRedis fake(script.fn());
        CPPUNIT_ASSERT_THROW(DeadLetters(redisAt(fake), settings()).redrive("4-0"),
                             std::runtime_error);
        // No guid: no status record to write.
        CPPUNIT_ASSERT_EQUAL(std::string("MULTI"), sent(fake).at(1).at(0));
    }

    void testPurge() {
        Script script;
        script.on("XLEN", resp::integer(4))
            .on("XTRIM", resp::integer(4))
            .on("XDEL", resp::integer(0));
        FakeRedis fake(script.fn());
        DeadLetters d(redisAt(fake), settings());
        CPPUNIT_ASSERT_EQUAL(std::size_t(4), d.purge("all"));
        CPPUNIT_ASSERT_EQUAL(std::size_t(0), d.purge("4-0"));
        ASSERT_SENT((std::vector<Argv>{{"XLEN", "dead"},
                                       {"XTRIM", "dead", "MAXLEN", "0"},
                                       {"XDEL", "dead", "4-0"}}),
                    sent(fake));
    }
};

class TaskStatusReadTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(TaskStatusReadTest);
    CPPUNIT_TEST(testKeysAndSlots);
    CPPUNIT_TEST(testAppliedRecordIsCompactAndReadsBack);
    CPPUNIT_TEST(testNewestOutcomeWins);
    CPPUNIT_TEST(testNoRecordFindsTheEntryRunning);
    CPPUNIT_TEST(testNoRecordNoEntryIsNull);
    CPPUNIT_TEST_SUITE_END();

public:
    void testKeysAndSlots() {
        CPPUNIT_ASSERT_EQUAL(std::string("st:status:abc"), dora::queue::statusKey("st", "abc"));
        CPPUNIT_ASSERT_EQUAL(10, dora::queue::statusSlotSec(60)); // at least 10 s
        CPPUNIT_ASSERT_EQUAL(10, dora::queue::statusSlotSec(3600));
        CPPUNIT_ASSERT_EQUAL(240, dora::queue::statusSlotSec(86400)); // ~360 slots per ttl
        CPPUNIT_ASSERT_EQUAL(std::string("st:status:a:123"),
                             dora::queue::statusHashKey("st", 'a', 1239, 3600));
        CPPUNIT_ASSERT_EQUAL(std::string("3610"), dora::queue::statusHashTtl(3600));
    }

    void testAppliedRecordIsCompactAndReadsBack() {
        const std::string rec = dora::queue::appliedRecord(
            "5-0/2", "h1", 1700, 2, {{"0", "add", "OK", 0}, {"k", "x", "say \"no\"", 7}, {"a:b", "y", "", 0}});
        CPPUNIT_ASSERT_EQUAL(std::string("~5:5-0/22:h14:17001:2"
                                         "1:03:add1:00:"
                                         "1:k1:x1:78:say \"no\""
                                         "3:a:b1:y1:00:"),
                             rec);
        // Read back: the fields the status answer shows, "OK" for an empty message.
        using dora::sdk::Value;
        const Value v = dora::queue::appliedStatus(rec);
        CPPUNIT_ASSERT_EQUAL(std::string("applied"), v.find("state")->asString());
        CPPUNIT_ASSERT_EQUAL(std::string("5-0/2"), v.find("entry")->asString());
        CPPUNIT_ASSERT_EQUAL(std::string("h1"), v.find("node")->asString());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1700), v.find("at")->asInt());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2), v.find("attempts")->asInt());
        const Value& calls = *v.find("calls");
        CPPUNIT_ASSERT_EQUAL(std::size_t(3), calls.asArray().size());
        const Value& c1 = *calls.find(dora::sdk::Key(1));
        CPPUNIT_ASSERT_EQUAL(std::string("k"), c1.find("key")->asString());
        CPPUNIT_ASSERT_EQUAL(std::string("x"), c1.find("api")->asString());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(7), c1.find("code")->asInt());
        CPPUNIT_ASSERT_EQUAL(std::string("say \"no\""), c1.find("msg")->asString());
        CPPUNIT_ASSERT_EQUAL(std::string("OK"), calls.find(dora::sdk::Key(0))->find("msg")->asString());
        CPPUNIT_ASSERT_EQUAL(std::string("a:b"), calls.find(dora::sdk::Key(2))->find("key")->asString());
        // A JSON record (what earlier hosts wrote) reads as it is.
        const Value j = dora::queue::appliedStatus(
            R"({"state":"applied","entry":"5-0","node":"h1","at":1700,"attempts":2,"calls":[]})");
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1700), j.find("at")->asInt());
        // A cut or garbled one is an error, not a half answer.
        CPPUNIT_ASSERT_THROW(dora::queue::appliedStatus(rec.substr(0, rec.size() - 3)), std::runtime_error);
        CPPUNIT_ASSERT_THROW(dora::queue::appliedStatus("~5:5-0/22:h14:17x01:2"), std::runtime_error);
    }

    /// A retrying record and an applied one: the later outcome is the answer.
    void testNewestOutcomeWins() {
        Script script;
        script.on("GET", resp::bulk(R"({"state":"retrying","entry":"5-0","at":1000,"attempts":2})"))
            .on("HGET", resp::nil())
            .on("HGET",
                resp::bulk(
                    R"({"state":"applied","entry":"5-0","at":2000,"attempts":3,"calls":[]})"))
            .on("HGET", resp::nil());
        FakeRedis fake(script.fn());
        auto v = dora::queue::readTaskStatus(redisAt(fake), settings(), "g5");
        CPPUNIT_ASSERT_EQUAL(std::string("applied"), v.find("state")->asString());
        CPPUNIT_ASSERT_EQUAL(std::string("g5"), v.find("guid")->asString());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(3), v.find("attempts")->asInt());
        auto cmds = sent(fake);
        CPPUNIT_ASSERT((cmds.at(0) == Argv{"GET", "st:status:g5"}));
        // Then one HGET per slot a live applied record can be in: ttl and 3 slots more.
        const int slots = (3600 + 3 * 10) / 10 + 1;
        CPPUNIT_ASSERT_EQUAL(std::size_t(1 + slots), cmds.size());
        const std::string now =
            dora::queue::statusHashKey("st", 'a', dora::queue::unixMs() / 1000, 3600);
        bool probedNow = false;
        for (std::size_t i = 1; i < cmds.size(); ++i) {
            CPPUNIT_ASSERT_EQUAL(std::string("HGET"), cmds[i][0]);
            CPPUNIT_ASSERT_EQUAL(std::string("g5"), cmds[i][2]);
            probedNow = probedNow || cmds[i][1] == now;
        }
        CPPUNIT_ASSERT(probedNow);
        // Only the retrying record: that is the answer.
        Script older;
        older.on("GET", resp::bulk(R"({"state":"retrying","entry":"5-0","at":1000,"attempts":2})"))
            .on("HGET", resp::nil());
        FakeRedis fake2(older.fn());
        auto r = dora::queue::readTaskStatus(redisAt(fake2), settings(), "g5");
        CPPUNIT_ASSERT_EQUAL(std::string("retrying"), r.find("state")->asString());
    }

    /// Queued is not written: found in the stream, and running when it is
    /// in the group's pending list.
    void testNoRecordFindsTheEntryRunning() {
        Script script;
        script.on("GET", resp::nil())
            .on("HGET", resp::nil())
            .on("XRANGE", resp::array({entry("5-0", {"guid", "other"}),
                                       entry("1700000000000-3", {"guid", "g7"})}))
            .on("XPENDING",
                resp::array({resp::array({resp::bulk("1700000000000-3"), resp::bulk("h2"),
                                          resp::integer(42), resp::integer(2)})}));
        FakeRedis fake(script.fn());
        auto v = dora::queue::readTaskStatus(redisAt(fake), settings(), "g7");
        CPPUNIT_ASSERT_EQUAL(std::string("running"), v.find("state")->asString());
        CPPUNIT_ASSERT_EQUAL(std::string("1700000000000-3"), v.find("entry")->asString());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1700000000000), v.find("stored_at")->asInt());
        CPPUNIT_ASSERT_EQUAL(std::string("h2"), v.find("node")->asString());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(2), v.find("deliveries")->asInt());
        ASSERT_SENT(
            (std::vector<Argv>{{"XRANGE", "st", "-", "+", "COUNT", "1000"},
                               {"XPENDING", "st", "g", "1700000000000-3", "1700000000000-3", "1"}}),
            sent(fake, {"GET", "HGET"}));
    }

    void testNoRecordNoEntryIsNull() {
        Script script;
        script.on("GET", resp::nil()).on("HGET", resp::nil()).on("XRANGE", resp::array({}));
        FakeRedis fake(script.fn());
        CPPUNIT_ASSERT(dora::queue::readTaskStatus(redisAt(fake), settings(), "gx").isNull());
        // Redis refusing is an error, not "no such task".
        Script refusing;
        refusing.on("GET", resp::error("NOPERM")).on("HGET", resp::nil());
        FakeRedis fake2(refusing.fn());
        CPPUNIT_ASSERT_THROW(dora::queue::readTaskStatus(redisAt(fake2), settings(), "gx"),
                             std::runtime_error);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(StreamConsumerTest);
CPPUNIT_TEST_SUITE_REGISTRATION(DeadLettersTest);
CPPUNIT_TEST_SUITE_REGISTRATION(TaskStatusReadTest);
