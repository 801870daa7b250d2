// Host functions a plugin needs versus the ones it probes (ABI 1.2): a
// plugin built with DORA_PLUGIN_MIN_ABI_MINOR 1 starts on a host table
// that ends with ABI 1.1, finds the 1.2 functions absent with Host::has,
// and its SDK calls to them fail with an error naming the function
// instead of crashing; a table lacking a function the plugin requires is
// refused with a sentence naming it. The default (every function of the
// SDK's minor required) is tested in SdkLayerTest.
#define DORA_PLUGIN_MIN_ABI_MINOR 1

#include "sdk/FakeHost.h"

#include <dora/sdk/plugin.h>

#include <cppunit/extensions/HelperMacros.h>

#include <cstddef>
#include <string>

using namespace dora::sdk;

namespace {

bool gHadRedis = true;

DORA_PLUGIN_INFO(probingPlugin, "probing", "1.0", [](Registrar& r) {
    gHadRedis = r.host().has(HostFn::redis_command);
    r.handler("what", [](Call& call) {
        Value out = Value::array();
        out.set("guid", std::string(call.guid()));
        out.set("mode", toString(call.mode()));
        out.set("attempt", static_cast<std::int64_t>(call.attempt()));
        out.set("deadline", call.timeLeft().has_value());
        try {
            call.redis().command({"PING"});
            out.set("redis", "answered");
        } catch (const RedisError& e) {
            out.set("redis", e.what());
        }
        return out;
    });
});

/// The table a 1.1 host hands out: every member up to call_task_id.
dora_host_api table11() {
    dora_host_api a = dora::test::fakeHostApi();
    a.abi_minor = 1;
    a.struct_size = offsetof(dora_host_api, call_task_id) + sizeof(a.call_task_id);
    return a;
}

} // namespace

class AbiProbeTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(AbiProbeTest);
    CPPUNIT_TEST(testStampedWithTheMinorItNeeds);
    CPPUNIT_TEST(testRunsOnAnOlderHostAndProbes);
    CPPUNIT_TEST(testRefusalNamesTheMissingFunction);
    CPPUNIT_TEST_SUITE_END();

public:
    void testStampedWithTheMinorItNeeds() {
        CPPUNIT_ASSERT_EQUAL(1, int(probingPlugin()->abi_minor));
        CPPUNIT_ASSERT_EQUAL(DORA_ABI_MAJOR, int(probingPlugin()->abi_major));
    }

    void testRunsOnAnOlderHostAndProbes() {
        dora::test::FakeHost host(probingPlugin(), table11());
        CPPUNIT_ASSERT_EQUAL_MESSAGE(host.initError, std::int32_t(DORA_OK), host.status);
        CPPUNIT_ASSERT(!gHadRedis);
        dora_call call;
        call.params = "N;";
        dora_ctx ctx;
        CPPUNIT_ASSERT_EQUAL(std::int32_t(DORA_OK), host.invoke("what", call, ctx));
        CPPUNIT_ASSERT_MESSAGE(call.message, !call.isError);
        Value out = unserialize(call.result);
        CPPUNIT_ASSERT_EQUAL(std::string(""), out.find("guid")->asString()); // no call_guid on 1.1
        CPPUNIT_ASSERT_EQUAL(std::string("unknown"), out.find("mode")->asString());
        CPPUNIT_ASSERT_EQUAL(std::int64_t(1), out.find("attempt")->asInt());
        CPPUNIT_ASSERT(!out.find("deadline")->asBool());
        CPPUNIT_ASSERT_EQUAL(std::string("this host lacks host function 'redis_command' (ABI 1.2)"),
                             out.find("redis")->asString());

        // The same plugin on a full table sees the functions.
        dora::test::FakeHost full(probingPlugin());
        CPPUNIT_ASSERT_EQUAL(std::int32_t(DORA_OK), full.status);
        CPPUNIT_ASSERT(gHadRedis);
    }

    void testRefusalNamesTheMissingFunction() {
        dora_host_api a = table11();
        a.call_task_id = nullptr; // required: the plugin needs ABI 1.1
        dora::test::FakeHost host(probingPlugin(), a);
        CPPUNIT_ASSERT(host.status != DORA_OK);
        CPPUNIT_ASSERT_MESSAGE(
            host.initError,
            host.initError.find("plugin needs host function 'call_task_id' (ABI 1.1)") == 0);
        CPPUNIT_ASSERT_MESSAGE(host.initError,
                               host.initError.find("host ABI 1.1") != std::string::npos);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(AbiProbeTest);
