// libFuzzer target for the wire path the I/O threads run on untrusted
// bytes: frame parsing (with and without signatures, small frame cap), then
// request decoding of every frame found (v1/v2/JSON, gzip bodies), then
// answering it; an HMAC-signed frame's block is checked as the host does
// (MAC, window, nonce cache). Nothing may crash, read out of bounds or
// loop; a frame that parses must consume exactly 4 + its length; the calls
// bytes a request keeps for storing (storedCalls) must be encodeCalls's.
#include <dora/wire/Frame.h>
#include "protocol/Request.h"
#include "protocol/Response.h"
#include "protocol/Signing.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace dora::protocol;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static RequestVerifier verifier(
        [] {
            SigningOptions s;
            s.key = "0123456789abcdef";
            s.replayCache = 64;
            return s;
        }(),
        1);
    std::string_view in(reinterpret_cast<const char*>(data), size);
    for (int variant = 0; variant < 2; ++variant) {
        FrameOptions opt;
        opt.maxFrameBytes = 64 * 1024;
        opt.signature = variant == 1;
        std::string_view rest = in;
        while (!rest.empty()) {
            Frame f;
            std::size_t used = 0;
            ParseStatus st = parseFrame(rest, opt, f, used);
            if (st != ParseStatus::Ok) break;
            if (used < 4 || used > rest.size()) std::abort();
            // The worked example's clock (docs/protocol.md), so its
            // timestamp is inside the window and the cache is reached.
            SignatureVerdict v = verifier.check(f, 0, 1764590000000LL);
            if (f.signing == dora::wire::Signing::None && v != SignatureVerdict::Ok) std::abort();
            Request req;
            RequestError err;
            RequestLimits limits;
            limits.maxCalls = 50;
            std::string out;
            EncodeOptions enc;
            enc.frame = opt;
            Addressee to{f.generation, std::string(f.guid)};
            if (decodeRequest(f, limits, 64 * 1024, req, err)) {
                if (req.calls.empty()) std::abort();
                // The bytes kept for a stored request are encodeCalls's.
                if (!req.storedCalls.empty()) {
                    std::string again;
                    encodeCalls(req.calls, again);
                    if (again != req.storedCalls) std::abort();
                }
                std::vector<std::pair<dora::sdk::Key, CallOutcome>> results;
                for (auto& c : req.calls) results.emplace_back(c.key, CallOutcome{0, {}, "N;"});
                appendMultiAnswer(out, to, results, enc);
            } else {
                if (err.code == 0) std::abort();
                appendStatusAnswer(out, to, err.code, err.message, dora::sdk::Value(), enc);
            }
            if (out.size() < 4) std::abort();
            rest.remove_prefix(used);
        }
    }
    return 0;
}
