// tests/dispatch/ControlCommandsTest.cpp — dispatch::ControlCommands on its
// own, with hooks of the test's: getStat, unknown commands, the control
// token (param or bearer), reloads that coalesce, the bound on waiting
// commands, and commands that throw. Waits are bounded; no durations.
#include "dispatch/ControlCommands.h"
#include "protocol/Codes.h"

#include <dora/sdk/serialize.h>

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using dora::dispatch::ControlAnswer;
using dora::dispatch::ControlCommands;
using dora::dispatch::ControlHooks;
using dora::dispatch::ControlRequest;
using dora::sdk::Value;
namespace code = dora::protocol::code;

namespace {

bool waitUntil(const std::function<bool()>& cond, int ms = 20000) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!cond()) {
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
}

/// A reload hook that can be held while it runs.
struct HeldReload {
    std::mutex m;
    std::condition_variable cv;
    bool open = true;
    std::atomic<int> runs{0};

    std::pair<int, std::string> operator()() {
        int n = ++runs;
        std::unique_lock<std::mutex> lock(m);
        cv.wait(lock, [this] { return open; });
        return {0, "reload " + std::to_string(n)};
    }
    void hold() {
        std::lock_guard<std::mutex> lock(m);
        open = false;
    }
    void release() {
        std::lock_guard<std::mutex> lock(m);
        open = true;
        cv.notify_all();
    }
};

/// Releases a held reload when the test leaves, so a failed assertion does
/// not leave the control thread held (and its destructor waiting on it).
/// Declare it after the commands object: it must run first.
struct ReleaseOnExit {
    HeldReload& reload;
    ~ReleaseOnExit() { reload.release(); }
};

/// Answers collected from done callbacks (called on the control thread).
struct Answers {
    std::mutex m;
    std::vector<ControlAnswer> got;
    ControlCommands::Done done() {
        return [this](ControlAnswer a) {
            std::lock_guard<std::mutex> lock(m);
            got.push_back(std::move(a));
        };
    }
    std::size_t size() {
        std::lock_guard<std::mutex> lock(m);
        return got.size();
    }
};

ControlRequest command(std::string name, std::string params = {}, std::string bearer = {}) {
    return ControlRequest{std::move(name), std::move(params), std::move(bearer), "127.0.0.1:1"};
}

std::string tokenParam(const std::string& token) {
    Value v = Value::array();
    v.set("token", token);
    return dora::sdk::serialize(v);
}

} // namespace

class ControlCommandsTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ControlCommandsTest);
    CPPUNIT_TEST(testGetStatAndUnknownCommand);
    CPPUNIT_TEST(testTokenByParamOrBearer);
    CPPUNIT_TEST(testReloadsWaitingTogetherShareOneReload);
    CPPUNIT_TEST(testTooManyWaitingIsBusy);
    CPPUNIT_TEST(testCommandsGetTheirParamAndThrowingFails);
    CPPUNIT_TEST(testDestructorAnswersWhatWaits);
    CPPUNIT_TEST_SUITE_END();

