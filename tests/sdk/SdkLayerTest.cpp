// The SDK's C++ layer in-process: a plugin declared with DORA_PLUGIN_INFO
// right here, driven through the fake host table. Exceptions of every kind
// must end as error answers, never cross into the host.
#include "sdk/FakeHost.h"

#include <dora/sdk/plugin.h>

#include <cppunit/extensions/HelperMacros.h>

#include <stdexcept>
#include <string>
#include <vector>

using namespace dora::sdk;

namespace {

Value returnsValue(Call& call) {
    return Value::array().set("api", call.api()).set("n", call.optInt("n", 7));
}

void noAnswer(Call&) {}

Value usesTransaction(Call& call) {
    Transaction tx(call.sql());
    call.sql().exec("UPDATE t SET a = ?", {1});
    if (call.optInt("fail", 0)) throw std::runtime_error("after the update");
    tx.commit();
    return true;
}

Value queries(Call& call) {
    auto rows = call.sql().query("SELECT a FROM t WHERE b = ? AND c = ?", {nullptr, 2.5});
    return Value(static_cast<long>(rows.size()));
}

void initTestPlugin(Registrar& r) {
    r.handler("returns_value", returnsValue);
    r.handler("throws_runtime", [](Call&) -> Value { throw std::runtime_error("boom"); });
    r.handler("throws_unknown", [](Call&) -> Value { throw 42; });
    r.handler("throws_error", [](Call&) -> Value { throw Error(kNotFound, "no such thing"); });
    r.handler("answers_then_throws", [](Call& call) {
        call.setResult(Value("partial"));
        throw std::logic_error("late");
    });
    r.handler("no_answer", noAnswer);
    r.handler("transaction", usesTransaction);
    r.handler("queries", queries);
    r.batchHandler("batch_each", [](Batch& b) {
        b.each([](Call& call) -> Value {
            if (call.optInt("n", 0) < 0) throw Error(kBadParam, "param 'n' must not be negative");
            return call.optInt("n", 0) * 2;
        });
    });
    r.batchHandler("batch_sql_fails", [](Batch& b) {
        b.each([&b](Call& call) -> Value {
            b.sql().exec("INSERT INTO t VALUES (?)", {call.optInt("n", 0)});
            return true;
        });
    });
    r.log().info("test plugin loaded");
}

DORA_PLUGIN_INFO(testPluginInfo, "sdk_test", "0.1", initTestPlugin)

DORA_PLUGIN_INFO(duplicatePluginInfo, "dup", "0.1", [](Registrar& r) {
    r.handler("same", noAnswer);
    r.handler("same", noAnswer);
})

DORA_PLUGIN_INFO(throwingInitInfo, "throws", "0.1",
                 [](Registrar&) { throw std::runtime_error("config missing"); })

std::string ser(const Value& v) { return serialize(v); }

dora_call callWith(const Value& params) {
    dora_call c;
    c.params = ser(params);
    return c;
}

} // namespace

class SdkLayerTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(SdkLayerTest);
    CPPUNIT_TEST(testPluginInfoStamp);
    CPPUNIT_TEST(testReturnedValueIsTheResult);
    CPPUNIT_TEST(testStdExceptionIsContained);
    CPPUNIT_TEST(testUnknownExceptionIsContained);
    CPPUNIT_TEST(testErrorCarriesCodeAndMessage);
    CPPUNIT_TEST(testThrowAfterAnswerBecomesError);
    CPPUNIT_TEST(testNoAnswerIsHandlerFailure);
    CPPUNIT_TEST(testTransactionRollsBackUnlessCommitted);
    CPPUNIT_TEST(testSqlParamsAndRows);
    CPPUNIT_TEST(testSqlErrorCarriesErrno);
    CPPUNIT_TEST(testBatchEachAnswersEveryCall);
    CPPUNIT_TEST(testBatchSqlFailureFailsEveryCall);
    CPPUNIT_TEST(testDuplicateRegistrationRefusesLoad);
    CPPUNIT_TEST(testThrowingInitRefusesLoad);
    CPPUNIT_TEST(testRegistrationLogs);
    CPPUNIT_TEST(testHostLackingAFunctionIsRefusedByName);
    CPPUNIT_TEST_SUITE_END();

