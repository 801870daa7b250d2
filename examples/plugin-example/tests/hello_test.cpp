// Unit tests of the hello plugin's handlers, with no host: the SDK's fake
// host (dora/sdk/testing.h) runs the plugin's init, calls handlers with
// params, answers their Redis calls from a script and hands back the
// answers. Run with `ctest` in the plugin's build folder.
#include <dora/sdk/testing.h>

#include <dora/sdk/error.h>

#include <cstdlib>
#include <iostream>
#include <string>

extern "C" const dora_plugin_info* dora_plugin_entry(void); // src/hello.cpp's DORA_PLUGIN

using dora::sdk::Value;
using dora::sdk::testing::FakeHost;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
    std::cout << (ok ? "ok   " : "FAIL ") << what << "\n";
    if (!ok) ++failures;
}

} // namespace

int main() {
    {
        FakeHost host(dora_plugin_entry());
        check(host.loaded(), "loads: " + host.error());
        auto r = host.call("hello", Value::array().set("name", "dora"));
        check(r.ok() && r.value.find("greeting")->asString() == "hello, dora", "hello greets by name");
        r = host.call("add", Value::array().set("a", 2).set("b", 40));
        check(r.ok() && r.value.find("sum")->asInt() == 42, "add adds");
        r = host.call("add", Value::array().set("a", "two"));
        check(!r.ok() && r.code == dora::sdk::kBadParam && r.message == "param 'a' must be an int, got string",
              "add refuses a string: " + r.message);
        check(host.metric("greetings") == 1, "one greeting counted");

        host.redis.reply(Value(3)); // what INCR answers
        r = host.call("count", Value::array().set("name", "ann"));
        check(r.ok() && r.value.find("count")->asInt() == 3, "count answers Redis's INCR");
        check(host.redis.trace.size() == 1 && host.redis.trace[0] == "INCR hello:count:ann",
              "count ran INCR hello:count:ann" + (host.redis.trace.empty() ? std::string() : ": " + host.redis.trace[0]));
        host.redis.down();
        r = host.call("count", Value::array().set("name", "ann"));
        check(!r.ok() && r.code == dora::sdk::kRedisDown, "Redis down answers kRedisDown");
    }
    {
        FakeHost host(dora_plugin_entry(), {{"greeting", "bonjour"}});
        auto r = host.call("hello");
        check(r.ok() && r.value.find("greeting")->asString() == "bonjour, world", "the greeting option applies");
        FakeHost bad(dora_plugin_entry(), {{"colour", "blue"}});
        check(!bad.loaded() && bad.error() == "unknown option 'colour'", "an unknown option refuses the load");
    }
    std::cout << (failures ? "FAILED: " : "all passed: ") << failures << " failure(s)\n";
    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