public:
    void testGetStatAndUnknownCommand() {
        ControlHooks hooks;
        std::thread::id statThread;
        hooks.stats = [&] {
            statThread = std::this_thread::get_id();
            Value v = Value::array();
            v.set("answer", 42);
            return v;
        };
        ControlCommands cc(hooks);
        CPPUNIT_ASSERT(!cc.tokenRequired());
        ControlAnswer a = cc.execute(command("getStat"));
        CPPUNIT_ASSERT_EQUAL(int(code::kOk), a.code);
        const Value* server = a.data.find("server");
        CPPUNIT_ASSERT(server && server->isArray());
        CPPUNIT_ASSERT(server->find("answer") && server->find("answer")->asInt() == 42);
        CPPUNIT_ASSERT(statThread != std::this_thread::get_id()); // the control thread's own
        ControlAnswer u = cc.execute(command("noSuchCommand"));
        CPPUNIT_ASSERT_EQUAL(int(code::kUnknownCommand), u.code);
        // reloadTask without a reload hook is not a command either.
        CPPUNIT_ASSERT_EQUAL(int(code::kUnknownCommand), cc.execute(command("reloadTask")).code);
    }

    void testTokenByParamOrBearer() {
        ControlHooks hooks;
        std::atomic<int> statCalls{0};
        hooks.stats = [&] {
            ++statCalls;
            return Value::array();
        };
        ControlCommands cc(hooks, "s3cret");
        CPPUNIT_ASSERT(cc.tokenRequired());
        CPPUNIT_ASSERT(cc.authorized("s3cret"));
        CPPUNIT_ASSERT(!cc.authorized("s3cre"));
        CPPUNIT_ASSERT(!cc.authorized("s3cret!"));
        CPPUNIT_ASSERT(!cc.authorized("S3cret"));
        CPPUNIT_ASSERT(!cc.authorized(""));
        CPPUNIT_ASSERT_EQUAL(int(code::kUnauthorized), cc.execute(command("getStat")).code);
        CPPUNIT_ASSERT_EQUAL(int(code::kUnauthorized),
                             cc.execute(command("getStat", tokenParam("wrong"))).code);
        CPPUNIT_ASSERT_EQUAL(int(code::kUnauthorized),
                             cc.execute(command("getStat", "not php")).code);
        // Even an unknown command is refused first: nothing is told without the token.
        CPPUNIT_ASSERT_EQUAL(int(code::kUnauthorized), cc.execute(command("noSuchCommand")).code);
        CPPUNIT_ASSERT_EQUAL(0, statCalls.load());
        CPPUNIT_ASSERT_EQUAL(int(code::kOk),
                             cc.execute(command("getStat", tokenParam("s3cret"))).code);
        CPPUNIT_ASSERT_EQUAL(int(code::kOk), cc.execute(command("getStat", {}, "s3cret")).code);
        CPPUNIT_ASSERT_EQUAL(2, statCalls.load());
    }

    /// While one reload runs, three more are asked for: they are answered
    /// together by one more reload (it reads the plugins after they asked),
    /// not by three.
    void testReloadsWaitingTogetherShareOneReload() {
        HeldReload reload;
        reload.hold();
        ControlHooks hooks;
        hooks.reload = [&] { return reload(); };
        ControlCommands cc(hooks);
        ReleaseOnExit guard{reload};
        Answers answers;
        cc.submit(command("reloadTask"), answers.done());
        CPPUNIT_ASSERT(waitUntil([&] { return reload.runs.load() == 1; }));
        for (int i = 0; i < 3; ++i)
            cc.submit(command("reloadTask"), answers.done());
        reload.release();
        CPPUNIT_ASSERT(waitUntil([&] { return answers.size() == 4; }));
        CPPUNIT_ASSERT_EQUAL(2, reload.runs.load());
        std::lock_guard<std::mutex> lock(answers.m);
        for (const auto& a : answers.got)
            CPPUNIT_ASSERT_EQUAL(0, a.code);
        CPPUNIT_ASSERT_EQUAL(std::string("reload 1"),
                             answers.got[0].data.find("reload")->asString());
        for (int i = 1; i < 4; ++i)
            CPPUNIT_ASSERT_EQUAL(std::string("reload 2"),
                                 answers.got[i].data.find("reload")->asString());
    }

    void testTooManyWaitingIsBusy() {
        HeldReload reload;
        reload.hold();
        ControlHooks hooks;
        hooks.reload = [&] { return reload(); };
        hooks.stats = [] { return Value::array(); };
        ControlCommands cc(hooks, {}, 1);
        ReleaseOnExit guard{reload};
        Answers answers;
        cc.submit(command("reloadTask"), answers.done()); // taken: the thread is held in it
        CPPUNIT_ASSERT(waitUntil([&] { return reload.runs.load() == 1; }));
        cc.submit(command("getStat"), answers.done()); // waits: the one place
        cc.submit(command("getStat"), answers.done()); // no place: refused now, on this thread
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), answers.size());
        {
            std::lock_guard<std::mutex> lock(answers.m);
            CPPUNIT_ASSERT_EQUAL(int(code::kBusy), answers.got[0].code);
        }
        reload.release();
        CPPUNIT_ASSERT(waitUntil([&] { return answers.size() == 3; }));
        std::lock_guard<std::mutex> lock(answers.m);
        CPPUNIT_ASSERT_EQUAL(0, answers.got[1].code);
        CPPUNIT_ASSERT_EQUAL(0, answers.got[2].code);
    }

    void testCommandsGetTheirParamAndThrowingFails() {
        ControlHooks hooks;
        hooks.commands["double"] = [](const Value& param) {
            Value data = Value::array();
            data.set("twice", param.asInt() * 2);
            return ControlAnswer{0, "OK", data};
        };
        hooks.commands["broken"] = [](const Value&) -> ControlAnswer {
            throw std::runtime_error("it broke");
        };
        ControlCommands cc(hooks);
        ControlAnswer a = cc.execute(command("double", dora::sdk::serialize(Value(21))));
        CPPUNIT_ASSERT_EQUAL(0, a.code);
        CPPUNIT_ASSERT_EQUAL(std::int64_t(42), a.data.find("twice")->asInt());
        ControlAnswer b = cc.execute(command("broken"));
        CPPUNIT_ASSERT_EQUAL(int(code::kHandlerFailed), b.code);
        CPPUNIT_ASSERT(b.msg.find("it broke") != std::string::npos);
    }

    /// Commands still waiting when the commands object goes are answered
    /// (run), not dropped.
    void testDestructorAnswersWhatWaits() {
        HeldReload reload;
        reload.hold();
        Answers answers;
        std::atomic<int> statCalls{0};
        {
            ControlHooks hooks;
            hooks.reload = [&] { return reload(); };
            hooks.stats = [&] {
                ++statCalls;
                return Value::array();
            };
            ControlCommands cc(hooks);
            ReleaseOnExit guard{reload};
            cc.submit(command("reloadTask"), answers.done());
            CPPUNIT_ASSERT(waitUntil([&] { return reload.runs.load() == 1; }));
            for (int i = 0; i < 3; ++i)
                cc.submit(command("getStat"), answers.done());
            // The guard releases the reload as the block ends, just before the
            // destructor runs: the three getStat most likely still wait then.
        }
        CPPUNIT_ASSERT_EQUAL(std::size_t(4), answers.size());
        CPPUNIT_ASSERT_EQUAL(3, statCalls.load());
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ControlCommandsTest);
