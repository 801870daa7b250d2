// protocol/Response.h — answer bodies in each generation's shape
// (PROTOCOL.md §4), built straight into frame bytes. Handler results arrive
// already PHP-serialized from the plugin and are spliced in, not re-encoded.
#pragma once

#include "protocol/Wire.h"

#include <dora/sdk/value.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dora::protocol {

/// The outcome of one call.
struct CallOutcome {
    int code = 0;     ///< 0 = handler answered; else the error code
    std::string msg;  ///< error message (unused when code is 0)
    std::string data; ///< PHP-serialized result (code 0); empty means null
};

struct EncodeOptions {
    FrameOptions frame;
    bool gzip = false; ///< v2 bodies gzip-compressed
};

/// How an answer is addressed: the frame generation and the guid.
struct Addressee {
    Generation generation = Generation::V1;
    std::string guid;
};

/// Wait-mode answers. `isResult` marks the pushed result of AM_* modes.
void appendSingleAnswer(std::string& out, const Addressee& to, const CallOutcome& r,
                        const EncodeOptions& opt, bool isResult = false);
/// The body of that answer alone, built piece by piece (the gzip and JSON
/// paths use it; the plain path writes the same bytes in one pass).
void appendSingleAnswerBody(std::string& out, const Addressee& to, const CallOutcome& r,
                            bool isResult = false);
void appendMultiAnswer(std::string& out, const Addressee& to,
                       const std::vector<std::pair<dora::sdk::Key, CallOutcome>>& results,
                       const EncodeOptions& opt, bool isResult = false);

/// A status answer: accepted, any refusal, control command results.
/// data is serialized as given (an empty array if omitted).
void appendStatusAnswer(std::string& out, const Addressee& to, int code, std::string_view msg,
                        const dora::sdk::Value& data, const EncodeOptions& opt);

/// The bytes of one PHP-serialized string / int (exposed for tests and
/// other writers that splice serialized parts).
void phpString(std::string& out, std::string_view s);
void phpInt(std::string& out, long long v);
void phpKey(std::string& out, const dora::sdk::Key& k);

} // namespace dora::protocol
