// dora/sdk/error.h — the errors a handler reports, and the one place the
// SDK's error codes are defined.
//
// A handler fails by throwing. The SDK catches everything at the plugin
// boundary (nothing ever unwinds into the host) and answers the call with
// call_set_error:
//   * Error{code, message}  -> that code and message, as given;
//   * SqlError              -> kHandlerFailed and the database's message,
//                              or kDatabaseDown "database unavailable" if
//                              the host could not lend a connection;
//   * any other exception   -> kHandlerFailed, "handler '<api>' failed: ..."
#ifndef DORA_SDK_ERROR_H
#define DORA_SDK_ERROR_H

#include <dora/sdk/abi.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace dora::sdk {

/// Handler error codes the SDK and the sample plugins use. They sit in the
/// host's range (100200-100299, see PROTOCOL.md §5) and reach clients as
/// the handler result's code.
/// 100201: the handler failed: an exception other than Error, a failed
///         SQL statement, no answer given.
constexpr std::int32_t kHandlerFailed = 100201;
/// 100208: no database connection could be had (the host's own code for
///         it, reused so clients see one code for "database down").
constexpr std::int32_t kDatabaseDown = 100208;
/// 100210: a parameter is missing, of the wrong type or out of range.
constexpr std::int32_t kBadParam = 100210;
/// 100211: the thing the call names does not exist.
constexpr std::int32_t kNotFound = 100211;
/// 100212: the thing the call would create already exists.
constexpr std::int32_t kConflict = 100212;
/// 100213: no Redis connection could be had for a handler's Redis call
///         (ABI 1.2; the host's code for it).
constexpr std::int32_t kRedisDown = 100213;

/// A handler's answer that is an error. Throw it from a handler; the SDK
/// turns it into call_set_error(code, message). The message reaches the
/// client: say what was wrong with the call, not how the plugin works.
class Error : public std::runtime_error {
public:
    Error(std::int32_t code, const std::string& message)
        : std::runtime_error(message), _code(code) {}
    std::int32_t code() const noexcept { return _code; }

private:
    std::int32_t _code;
};

/// A failed SQL call (thrown by Sql, see sql.h). Uncaught, it answers the
/// call with kHandlerFailed and the database's message (kDatabaseDown when
/// the status is DORA_ERR_DB_DOWN). Catch it to turn a known failure into a
/// business error, e.g. isDuplicateKey() -> kConflict.
class SqlError : public Error {
public:
    /// MySQL's "Duplicate entry" error number.
    static constexpr int kErDupEntry = 1062;

    /// status: the host's DORA_ERR_* status; sqlErrno: MySQL's error number
    /// (0 when the failure was not the server's).
    SqlError(std::int32_t status, int sqlErrno, const std::string& message)
        : Error(status == DORA_ERR_DB_DOWN ? kDatabaseDown : kHandlerFailed, message),
          _status(status), _errno(sqlErrno) {}

    /// The host's status for the failed call (DORA_ERR_SQL, DORA_ERR_DB_DOWN...).
    std::int32_t status() const noexcept { return _status; }
    /// MySQL's error number, 0 if none.
    int sqlErrno() const noexcept { return _errno; }
    bool isDuplicateKey() const noexcept { return _errno == kErDupEntry; }

private:
    std::int32_t _status;
    int _errno;
};

/// A failed Redis call (thrown by Redis, see redis.h). status
/// DORA_ERR_REDIS: Redis answered with an error reply (the message is its
/// text, e.g. "WRONGTYPE ..."), and the call answers kHandlerFailed if
/// uncaught. DORA_ERR_REDIS_DOWN: no connection could be had, or it broke;
/// uncaught, the call answers kRedisDown "Redis unavailable".
class RedisError : public Error {
public:
    RedisError(std::int32_t status, const std::string& message)
        : Error(status == DORA_ERR_REDIS_DOWN ? kRedisDown : kHandlerFailed, message),
          _status(status) {}
    std::int32_t status() const noexcept { return _status; }
    /// True when Redis was unreachable (not an error reply).
    bool isDown() const noexcept { return _status == DORA_ERR_REDIS_DOWN; }

private:
    std::int32_t _status;
};

} // namespace dora::sdk

#endif // DORA_SDK_ERROR_H
