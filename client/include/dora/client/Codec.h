// dora/client/Codec.h — the client side of the wire (PROTOCOL.md §1–4):
// request frames in each generation, answer frames back into Results.
// Pure functions, no I/O: the blocking Client and the epoll-driven bench
// both use them. Framing, signatures and gzip come from the host's
// dora_protocol library, so both ends share one implementation.
#pragma once

#include <dora/client/Result.h>
#include <dora/sdk/value.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dora::client {

/// Which client generation to speak.
enum class Generation {
    V1,   ///< PHP-serialized body, types SSS/SSM/SRS/SRM
    V2,   ///< 32-byte guid header, types W_*/AN_*/AM_*, optional gzip
    Json, ///< JSON body (our extension), v1-shaped answers
};

/// How a call is run (DoraRPC's SW_MODE_*).
enum class Mode {
    Sync,        ///< wait for the result (SSS/SSM, W_S/W_M)
    Async,       ///< "accepted" at once, no result (SRS/SRM, AN_S/AN_M)
    AsyncResult, ///< "accepted" now, the result pushed later (AM_S/AM_M)
};

/// Parses "v1", "v2" or "json"; false if none.
bool parseGeneration(std::string_view s, Generation& out);
const char* generationName(Generation g);
const char* modeName(Mode m);

/// Frame-level options; both sides must agree on signature and salt.
struct WireOptions {
    bool signature = false;
    std::string salt = "=&$*#@(*&%(@";
    bool gzip = false;                           ///< v2 only: gzip request bodies
    std::size_t maxFrameBytes = 2 * 1024 * 1024; ///< cap on answers, as the PHP client
    /// HMAC-SHA256 request signing (the host's server.signing.key): every
    /// request frame carries a timestamp, a fresh nonce and the MAC
    /// (docs/protocol.md, "Signed frames"). Empty: unsigned, as DoraRPC.
    /// Answers are not signed.
    std::string signingKey;
};

/// Reads a signing key file as the host does (its bytes, less one trailing
/// newline; at least 16 bytes); throws std::runtime_error naming the file.
std::string readSigningKey(const std::string& path);

/// The request type string. V1 and JSON use the v1 names where they exist
/// and AM_S/AM_M otherwise; V2 uses W_*/AN_*/AM_*.
std::string_view typeName(Generation g, Mode m, bool multi);
inline constexpr std::string_view kControlType = "SC";

/// A fresh 32-hex-digit guid (random; unique enough to match answers).
std::string newGuid();

/// Appends one request frame: [guid, type, api] in the generation's codec.
/// `api` is key => ["name" => .., "param" => ..] ("one" for single calls,
/// "cmd" for control commands).
void appendRequest(std::string& out, Generation g, std::string_view guid, std::string_view type,
                   const dora::sdk::Value& api, const WireOptions& opt);

/// The api array of a single call: ["one" => ["name" => api, "param" => param]].
dora::sdk::Value singleApi(std::string_view api, const dora::sdk::Value& param);

enum class TakeStatus {
    NeedMore, ///< not a whole frame yet
    Ok,       ///< `out` holds one answer; `consumed` bytes were used
    Bad,      ///< the stream is unusable (bad length, signature, body); see err
};

/// Takes one answer frame from the start of `in`, decoding the envelope
/// (code, msg, data, guid, isresult) into `out`. `calls` is left empty:
/// call splitCalls once the request it answers is known.
TakeStatus takeAnswer(std::string_view in, const WireOptions& opt, Result& out,
                      Generation& answeredIn, std::size_t& consumed, std::string& err);

/// Fills out.calls from out.data for a wait-mode answer or pushed result
/// (`multi`: the request was a multi call; `answeredIn`: the answer's
/// generation, which decides the shape). Does nothing for status answers
/// (accepted, refusals, control commands): only call it for code 0.
void splitCalls(Result& r, Generation answeredIn, bool multi);