public:
    void testPluginInfoStamp() {
        const dora_plugin_info* info = testPluginInfo();
        CPPUNIT_ASSERT_EQUAL(static_cast<std::uint32_t>(sizeof(dora_plugin_info)),
                             info->struct_size);
        CPPUNIT_ASSERT_EQUAL(static_cast<std::uint16_t>(DORA_ABI_MAJOR), info->abi_major);
        CPPUNIT_ASSERT_EQUAL(std::string("sdk_test"), std::string(info->name));
        CPPUNIT_ASSERT_EQUAL(std::string("0.1"), std::string(info->version));
        CPPUNIT_ASSERT(info == testPluginInfo()); // one static description
    }

    void testReturnedValueIsTheResult() {
        dora::test::FakeHost host(testPluginInfo());
        CPPUNIT_ASSERT_EQUAL(static_cast<std::int32_t>(DORA_OK), host.status);
        dora_call call = callWith(Value::array().set("n", 3));
        dora_ctx ctx;
        CPPUNIT_ASSERT_EQUAL(static_cast<std::int32_t>(DORA_OK),
                             host.invoke("returns_value", call, ctx));
        CPPUNIT_ASSERT(!call.isError);
        CPPUNIT_ASSERT_EQUAL(ser(Value::array().set("api", "returns_value").set("n", 3)),
                             call.result);
    }

    void testStdExceptionIsContained() {
        dora::test::FakeHost host(testPluginInfo());
        dora_call call;
        dora_ctx ctx;
        CPPUNIT_ASSERT_EQUAL(static_cast<std::int32_t>(DORA_OK),
                             host.invoke("throws_runtime", call, ctx));
        CPPUNIT_ASSERT(call.isError);
        CPPUNIT_ASSERT_EQUAL(kHandlerFailed, call.code);
        CPPUNIT_ASSERT_EQUAL(std::string("handler 'throws_runtime' failed: boom"), call.message);
        // Unexpected failures are logged for the operator.
        CPPUNIT_ASSERT(!host.host.logs.empty());
        CPPUNIT_ASSERT_EQUAL(static_cast<std::int32_t>(DORA_LOG_ERROR),
                             host.host.logs.back().first);
        CPPUNIT_ASSERT_EQUAL(call.message, host.host.logs.back().second);
    }

    void testUnknownExceptionIsContained() {
        dora::test::FakeHost host(testPluginInfo());
        dora_call call;
        dora_ctx ctx;
        CPPUNIT_ASSERT_EQUAL(static_cast<std::int32_t>(DORA_OK),
                             host.invoke("throws_unknown", call, ctx));
        CPPUNIT_ASSERT_EQUAL(kHandlerFailed, call.code);
        CPPUNIT_ASSERT_EQUAL(std::string("handler 'throws_unknown' failed: unknown exception"),
                             call.message);
    }

    void testErrorCarriesCodeAndMessage() {
        dora::test::FakeHost host(testPluginInfo());
        dora_call call;
        dora_ctx ctx;
        host.invoke("throws_error", call, ctx);
        CPPUNIT_ASSERT(call.isError);
        CPPUNIT_ASSERT_EQUAL(kNotFound, call.code);
        CPPUNIT_ASSERT_EQUAL(std::string("no such thing"), call.message);
    }

    void testThrowAfterAnswerBecomesError() {
        dora::test::FakeHost host(testPluginInfo());
        dora_call call;
        dora_ctx ctx;
        host.invoke("answers_then_throws", call, ctx);
        CPPUNIT_ASSERT_EQUAL(2, call.answers);
        CPPUNIT_ASSERT(call.isError);
        CPPUNIT_ASSERT_EQUAL(std::string("handler 'answers_then_throws' failed: late"),
                             call.message);
    }

    void testNoAnswerIsHandlerFailure() {
        dora::test::FakeHost host(testPluginInfo());
        dora_call call;
        dora_ctx ctx;
        CPPUNIT_ASSERT_EQUAL(static_cast<std::int32_t>(DORA_OK),
                             host.invoke("no_answer", call, ctx));
        CPPUNIT_ASSERT(call.isError);
        CPPUNIT_ASSERT_EQUAL(kHandlerFailed, call.code);
        CPPUNIT_ASSERT_EQUAL(std::string("handler 'no_answer' gave no answer"), call.message);
    }

    void testTransactionRollsBackUnlessCommitted() {
        dora::test::FakeHost host(testPluginInfo());
        dora_ctx ok;
        dora_call c1 = callWith(Value::array());
        host.invoke("transaction", c1, ok);
        CPPUNIT_ASSERT_MESSAGE(c1.message, !c1.isError);
        CPPUNIT_ASSERT((std::vector<std::string>{"begin", "exec UPDATE t SET a = ? a:1:{i:0;i:1;}",
                                                 "commit"} == ok.trace));

        dora_ctx failed;
        dora_call c2 = callWith(Value::array().set("fail", 1));
        host.invoke("transaction", c2, failed);
        CPPUNIT_ASSERT(c2.isError);
        CPPUNIT_ASSERT((std::vector<std::string>{"begin", "exec UPDATE t SET a = ? a:1:{i:0;i:1;}",
                                                 "rollback"} == failed.trace));

        // A failing commit is an error answer and the scope still rolls back.
        dora_ctx commitFails;
        commitFails.script = {{}, {}, {DORA_ERR_SQL, 1213, "Deadlock found"}};
        dora_call c3 = callWith(Value::array());
        host.invoke("transaction", c3, commitFails);
        CPPUNIT_ASSERT_EQUAL(std::string("Deadlock found"), c3.message);
        CPPUNIT_ASSERT_EQUAL(std::string("rollback"), commitFails.trace.back());
    }

    void testSqlParamsAndRows() {
        dora::test::FakeHost host(testPluginInfo());
        dora_ctx ctx;
        Value rows =
            Value::array().push(Value::array().set("a", 1)).push(Value::array().set("a", 2));
        ctx.script.push_back({DORA_OK, 0, "", ser(rows), 0, 0});
        dora_call call;
        host.invoke("queries", call, ctx);
        CPPUNIT_ASSERT_MESSAGE(call.message, !call.isError);
        CPPUNIT_ASSERT_EQUAL(ser(Value(2)), call.result);
        CPPUNIT_ASSERT_EQUAL(std::string("query SELECT a FROM t WHERE b = ? AND c = ? "
                                         "a:2:{i:0;N;i:1;" +
                                         ser(Value(2.5)) + "}"),
                             ctx.trace.at(0));

        // Rows that do not decode are a handler failure, not a crash.
        dora_ctx bad;
        bad.script.push_back({DORA_OK, 0, "", "a:9:{", 0, 0});
        dora_call c2;
        host.invoke("queries", c2, bad);
        CPPUNIT_ASSERT_EQUAL(kHandlerFailed, c2.code);
        CPPUNIT_ASSERT_EQUAL(std::string("undecodable rows"), c2.message.substr(0, 16));
    }

    void testSqlErrorCarriesErrno() {
        SqlError dup(DORA_ERR_SQL, 1062, "Duplicate entry");
        CPPUNIT_ASSERT(dup.isDuplicateKey());
        CPPUNIT_ASSERT_EQUAL(kHandlerFailed, dup.code());
        SqlError other(DORA_ERR_SQL, 1146, "no table");
        CPPUNIT_ASSERT(!other.isDuplicateKey());
        CPPUNIT_ASSERT_EQUAL(1146, other.sqlErrno());
        CPPUNIT_ASSERT_EQUAL(static_cast<std::int32_t>(DORA_ERR_SQL), other.status());
    }

    void testBatchEachAnswersEveryCall() {
        dora::test::FakeHost host(testPluginInfo());
        std::vector<dora_call> calls = {callWith(Value::array().set("n", 1)),
                                        callWith(Value::array().set("n", -1)),
                                        callWith(Value::array().set("n", 5))};
        dora_ctx ctx;
        CPPUNIT_ASSERT_EQUAL(static_cast<std::int32_t>(DORA_OK),
                             host.invokeBatch("batch_each", calls, ctx));
        CPPUNIT_ASSERT_EQUAL(ser(Value(2)), calls[0].result);
        CPPUNIT_ASSERT(calls[1].isError);
        CPPUNIT_ASSERT_EQUAL(kBadParam, calls[1].code);
        CPPUNIT_ASSERT_EQUAL(ser(Value(10)), calls[2].result);
        CPPUNIT_ASSERT(!calls[2].isError);
    }

    void testBatchSqlFailureFailsEveryCall() {
        dora::test::FakeHost host(testPluginInfo());
        std::vector<dora_call> calls = {callWith(Value::array().set("n", 1)),
                                        callWith(Value::array().set("n", 2)),
                                        callWith(Value::array().set("n", 3))};
        dora_ctx ctx;
        ctx.script = {{}, {DORA_ERR_SQL, 1213, "Deadlock found"}};
        std::int32_t rc = host.invokeBatch("batch_sql_fails", calls, ctx);
        CPPUNIT_ASSERT(rc != DORA_OK); // the host must not commit the batch
        for (const dora_call& c : calls) {
            CPPUNIT_ASSERT(c.isError);
            CPPUNIT_ASSERT_EQUAL(kHandlerFailed, c.code);
            CPPUNIT_ASSERT_EQUAL(std::string("Deadlock found"), c.message);
        }
        CPPUNIT_ASSERT_EQUAL(std::size_t(2), ctx.trace.size()); // stopped at the failure
    }

    void testDuplicateRegistrationRefusesLoad() {
        dora::test::FakeHost host(duplicatePluginInfo());
        CPPUNIT_ASSERT(host.status != DORA_OK);
        CPPUNIT_ASSERT(host.state() == nullptr);
        CPPUNIT_ASSERT_MESSAGE(host.initError,
                               host.initError.find("cannot register handler 'same'") !=
                                   std::string::npos);
    }

    void testThrowingInitRefusesLoad() {
        dora::test::FakeHost host(throwingInitInfo());
        CPPUNIT_ASSERT(host.status != DORA_OK);
        CPPUNIT_ASSERT_EQUAL(std::string("plugin init failed: config missing"), host.initError);
    }

    void testRegistrationLogs() {
        dora::test::FakeHost host(testPluginInfo());
        CPPUNIT_ASSERT_EQUAL(std::size_t(1), host.host.logs.size());
        CPPUNIT_ASSERT_EQUAL(std::string("test plugin loaded"), host.host.logs[0].second);
        CPPUNIT_ASSERT_EQUAL(static_cast<std::int32_t>(DORA_LOG_INFO), host.host.logs[0].first);
    }

    /// Built with every function of its SDK required (the default): a host
    /// table without one refuses the plugin, naming it; so does a 1.1 table.
    void testHostLackingAFunctionIsRefusedByName() {
        CPPUNIT_ASSERT_EQUAL(DORA_ABI_MINOR, int(testPluginInfo()->abi_minor));
        dora_host_api a = dora::test::fakeHostApi();
        a.redis_pipeline = nullptr;
        dora::test::FakeHost host(testPluginInfo(), a);
        CPPUNIT_ASSERT(host.status != DORA_OK);
        CPPUNIT_ASSERT_MESSAGE(host.initError,
                               host.initError.find("plugin needs host function 'redis_pipeline' (ABI 1.2), "
                                                   "which this host lacks") == 0);
        dora_host_api old = dora::test::fakeHostApi();
        old.abi_minor = 1;
        old.struct_size = offsetof(dora_host_api, call_guid);
        dora::test::FakeHost host11(testPluginInfo(), old);
        CPPUNIT_ASSERT(host11.status != DORA_OK);
        CPPUNIT_ASSERT_MESSAGE(host11.initError,
                               host11.initError.find("plugin needs host function 'call_guid' (ABI 1.2)") == 0);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(SdkLayerTest);
