// Reload: under load it drops no call and the old version stops answering
// once the reload that brought the new one returned; a reload that fails
// changes nothing and says why; the ABI 1.1 call_task_id reaches handlers.
#include "lifecycle/LifecycleSupport.h"

#include <dora/sdk/serialize.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <functional>
#include <iostream>
#include <mutex>
#include <regex>
#include <thread>
#include <vector>

using dora::sdk::Value;
using namespace dora::test;
using namespace dora::test::lifecycle;

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t nowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
        .count();
}

std::string versionOf(const Answer& a) {
    const Value* v = a.data.find("version");
    return v && v->isString() ? v->asString() : "";
}

/// reloadTask: the answer's code and message.
Answer reloadTask(WireClient& c) {
    Value a = control(c, "reloadTask");
    Answer out;
    out.code = a.find("code")->asInt();
    if (const Value* m = a.find("msg"); m && m->isString()) out.msg = m->asString();
    if (const Value* d = a.find("data")) out.data = *d;
    return out;
}

/// One call of the load loop.
struct Sample {
    std::int64_t sentNs = 0, doneNs = 0;
    char version = '?'; ///< '1', '2', or 'x' for a failed call
};

} // namespace

class ReloadTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ReloadTest);
    CPPUNIT_TEST(testReloadUnderLoad);
    CPPUNIT_TEST(testCallStraddlingSwapFinishesOnOldVersion);
    CPPUNIT_TEST(testFailedReloadChangesNothing);
    CPPUNIT_TEST(testTaskIdReachesHandlers);
    CPPUNIT_TEST_SUITE_END();

