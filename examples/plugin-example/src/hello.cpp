// hello: the smallest useful dorahost plugin.
//
//   hello       {name?}  ->  {greeting: "<greeting>, <name>", served_by: "hello 1.0.0"}
//   hello_add   {a, b}   ->  {sum: a + b}
//   hello_count {name}   ->  {name, count}: how often name was counted, kept in
//                            Redis (INCR) on the connection the host lends
//
// The route file's `options:` may set greeting (default "hello"); the
// counter greetings shows in `dora stat` under plugin_metrics.hello.
// tests/hello_test.cpp unit-tests the handlers with the SDK's fake host.
//
// A handler takes a Call and returns a Value (or throws dora::sdk::Error
// for a business error). Handlers run on the host's worker threads, many
// at once: keep them free of unsynchronised shared state.
#include <dora/sdk/plugin.h>

#include <atomic>
#include <cstdint>
#include <string>

using namespace dora::sdk;

namespace {

constexpr char kName[] = "hello";
constexpr char kVersion[] = "1.0.0";

std::atomic<std::int64_t> greeted{0}; // shared by all worker threads: atomic
Counter greetings;                     // set once in init; add() is thread-safe

Value hello(Call& call) {
    std::string name = call.optString("name", "world", 64);
    Value out = Value::array();
    out.set("greeting", call.options().string("greeting") + ", " + name);
    greetings.add();
    out.set("served_by", std::string(kName) + " " + kVersion);
    out.set("greeted", ++greeted);
    return out;
}

Value add(Call& call) {
    std::int64_t a = call.requireInt("a");
    std::int64_t b = call.requireInt("b");
    if ((b > 0 && a > INT64_MAX - b) || (b < 0 && a < INT64_MIN - b))
        throw Error(kBadParam, "a + b does not fit in 64 bits");
    return Value::array().set("sum", a + b);
}

Value count(Call& call) {
    std::string name = call.requireString("name", 64);
    Value n = call.redis().command({"INCR", "hello:count:" + name});
    return Value::array().set("name", name).set("count", n);
}

} // namespace

DORA_PLUGIN(kName, kVersion, [](Registrar& r) {
    r.option("greeting", OptionType::String, "hello", "the word hello greets with");
    greetings = r.counter("greetings", "answers of hello");
    r.handler("hello", hello);
    r.handler("add", add);
    r.handler("count", count);
    r.log().info("hello plugin ready");
});
