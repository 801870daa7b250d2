// dora/client/Result.h — what a call returns: the transport status of the
// answer envelope plus, for wait modes and pushed results, each call's own
// status and data (PROTOCOL.md §4), the same whatever generation carried it.
#pragma once

#include <dora/sdk/value.h>
#include <dora/wire/Codes.h>

#include <string>
#include <vector>

namespace dora::client {

/// Codes the client itself produces (PROTOCOL.md §5), named for what they
/// mean to a caller; the values come from the one code table
/// (dora/wire/codes.def).
namespace code {
inline constexpr int kOk = wire::code::kOk;
inline constexpr int kAccepted = wire::code::kAccepted;         ///< async call stored by the server
inline constexpr int kGuidMismatch = wire::code::kGuidMismatch; ///< answer for another request
inline constexpr int kTimeout = wire::code::kReceiveTimeout;    ///< no answer in time
inline constexpr int kNoServer = wire::code::kV1SignatureFailed; ///< no server reachable (DoraRPC reuses 100010)
inline constexpr int kClosedEarly = wire::code::kClosedEarly;   ///< connection closed before the (async) result
inline constexpr int kBadAnswer = wire::code::kPacketTypeWrong; ///< answer frame could not be decoded
} // namespace code

/// A short name for a code clients and the host use ("timeout", "busy",
/// "not found", ...); "code N" for unknown ones. For summaries and errors.
std::string describeCode(int code);

/// One call's outcome inside an answer.
struct CallResult {
    dora::sdk::Key key{"one"};
    int code = 0;          ///< 0, or the handler's / host's error code
    std::string msg;       ///< "OK" or the error text
    dora::sdk::Value data; ///< the handler's result (null on error)
};

/// One answer. `code` is the envelope's status: 0 for a wait-mode answer
/// (look at `calls` for each handler's status), 100001 for "accepted", a
/// host refusal (1000xx / 1002xx), or a client-side code (100008 guid
/// mismatch, 100009 timeout, 100010 no server, 100012 closed early).
struct Result {
    int code = 0;
    std::string msg;
    std::string guid;              ///< the request's guid
    bool isResult = false;         ///< a pushed AM_* result (isresult => 1)
    dora::sdk::Value data;         ///< the envelope's data, as sent
    std::vector<CallResult> calls; ///< wait modes and pushed results: one per call, in order
    std::string server;            ///< "host:port" that answered (empty if none did)

    /// Envelope code 0 or 100001 and every call's code 0.
    bool ok() const {
        if (code != code::kOk && code != code::kAccepted) return false;
        for (const auto& c : calls)
            if (c.code != 0) return false;
        return true;
    }
    /// The first error: the envelope's if it failed, else the first failed
    /// call's; 0 if ok().
    int errorCode() const;
    /// "100211 user 'x' not found" (with "call 'k': " for a failed call in
    /// a multi answer); empty if ok().
    std::string errorText() const;
};

} // namespace dora::client
