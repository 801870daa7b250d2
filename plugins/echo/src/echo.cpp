// echo: answers every call with its own parameters. No database and no
// decoding, so a benchmark against it measures the host alone.
#include <dora/sdk/plugin.h>

using namespace dora::sdk;

namespace {

constexpr char kVersion[] = "1.0.0";

// The params bytes go back as they came: they already are one
// PHP-serialized value. No params at all echo as null.
void echo(Call& call) {
    std::string_view params = call.rawParams();
    call.setRawResult(params.empty() ? std::string_view("N;") : params);
}

Value version(Call&) { return kVersion; }

} // namespace

DORA_PLUGIN("echo", kVersion, [](Registrar& r) {
    r.handler("echo", echo);
    r.handler("version", version);
});
