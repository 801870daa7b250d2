// protocol/Codes.h — every code the host answers with. 0..100012 are the
// DoraRPC clients' own (PROTOCOL.md §5); 100200–100299 are the host's and
// are listed in docs/protocol.md.
#pragma once

namespace dora::protocol::code {

inline constexpr int kOk = 0;
inline constexpr int kAccepted = 100001;
inline constexpr int kUnknownType = 100002;
inline constexpr int kApiMissing = 100003;
inline constexpr int kHttpParams = 100004;
inline constexpr int kV2SignatureFailed = 100005;
inline constexpr int kPacketTypeWrong = 100006;
inline constexpr int kPacketLengthInvalid = 100007;
inline constexpr int kV1SignatureFailed = 100010;
inline constexpr int kUnknownCommand = 100011;

// The host's own.
inline constexpr int kNoSuchRoute = 100200;      ///< api names no loaded route
inline constexpr int kHandlerFailed = 100201;    ///< handler threw or returned no answer
inline constexpr int kBusy = 100202;             ///< task queue full, try later
inline constexpr int kTimeout = 100203;          ///< route's timeout_ms passed
inline constexpr int kQueueUnavailable = 100204; ///< async store (Redis) unreachable: not accepted
inline constexpr int kTooManyCalls = 100205;     ///< more calls in one request than allowed
inline constexpr int kTooManyInflight = 100206;  ///< connection has too many requests in flight
inline constexpr int kModeNotAllowed = 100207;   ///< route does not serve this mode
inline constexpr int kDatabaseDown = 100208;     ///< no database connection could be had
inline constexpr int kShuttingDown = 100209;     ///< host is stopping
// Handler-level codes the SDK gives plugin authors (dora/sdk/error.h).
inline constexpr int kBadParam = 100210;
inline constexpr int kNotFound = 100211;
inline constexpr int kConflict = 100212;

} // namespace dora::protocol::code
