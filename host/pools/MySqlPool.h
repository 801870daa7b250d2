// pools/MySqlPool.h — the host's MySQL connections: one Poco::Data session
// per task worker, opened on first use and kept across calls, so the host
// never holds more connections than workers and no call pays for a pool
// round trip; a session whose connection failed is closed and replaced on
// next use. (Not Poco's SessionPool: it takes a session back as long as
// its connection was once open, so after a MySQL restart it handed out
// dead sessions for ever.)
#pragma once

#include <dora/sdk/value.h>

#include <Poco/Data/Session.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace dora::pools {

struct MySqlSettings {
    std::string host = "127.0.0.1";
    std::uint16_t port = 3306;
    std::string user;
    std::string password;
    std::string database;
    int connectTimeoutSec = 5;
};

/// What went wrong with a statement.
struct SqlFailure {
    int mysqlErrno = 0;    ///< 0 when not from the server (e.g. no connection)
    bool dbDown = false;   ///< no connection could be had / it was lost
    std::string message;
};

struct ExecResult {
    std::uint64_t affected = 0;
    std::uint64_t insertId = 0;
};

class MySqlPool {
public:
    /// slots = the number of task workers (the pool's maximum size).
    MySqlPool(MySqlSettings settings, unsigned slots);
    ~MySqlPool();

    /// Runs a statement with '?' placeholders bound to the list `params`
    /// on the session of worker `slot`. Rows come back as a list of
    /// arrays column => value. False + failure on error; a lost
    /// connection is dropped so the next call reconnects.
    bool query(unsigned slot, const std::string& sql, const dora::sdk::Value& params,
               dora::sdk::Value& rows, SqlFailure& failure);
    bool exec(unsigned slot, const std::string& sql, const dora::sdk::Value& params,
              ExecResult& result, SqlFailure& failure);
    bool begin(unsigned slot, SqlFailure& failure);
    bool commit(unsigned slot, SqlFailure& failure);
    bool rollback(unsigned slot, SqlFailure& failure);
    /// True if worker `slot` has a transaction open (to roll it back when
    /// a handler forgot to end it).
    bool inTransaction(unsigned slot) const;

    /// Connections the host holds now (one per worker that used one).
    std::size_t connectionsHeld() const;
    std::string describe() const; ///< "user@host:port/db" for logs

private:
    struct Slot {
        std::optional<Poco::Data::Session> session;
        bool inTransaction = false;
    };
    Poco::Data::Session* acquire(unsigned slot, SqlFailure& failure);
    void drop(unsigned slot);
    template <class F> bool run(unsigned slot, SqlFailure& failure, F&& f);

    MySqlSettings _settings;
    std::string _connectionString;
    std::vector<Slot> _slots;
};

} // namespace dora::pools
