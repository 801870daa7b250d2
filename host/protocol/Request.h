// protocol/Request.h — a decoded request (PROTOCOL.md §3): guid, mode and
// the calls it carries, independent of generation and codec.
#pragma once

#include "protocol/Wire.h"

#include <dora/sdk/value.h>

#include <string>
#include <string_view>
#include <vector>

namespace dora::protocol {

enum class Mode {
    SyncSingle,        ///< SSS / W_S
    SyncMulti,         ///< SSM / W_M
    AsyncSingle,       ///< SRS / AN_S: stored, no result
    AsyncMulti,        ///< SRM / AN_M
    AsyncResultSingle, ///< AM_S: accepted now, result pushed later
    AsyncResultMulti,  ///< AM_M
    Control,           ///< SC
};

bool isMulti(Mode m);
bool isSync(Mode m);       ///< waits for the result
bool isNoResult(Mode m);   ///< SRS/SRM/AN_*: goes through the durable queue
bool isPushResult(Mode m); ///< AM_*

/// One call inside a request: the key it answers under, the api and its
/// parameters as one PHP-serialized value (what a plugin receives; empty
/// when the call has none). PHP bodies hand their bytes on as sent, with
/// no decode and re-encode in between.
struct Call {
    dora::sdk::Key key{0};
    std::string api;
    std::string params;
};

struct Request {
    Generation generation = Generation::V1;
    std::string guid;
    std::string type;
    Mode mode = Mode::SyncSingle;
    std::vector<Call> calls; ///< for Control: one call, api = command name
    /// The body's calls array as it came, when it is byte for byte what
    /// encodeCalls writes for `calls` (a PHP client's usual layout): a
    /// stored async request keeps these bytes instead of encoding them
    /// again. A view of the frame's body, valid only while the frame is;
    /// empty otherwise (another layout, an inflated body, JSON, HTTP).
    std::string_view storedCalls;
};

struct RequestLimits {
    std::size_t maxCalls = 100;
};

/// Why a body was refused, in the client's codes.
struct RequestError {
    int code = 0;
    std::string message;
    std::string guid; ///< what could be read of the guid, to echo back
};

/// The calls array of a body, [key => [name, param]], PHP-serialized: what
/// a stored async task keeps (and a request's `api`). encodeCalls splices
/// each call's param bytes in; decodeCalls hands them out again without
/// decoding them (false and an error message if the bytes are not a calls
/// array).
void encodeCalls(const std::vector<Call>& calls, std::string& out);
bool decodeCalls(std::string_view bytes, std::vector<Call>& out, std::string& error);

/// A call of a calls array seen in place: api and params view the bytes
/// it was decoded from, which must outlive it.
struct CallView {
    dora::sdk::Key key{0};
    std::string_view api;
    std::string_view params;
};
/// decodeCalls without copying: true only for what encodeCalls writes (and
/// what the fast walk of a body accepts). False for anything else; then
/// decodeCalls decodes it (a record written another way) or says why not.
bool decodeCallViews(std::string_view bytes, std::vector<CallView>& out);

/// Interprets a decoded body. Returns false and fills err on any problem.
bool interpretRequest(const dora::sdk::Value& body, Generation gen, const RequestLimits& limits,
                      Request& out, RequestError& err);

/// Decodes the body bytes (gunzip for v2 if needed, PHP-serialize or JSON)
/// and interprets them.
bool decodeRequest(const Frame& frame, const RequestLimits& limits, std::size_t maxBodyBytes,
                   Request& out, RequestError& err);

} // namespace dora::protocol