/// As appendRequest with `api` given already PHP-serialized (the bytes
/// serialize() gives for the api array): for load generators that build
/// the same request shape millions of times. False, with nothing appended,
/// where the body is not plain PHP serialize (JSON generation, gzip): use
/// appendRequest then.
bool appendSerializedRequest(std::string& out, Generation g, std::string_view guid, std::string_view type,
                             std::string_view apiBytes, const WireOptions& opt);

/// appendSerializedRequest in two halves, for a load generator that writes
/// the api bytes straight into the frame: begin appends the frame's head
/// and the body up to its "api" key and returns where the frame starts
/// (std::string::npos, nothing appended, where appendSerializedRequest
/// returns false); the caller appends the serialized api array; finish
/// closes the body and fills in the length, the CRC and the HMAC block as
/// `opt` says. The same bytes as appendSerializedRequest.
std::size_t beginSerializedRequest(std::string& out, Generation g, std::string_view guid,
                                   std::string_view type, const WireOptions& opt);
void finishSerializedRequest(std::string& out, std::size_t start, Generation g,
                             const WireOptions& opt);

/// takeAnswer and splitCalls in one pass without building values: fills
/// code, msg, guid, isResult and, for code 0, each call's key, code and msg
/// (never data). For load generators that check outcomes, not results.
/// Returns Ok/NeedMore/Bad as takeAnswer does; `lean` is set false (and
/// `out` must be taken with takeAnswer instead, from the same bytes) when
/// the answer is not in the plain shape this reader handles (JSON, gzip, a
/// field of another type).
TakeStatus takeAnswerOutcome(std::string_view in, const WireOptions& opt, bool multi, Result& out,
                             Generation& answeredIn, std::size_t& consumed, std::string& err, bool& lean);

/// One call's outcome in an AnswerView: views into the answer's bytes.
struct CallView {
    bool keyIsInt = false;   ///< the key came as i:N;
    std::int64_t keyInt = 0; ///< keyIsInt
    std::string_view key;    ///< the key's bytes as sent (Key(key) normalises "7" to 7)
    int code = 0;            ///< 0, the handler's / host's code, or code::kBadAnswer
    /// A v2 slot without the [guid, code, msg, data] shape: code is
    /// code::kBadAnswer, msg empty (takeAnswerOutcome words it).
    bool unshaped = false;
    std::string_view msg; ///< "OK" or the error text
    /// The call's result, still PHP-serialized ("N;" when the slot has no
    /// data field); empty when code != 0.
    std::string_view data;
};

/// One answer's outcome as views into the frame it was read from (valid
/// while those bytes are): what takeAnswerOutcome fills a Result with,
/// without copying or building values. Reuse one across answers: `calls`
/// keeps its capacity, so a steady load allocates nothing.
struct AnswerView {
    int code = 0;
    std::string_view msg;
    std::string_view guid; ///< the body's guid, else the v2 header's
    bool isResult = false;
    Generation answeredIn = Generation::V1;
    std::vector<CallView> calls; ///< code 0 only: one per call, in order
};

/// The reader behind takeAnswerOutcome, for a load generator's hot path:
/// the same checks (length, CRC signature, envelope shape, each call's
/// v1/v2 outcome), the same Ok/NeedMore/Bad and `lean` answers, results
/// as views into `in` plus each call's result bytes (so an echo can be
/// compared with what was sent). `out` is filled only when `lean` comes
/// back true (else take the answer with takeAnswer, from the same bytes).
/// Single-threaded use of `out`.
TakeStatus scanAnswer(std::string_view in, const WireOptions& opt, bool multi, AnswerView& out,
                      std::size_t& consumed, std::string& err, bool& lean);

/// Encodes a Value as JSON / decodes JSON (thin wrappers over the host's
/// codec, for the CLI and tools); fromJson throws std::runtime_error.
std::string toJson(const dora::sdk::Value& v);
dora::sdk::Value fromJson(std::string_view text);

} // namespace dora::client
