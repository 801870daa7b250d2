// pools/MySqlErrors.h — the MySQL/MariaDB error numbers the host acts on,
// named once, and the one retry policy for lock conflicts. Everything that
// decides "the connection is gone", "lost a deadlock" or "the ledger table
// is missing" asks here instead of comparing literals.
#pragma once

#include <chrono>
#include <thread>

namespace dora::pools::mysqlerr {

// Server errors (include/mysqld_error.h).
constexpr int kDuplicateKey = 1062;     ///< ER_DUP_ENTRY
constexpr int kLockWaitTimeout = 1205;  ///< ER_LOCK_WAIT_TIMEOUT
constexpr int kDeadlock = 1213;         ///< ER_LOCK_DEADLOCK
constexpr int kNoSuchTable = 1146;      ///< ER_NO_SUCH_TABLE
constexpr int kBadField = 1054;         ///< ER_BAD_FIELD_ERROR
constexpr int kNeedReprepare = 1615;    ///< ER_NEED_REPREPARE
constexpr int kTooManyPrepared = 1461;  ///< ER_MAX_PREPARED_STMT_COUNT_REACHED
constexpr int kServerShutdown = 1053;   ///< ER_SERVER_SHUTDOWN
constexpr int kConnectionKilled = 1927; ///< ER_CONNECTION_KILLED (MariaDB)

// Client library errors (include/errmsg.h): 2000 and up.
constexpr int kFirstClientError = 2000;
constexpr int kConnectionError = 2002;    ///< CR_CONNECTION_ERROR
constexpr int kConnHostError = 2003;      ///< CR_CONN_HOST_ERROR
constexpr int kServerGone = 2006;         ///< CR_SERVER_GONE_ERROR
constexpr int kServerLost = 2013;         ///< CR_SERVER_LOST
constexpr int kServerLostExtended = 2055; ///< CR_SERVER_LOST_EXTENDED

/// The connection is unusable and the server probably away: the statement
/// did not run (or its outcome is unknown) and a reconnect is needed.
constexpr bool isConnectionError(int e) {
    return e == kServerGone || e == kServerLost || e == kConnHostError || e == kConnectionError ||
           e == kServerLostExtended || e == kConnectionKilled || e == kServerShutdown;
}

/// InnoDB chose this transaction as a deadlock victim or it waited too
/// long for a row lock: the work may be rolled back (a deadlock rolls back
/// the whole transaction) and is worth running again.
constexpr bool isLockConflict(int e) { return e == kDeadlock || e == kLockWaitTimeout; }

} // namespace dora::pools::mysqlerr

namespace dora::pools {

/// The single retry policy for work that lost a lock conflict: a sync
/// handler re-run by plugins::invoke and a queue batch re-run by the batch
/// runner both ask it. Attempts are counted from 1.
struct LockConflictRetry {
    static constexpr int kMaxAttempts = 8;

    static bool shouldRetry(int attempt) { return attempt < kMaxAttempts; }
    /// A short, growing pause so the winner of the conflict can commit
    /// before the loser tries again (1, 3, 7, ... ms, capped at 50 ms).
    static void pause(int attempt) {
        int ms = (1 << (attempt < 6 ? attempt : 6)) - 1;
        std::this_thread::sleep_for(std::chrono::milliseconds(ms < 50 ? ms : 50));
    }
};

} // namespace dora::pools