public:
    /// 10,000 sync calls from 4 connections while libversioned.so is
    /// swapped v1 -> v2 (SIGHUP) -> v1 (SC reloadTask) and SIGHUP comes
    /// five times in all.
    void testReloadUnderLoad() {
        constexpr int kCalls = 10000;
        constexpr int kClients = 4;
        Stage s;
        const std::string live = s.pluginPath("libversioned.so");
        copyFile(fixtureLibrary("versioned_v1"), live);
        s.addRoutes("versioned");
        HostProcess host(s.hostOptions());
        WireClient ctl(host.port());
        std::int64_t reloads = reloadCount(serverStats(ctl));

        std::vector<Sample> samples(kCalls);
        std::atomic<int> next{0}, done{0}, failed{0};
        std::mutex errMutex;
        std::string firstError;
        auto client = [&](int id) {
            try {
                WireClient c(host.port());
                for (;;) {
                    int i = next.fetch_add(1);
                    if (i >= kCalls) break;
                    Sample& sm = samples[static_cast<std::size_t>(i)];
                    // Every 50th call takes 20 ms: calls are in flight across each swap.
                    Value p = Value::array().set("ms", i % 50 == id ? 20 : 0);
                    sm.sentNs = nowNs();
                    Answer a = call(c, "version_probe", p);
                    sm.doneNs = nowNs();
                    std::string v = versionOf(a);
                    sm.version = a.code == 0 && (v == "v1" || v == "v2") ? v[1] : 'x';
                    if (sm.version == 'x') {
                        ++failed;
                        std::lock_guard<std::mutex> lock(errMutex);
                        if (firstError.empty())
                            firstError = "call " + std::to_string(i) + ": code " +
                                         std::to_string(a.code) + " " + a.msg;
                    }
                    ++done;
                }
            } catch (const std::exception& e) {
                ++failed;
                std::lock_guard<std::mutex> lock(errMutex);
                if (firstError.empty()) firstError = std::string("client: ") + e.what();
                next = kCalls; // stop the others too
            }
        };
        std::vector<std::thread> clients;
        auto start = Clock::now();
        for (int i = 0; i < kClients; ++i)
            clients.emplace_back(client, i);

        auto waitCalls = [&](int n) {
            while (done < n && failed == 0)
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
        };
        int sighups = 0, reloadTasks = 0;
        auto sighup = [&] {
            host.signal(SIGHUP);
            ++sighups;
            return waitForReloads(ctl, ++reloads);
        };
        std::int64_t swap1Done = 0, swap2Begin = 0, swap2Done = 0;
        int atSwap1 = 0, atSwap2 = 0;
        try {
            waitCalls(1000);
            sighup(); // unchanged file: v1 reloaded over v1
            waitCalls(2000);
            replaceAtomically(fixtureLibrary("versioned_v2"), live);
            atSwap1 = done;
            Value st = sighup();
            CPPUNIT_ASSERT_EQUAL_MESSAGE(pluginErrors(st), std::string("v2"),
                                         pluginVersion(st, "versioned"));
            swap1Done = nowNs(); // getStat showed v2: the reload that loaded it returned
            waitCalls(3500);
            sighup();
            waitCalls(4500);
            sighup();
            waitCalls(5500);
            swap2Begin = nowNs();
            replaceAtomically(fixtureLibrary("versioned_v1"), live);
            atSwap2 = done;
            Answer r = reloadTask(ctl);
            ++reloadTasks;
            ++reloads;
            CPPUNIT_ASSERT_EQUAL_MESSAGE(r.msg, std::int64_t(0), r.code);
            swap2Done = nowNs(); // the reload answered: v1 serves from here
            CPPUNIT_ASSERT_EQUAL(std::string("v1"), pluginVersion(serverStats(ctl), "versioned"));
            waitCalls(7000);
            sighup();
            waitCalls(8500);
            sighup();
        } catch (...) {
            next = kCalls;
            for (auto& t : clients)
                t.join();
            throw;
        }
        for (auto& t : clients)
            t.join();
        double secs = std::chrono::duration<double>(Clock::now() - start).count();

        // Which version answered, by when the call was sent and answered.
        int v1 = 0, v2 = 0, checkedV2 = 0, checkedV1 = 0, staleAfterSwap = 0;
        for (const Sample& sm : samples) {
            if (sm.version == '1') ++v1;
            if (sm.version == '2') ++v2;
            if (sm.sentNs > swap1Done && sm.doneNs < swap2Begin) {
                ++checkedV2;
                if (sm.version != '2') ++staleAfterSwap;
            }
            if (sm.sentNs > swap2Done) {
                ++checkedV1;
                if (sm.version != '1') ++staleAfterSwap;
            }
        }
        Value st = serverStats(ctl);
        std::cout << "\n  reload under load: " << done.load() << " calls (" << kClients
                  << " connections, " << static_cast<int>(done / secs) << "/s), " << failed.load()
                  << " failed, " << sighups + reloadTasks << " reloads (" << sighups << " SIGHUP, "
                  << reloadTasks << " SC reloadTask), answered by v1: " << v1 << ", v2: " << v2
                  << "; swaps at calls " << atSwap1 << " and " << atSwap2
                  << "; after a swap completed, " << checkedV2 + checkedV1 << " calls checked, "
                  << staleAfterSwap << " answered by the old version\n";
        CPPUNIT_ASSERT_EQUAL_MESSAGE(firstError, 0, failed.load());
        CPPUNIT_ASSERT_EQUAL(kCalls, done.load());
        CPPUNIT_ASSERT(v1 > 0 && v2 > 0);
        CPPUNIT_ASSERT_MESSAGE("too few calls between the swaps to check",
                               checkedV2 > 100 && checkedV1 > 100);
        CPPUNIT_ASSERT_EQUAL(0, staleAfterSwap);
        CPPUNIT_ASSERT_EQUAL(reloads, reloadCount(st));
        CPPUNIT_ASSERT_EQUAL(std::string(""), pluginErrors(st));
        CPPUNIT_ASSERT_EQUAL(std::string("versioned=v1"), pluginList(st));

        // Every replaced copy was shut down and closed once its last call
        // returned: one unload per reload; the serving copy stays.
        auto unloads = [&] {
            std::string log = host.log();
            int n = 0;
            for (std::size_t at = 0;
                 (at = log.find("unloaded plugin versioned", at)) != std::string::npos; ++at)
                ++n;
            return n;
        };
        waitUntil([&] { return unloads() >= sighups + reloadTasks; });
        CPPUNIT_ASSERT_EQUAL(sighups + reloadTasks, unloads());
        CPPUNIT_ASSERT(host.running());
    }

    /// A call in its handler while libversioned.so is swapped v1 -> v2 and
    /// reloaded: the reload answers at once, new calls get v2, the held call
    /// finishes in v1, and the v1 copy is unloaded only after it returned.
    void testCallStraddlingSwapFinishesOnOldVersion() {
        Stage s;
        const std::string live = s.pluginPath("libversioned.so");
        copyFile(fixtureLibrary("versioned_v1"), live);
        s.addRoutes("versioned");
        HostProcess host(s.hostOptions());
        WireClient held(host.port()), c(host.port()), ctl(host.port());
        Gate gate(host.dir());
        held.sendRaw(v1Frame(v1Request(
            newGuid(), "SSS",
            oneCall("version_probe", Value::array().set("until_file", gate.path())))));
        CPPUNIT_ASSERT(gate.waitEntered()); // in its handler, in v1

        replaceAtomically(fixtureLibrary("versioned_v2"), live);
        Answer r = reloadTask(ctl);
        CPPUNIT_ASSERT_EQUAL_MESSAGE(r.msg, std::int64_t(0), r.code);
        CPPUNIT_ASSERT_EQUAL(std::string("v2"), versionOf(call(c, "version_probe")));
        Value st = serverStats(ctl);
        CPPUNIT_ASSERT_EQUAL(std::string("versioned=v2"), pluginList(st));
        CPPUNIT_ASSERT_MESSAGE("the held call was answered before its gate opened",
                               !held.readable());
        CPPUNIT_ASSERT_MESSAGE(host.log(), !contains(host.log(), "unloaded plugin versioned"));

        gate.open();
        Value a = dora::sdk::unserialize(held.readFrame());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(dora::sdk::serialize(a), std::int64_t(0),
                                     a.find("code")->asInt());
        CPPUNIT_ASSERT_EQUAL(std::string("v1"), a.find("data")->find("version")->asString());
        CPPUNIT_ASSERT_MESSAGE(host.log(), waitUntil([&] {
                                   return contains(host.log(), "unloaded plugin versioned");
                               }));
        CPPUNIT_ASSERT_EQUAL(std::string("v2"), versionOf(call(c, "version_probe")));
    }

    /// Each way a reload can fail, by SC reloadTask and by SIGHUP: the
    /// answer (or getStat) says why, the previous plugins keep serving,
    /// and undoing the change reloads cleanly.
    void testFailedReloadChangesNothing() {
        Stage s;
        const std::string live = s.pluginPath("libversioned.so");
        copyFile(fixtureLibrary("versioned_v1"), live);
        s.addRoutes("versioned");
        HostProcess host(s.hostOptions());
        WireClient c(host.port());
        WireClient ctl(host.port());
        std::int64_t reloads = reloadCount(serverStats(ctl));

        auto check = [&](const std::string& what, const std::function<void()>& breakIt,
                         const std::string& reason, const std::function<void()>& undo,
                         bool bySignal) {
            breakIt();
            std::string answer;
            Value st;
            if (bySignal) {
                host.signal(SIGHUP);
                st = waitForReloads(ctl, ++reloads);
            } else {
                Answer r = reloadTask(ctl);
                ++reloads;
                CPPUNIT_ASSERT_EQUAL_MESSAGE(what + ": " + r.msg, std::int64_t(100201), r.code);
                answer = r.msg;
                CPPUNIT_ASSERT_MESSAGE(
                    what + ": " + answer,
                    answer.rfind("reload failed, previous plugins keep serving: ", 0) == 0);
                CPPUNIT_ASSERT_MESSAGE(what + ": " + answer, contains(answer, reason));
                st = serverStats(ctl);
            }
            std::cout << "\n  failed reload (" << what << (bySignal ? ", SIGHUP" : ", reloadTask")
                      << "): " << (bySignal ? pluginErrors(st) : answer);
            CPPUNIT_ASSERT_EQUAL(reloads, reloadCount(st));
            CPPUNIT_ASSERT_MESSAGE(what + ": " + pluginErrors(st),
                                   contains(pluginErrors(st), reason));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(what, std::string("versioned=v1"), pluginList(st));
            for (int i = 0; i < 3; ++i)
                CPPUNIT_ASSERT_EQUAL_MESSAGE(what, std::string("v1"),
                                             versionOf(call(c, "version_probe")));
            undo();
            Answer r = reloadTask(ctl);
            ++reloads;
            CPPUNIT_ASSERT_EQUAL_MESSAGE(what + " undone: " + r.msg, std::int64_t(0), r.code);
            st = serverStats(ctl);
            CPPUNIT_ASSERT_EQUAL_MESSAGE(what, std::string(""), pluginErrors(st));
            CPPUNIT_ASSERT_EQUAL_MESSAGE(what, std::string("versioned=v1"), pluginList(st));
        };
        for (bool bySignal : {false, true}) {
            check(
                "bad YAML", [&] { s.writeRoutes("zz_bad", "plugin: zz_bad\nlibrary: [\n"); },
                s.routesPath("zz_bad") + ":", [&] { s.removeRoutes("zz_bad"); }, bySignal);
            check(
                "missing handler", [&] { s.add("missing_handler"); }, "has no handler 'absent'",
                [&] { s.removeRoutes("missing_handler"); }, bySignal);
            check(
                "ABI mismatch (libversioned.so replaced by a build for the next major)",
                [&] { replaceAtomically(fixtureLibrary("abi_next_major"), live); },
                live + " is not binary compatible",
                [&] { replaceAtomically(fixtureLibrary("versioned_v1"), live); }, bySignal);
            check(
                "init error", [&] { s.add("init_fails"); }, "refused to start",
                [&] { s.removeRoutes("init_fails"); }, bySignal);
            check(
                "duplicate api",
                [&] {
                    s.add("dup_a");
                    s.add("dup_b");
                },
                "api 'dup_api' (sync) is already served by " + s.routesPath("dup_a"),
                [&] {
                    s.removeRoutes("dup_a");
                    s.removeRoutes("dup_b");
                },
                bySignal);
            check(
                "no entry point", [&] { s.add("no_entry"); }, "exports no 'dora_plugin_entry'",
                [&] { s.removeRoutes("no_entry"); }, bySignal);
        }
        std::cout << "\n";
        CPPUNIT_ASSERT(host.running());
    }

    /// ABI 1.1's call_task_id: an async call's handler sees its durable
    /// id, one per call of a request ("...#0", "...#1" of one entry); a
    /// sync call's sees none.
    void testTaskIdReachesHandlers() {
        Db db;
        db.exec("CREATE TABLE IF NOT EXISTS lifecycle_task_ids (tag VARCHAR(64) NOT NULL, "
                "task_id VARCHAR(128) NOT NULL)");
        db.exec("DELETE FROM lifecycle_task_ids");
        Stage s;
        s.add("task_id");
        HostProcess host(s.hostOptions());
        WireClient c(host.port());

        Answer a = call(c, "task_id_probe", Value::array().set("tag", "sync"));
        CPPUNIT_ASSERT_EQUAL_MESSAGE(a.msg, std::int64_t(0), a.code);
        CPPUNIT_ASSERT_EQUAL(std::string(""), a.data.find("task_id")->asString());

        // One async request with two calls: one stream entry, indexes 0 and 1.
        Value api = Value::array();
        for (const char* tag : {"first", "second"}) {
            Value one = Value::array();
            one.set("name", "task_id_probe");
            one.set("param", Value::array().set("tag", tag));
            api.set(tag, one);
        }
        Value r = callV1(c, "SRM", api, newGuid());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(dora::sdk::serialize(r), std::int64_t(100001),
                                     r.find("code")->asInt());
        waitUntil([&] {
            return db.scalar("SELECT COUNT(*) FROM lifecycle_task_ids WHERE tag <> 'sync'") >= 2;
        });
        auto rows = db.query(
            "SELECT tag, task_id FROM lifecycle_task_ids WHERE tag <> 'sync' ORDER BY tag");
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), rows.size());
        std::string first = rows[0].find("task_id")->asString();  // "first"
        std::string second = rows[1].find("task_id")->asString(); // "second"
        std::cout << "\n  call_task_id: " << first << ", " << second << "\n";
        // Opaque to plugins; today "<stream tag>:<entry id>#<index>".
        std::regex shape("^([0-9a-f]{8}:)?[0-9]+-[0-9]+#[0-9]+$");
        CPPUNIT_ASSERT_MESSAGE(first, std::regex_match(first, shape));
        CPPUNIT_ASSERT_MESSAGE(second, std::regex_match(second, shape));
        std::string entry = first.substr(0, first.find('#'));
        CPPUNIT_ASSERT_EQUAL(entry, second.substr(0, second.find('#')));
        std::vector<std::string> ids{first, second};
        std::sort(ids.begin(), ids.end());
        CPPUNIT_ASSERT_EQUAL(entry + "#0", ids[0]);
        CPPUNIT_ASSERT_EQUAL(entry + "#1", ids[1]);
        db.exec("DROP TABLE lifecycle_task_ids");
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ReloadTest);
