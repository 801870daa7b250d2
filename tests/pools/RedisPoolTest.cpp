// tests/pools/RedisPoolTest.cpp — the Redis side of host/pools on its own,
// against a fake Redis on a unix socket (no server): RedisConnection's
// replies and counters, RedisPool's bound (never more than `size` open,
// a waiter served by a connection given back, a broken one replaced), the
// clean errors with no Redis at all, and how a handler sees the replies
// (plugins/HostApi's conversion to PHP-serialize, run through
// plugins::invoke on a route of the test's).
#include "pools/FakeRedis.h"

#include "plugins/HostApi.h"
#include "pools/Redis.h"
#include "pools/RedisPool.h"
#include "protocol/Codes.h"

#include <cppunit/TestFixture.h>
#include <cppunit/extensions/HelperMacros.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using dora::pools::RedisConnection;
using dora::pools::RedisLease;
using dora::pools::RedisPool;
using dora::pools::RedisSettings;
using dora::test::FakeRedis;

namespace {

RedisSettings at(const std::string& socket, int timeoutMs = 20000) {
    RedisSettings s;
    s.socket = socket;
    s.connectTimeoutMs = timeoutMs;
    s.counters = std::make_shared<dora::pools::RedisCounters>();
    return s;
}

/// A socket path where nothing listens.
std::string nowhere() {
    return "/tmp/dora-pools-test-no-redis-" + std::to_string(::getpid()) + ".sock";
}

// A handler that runs the Redis command its params name and answers the
// reply bytes the host gave it (or the status and error as an error).
const dora_host_api& api() { return *dora::plugins::hostApi(); }
std::int32_t redisHandler(void*, dora_ctx* ctx, dora_call* call) {
    dora_buf reply{nullptr, 0};
    std::int32_t rc = api().redis_command(ctx, api().call_params(call), &reply);
    if (rc != DORA_OK) {
        dora_buf e = api().ctx_last_error(ctx);
        std::string msg = std::to_string(rc) + ":" + std::string(e.ptr ? e.ptr : "", e.len);
        return api().call_set_error(call, 1, dora_buf{msg.data(), msg.size()});
    }
    return api().call_set_result(call, reply);
}
std::int32_t pipelineHandler(void*, dora_ctx* ctx, dora_call* call) {
    dora_buf reply{nullptr, 0};
    std::int32_t rc = api().redis_pipeline(ctx, api().call_params(call), &reply);
    if (rc != DORA_OK) return api().call_set_error(call, 1, api().ctx_last_error(ctx));
    return api().call_set_result(call, reply);
}

const dora_plugin_info kFakeInfo = {
    sizeof(dora_plugin_info), DORA_ABI_MAJOR, DORA_ABI_MINOR, "fake", "test", nullptr, nullptr};

/// argv as a PHP list of strings.
std::string argvOf(const std::vector<std::string>& argv) {
    std::string s = "a:" + std::to_string(argv.size()) + ":{";
    for (std::size_t i = 0; i < argv.size(); ++i)
        s += "i:" + std::to_string(i) + ";s:" + std::to_string(argv[i].size()) + ":\"" + argv[i] +
             "\";";
    return s + "}";
}

} // namespace

class RedisPoolTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(RedisPoolTest);
    CPPUNIT_TEST(testRepliesOfEveryType);
    CPPUNIT_TEST(testPipelinedRepliesComeInOrder);
    CPPUNIT_TEST(testNoRedisIsACleanError);
    CPPUNIT_TEST(testPoolOfSizeZeroLendsNothing);
    CPPUNIT_TEST(testPoolNeverOpensMoreThanItsSize);
    CPPUNIT_TEST(testWaiterGetsAConnectionGivenBack);
    CPPUNIT_TEST(testBrokenConnectionIsReplaced);
    CPPUNIT_TEST(testHandlersSeeRepliesAsPhpValues);
    CPPUNIT_TEST_SUITE_END();

public:
    void testRepliesOfEveryType() {
        FakeRedis redis;
        RedisSettings s = at(redis.socketPath());
        RedisConnection c(s);
        auto pong = c.command({"PING"});
        CPPUNIT_ASSERT(pong && pong->type == REDIS_REPLY_STATUS);
        CPPUNIT_ASSERT_EQUAL(std::string("PONG"), dora::pools::replyText(pong.get()));
        std::string binary("a\0b\r\nc", 6);
        auto echo = c.command({"ECHO", binary});
        CPPUNIT_ASSERT(echo && echo->type == REDIS_REPLY_STRING);
        CPPUNIT_ASSERT_EQUAL(binary, dora::pools::replyText(echo.get())); // binary safe both ways
        CPPUNIT_ASSERT_EQUAL(std::string("7"),
                             dora::pools::replyText(c.command({"INCR", "k"}).get()));
        CPPUNIT_ASSERT_EQUAL(std::string("(nil)"),
                             dora::pools::replyText(c.command({"GET", "k"}).get()));
        auto err = c.command({"FAIL"});
        CPPUNIT_ASSERT(err && err->type == REDIS_REPLY_ERROR);
        CPPUNIT_ASSERT_EQUAL(std::string("ERR failing on purpose"),
                             dora::pools::replyText(err.get()));
        CPPUNIT_ASSERT(!c.broken()); // an error reply is not a broken connection
        CPPUNIT_ASSERT_EQUAL(std::string("(no reply)"), dora::pools::replyText(nullptr));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), s.counters->connects.load());
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), s.counters->commandErrors.load());
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), s.counters->disconnects.load());
        // The server going away: null, broken, and counted once.
        CPPUNIT_ASSERT(!c.command({"DROP"}));
        CPPUNIT_ASSERT(c.broken());
        CPPUNIT_ASSERT(!c.error().empty());
        CPPUNIT_ASSERT(!c.command({"PING"}));
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), s.counters->disconnects.load());
    }

    void testPipelinedRepliesComeInOrder() {
        FakeRedis redis;
        RedisConnection c(at(redis.socketPath()));
        for (int i = 0; i < 50; ++i)
            c.append({"ECHO", "m" + std::to_string(i)});
        for (int i = 0; i < 50; ++i) {
            auto r = c.reply();
            CPPUNIT_ASSERT(r);
            CPPUNIT_ASSERT_EQUAL("m" + std::to_string(i), dora::pools::replyText(r.get()));
        }
        CPPUNIT_ASSERT_EQUAL(50, redis.commands());
    }

    void testNoRedisIsACleanError() {
        RedisSettings s = at(nowhere());
        try {
            RedisConnection c(s);
            CPPUNIT_FAIL("connected to a socket nobody listens on");
        } catch (const std::runtime_error& e) {
            CPPUNIT_ASSERT(std::string(e.what()).find("cannot connect to Redis at unix:" +
                                                      s.socket) != std::string::npos);
        }
        CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), s.counters->connectFailures.load());
        RedisPool pool(s, 2);
        for (int i = 0; i < 3; ++i) {
            std::string error;
            RedisLease lease = pool.take(error);
            CPPUNIT_ASSERT(!lease);
            CPPUNIT_ASSERT(error.find("cannot connect to Redis") != std::string::npos);
        }
        // A failed connect gives its place back: the bound is not eaten up.
        CPPUNIT_ASSERT_EQUAL(0u, pool.open());
        CPPUNIT_ASSERT_EQUAL(0u, pool.lent());
    }

    void testPoolOfSizeZeroLendsNothing() {
        FakeRedis redis;
        RedisPool pool(at(redis.socketPath()), 0);
        std::string error;
        CPPUNIT_ASSERT(!pool.take(error));
        CPPUNIT_ASSERT(error.find("handler_connections is 0") != std::string::npos);
        CPPUNIT_ASSERT_EQUAL(0, redis.accepted());
    }

    /// Two lent: a third take waits its (short) connect timeout and fails
    /// with "busy", without opening a third connection.
    void testPoolNeverOpensMoreThanItsSize() {
        FakeRedis redis;
        RedisPool pool(at(redis.socketPath(), 100), 2);
        std::string error;
        RedisLease a = pool.take(error), b = pool.take(error);
        CPPUNIT_ASSERT(a && b);
        CPPUNIT_ASSERT(a.get() != b.get());
        CPPUNIT_ASSERT_EQUAL(2u, pool.lent());
        RedisLease c = pool.take(error);
        CPPUNIT_ASSERT(!c);
        CPPUNIT_ASSERT(error.find("all 2 handler Redis connections stayed busy") !=
                       std::string::npos);
        CPPUNIT_ASSERT_EQUAL(2u, pool.open());
        CPPUNIT_ASSERT_EQUAL(2u, pool.peakOpen());
        CPPUNIT_ASSERT_EQUAL(2, redis.accepted());
        // Given back, then taken again: the same connection, none new.
        RedisConnection* first = a.get();
        a.release();
        CPPUNIT_ASSERT_EQUAL(1u, pool.lent());
        RedisLease again = pool.take(error);
        CPPUNIT_ASSERT(again.get() == first);
        CPPUNIT_ASSERT(again.get()->command({"PING"}));
        CPPUNIT_ASSERT_EQUAL(2, redis.accepted());
    }

    void testWaiterGetsAConnectionGivenBack() {
        FakeRedis redis;
        RedisPool pool(at(redis.socketPath()), 1); // a waiter may wait 20 s
        std::string error;
        RedisLease held = pool.take(error);
        CPPUNIT_ASSERT(held);
        RedisConnection* conn = held.get();
        std::promise<RedisConnection*> got;
        auto future = got.get_future();
        std::thread waiter([&] {
            std::string e;
            RedisLease l = pool.take(e);
            got.set_value(l.get());
        });
        // Asserted only after the join, so a failure is reported, not a terminate.
        const bool waited =
            future.wait_for(std::chrono::milliseconds(50)) == std::future_status::timeout;
        held.release();
        bool served = future.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
        waiter.join();
        CPPUNIT_ASSERT_MESSAGE("a second connection was opened past the pool's size of one",
                               waited);
        CPPUNIT_ASSERT_MESSAGE("the waiter was not given the connection handed back", served);
        CPPUNIT_ASSERT(future.get() == conn);
        CPPUNIT_ASSERT_EQUAL(1, redis.accepted());
        CPPUNIT_ASSERT_EQUAL(1u, pool.peakOpen());
    }

    void testBrokenConnectionIsReplaced() {
        FakeRedis redis;
        RedisPool pool(at(redis.socketPath()), 1);
        std::string error;
        {
            RedisLease l = pool.take(error);
            CPPUNIT_ASSERT(l);
            CPPUNIT_ASSERT(!l.get()->command({"DROP"}));
            CPPUNIT_ASSERT(l.get()->broken());
        } // given back broken: closed, its place freed
        CPPUNIT_ASSERT_EQUAL(0u, pool.open());
        RedisLease l = pool.take(error);
        CPPUNIT_ASSERT(l);
        CPPUNIT_ASSERT(!l.get()->broken());
        CPPUNIT_ASSERT_EQUAL(std::string("PONG"),
                             dora::pools::replyText(l.get()->command({"PING"}).get()));
        CPPUNIT_ASSERT_EQUAL(2, redis.accepted());
        CPPUNIT_ASSERT_EQUAL(1u, pool.peakOpen());
    }

    /// What a handler's redis_command and redis_pipeline hand back, as PHP
    /// values, and the pool's connection given back when the call ends.
    void testHandlersSeeRepliesAsPhpValues() {
        FakeRedis redis;
        RedisPool pool(at(redis.socketPath()), 1);
        auto plugin =
            std::make_shared<dora::plugins::LoadedPlugin>("(test)", nullptr, &kFakeInfo, -1);
        plugin->host().redis = &pool;
        dora::plugins::Route cmd, pipe;
        cmd.spec.api = cmd.spec.handler = "redis";
        cmd.handler.fn = &redisHandler;
        cmd.plugin = plugin;
        pipe.spec.api = pipe.spec.handler = "pipe";
        pipe.handler.fn = &pipelineHandler;
        pipe.plugin = plugin;
        auto run = [&](const dora::plugins::Route& r, const std::string& params) {
            return dora::plugins::invoke(r, nullptr, 0, r.spec.api, params);
        };
        CPPUNIT_ASSERT_EQUAL(std::string("s:4:\"PONG\";"), run(cmd, argvOf({"PING"})).data);
        CPPUNIT_ASSERT_EQUAL(std::string("i:7;"), run(cmd, argvOf({"INCR", "n"})).data);
        CPPUNIT_ASSERT_EQUAL(std::string("N;"), run(cmd, argvOf({"GET", "n"})).data);
        CPPUNIT_ASSERT_EQUAL(
            std::string("a:3:{i:0;s:1:\"a\";i:1;i:2;i:2;a:2:{i:0;N;i:1;s:2:\"ok\";}}"),
            run(cmd, argvOf({"NEST"})).data);
        auto failed = run(cmd, argvOf({"FAIL"}));
        CPPUNIT_ASSERT_EQUAL(1, failed.code);
        CPPUNIT_ASSERT_EQUAL(std::to_string(DORA_ERR_REDIS) + ":ERR failing on purpose",
                             failed.msg);
        auto notArgv = run(cmd, "i:5;");
        CPPUNIT_ASSERT_EQUAL(std::to_string(DORA_ERR_ARG) +
                                 ":a Redis command must be a non-empty list of strings",
                             notArgv.msg);
        // A pipeline: [ok, value] per command; an error reply fails only its own entry.
        std::string commands =
            "a:2:{i:0;" + argvOf({"ECHO", "x"}) + "i:1;" + argvOf({"FAIL"}) + "}";
        CPPUNIT_ASSERT_EQUAL(std::string("a:2:{i:0;a:2:{i:0;b:1;i:1;s:1:\"x\";}i:1;a:2:{i:0;b:0;i:"
                                         "1;s:22:\"ERR failing on purpose\";}}"),
                             run(pipe, commands).data);
        // Every call gave its connection back: one was ever opened, none is lent now.
        CPPUNIT_ASSERT_EQUAL(0u, pool.lent());
        CPPUNIT_ASSERT_EQUAL(1, redis.accepted());
        // The server dropping the connection mid-call: "Redis down", and the next call reconnects.
        auto down = run(cmd, argvOf({"DROP"}));
        CPPUNIT_ASSERT(down.msg.rfind(std::to_string(DORA_ERR_REDIS_DOWN) + ":", 0) == 0);
        CPPUNIT_ASSERT_EQUAL(std::string("s:4:\"PONG\";"), run(cmd, argvOf({"PING"})).data);
        CPPUNIT_ASSERT_EQUAL(2, redis.accepted());
        // No Redis lent to the plugin at all: Redis down, with why.
        plugin->host().redis = nullptr;
        auto none = run(cmd, argvOf({"PING"}));
        CPPUNIT_ASSERT(none.msg.rfind(std::to_string(DORA_ERR_REDIS_DOWN) + ":", 0) == 0);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(RedisPoolTest);
