// pools/MySqlSessions.h — the host's MySQL connections (pools::SqlSessions,
// SqlSessions.h, is what their users see): one session per task
// worker, opened on first use and kept across calls, so the host never
// holds more connections than workers and no call pays for a pool round
// trip; a session whose connection failed is closed and replaced on next
// use. (Not Poco's SessionPool: it takes a session back as long as its
// connection was once open, so after a MySQL restart it handed out dead
// sessions for ever.)
//
// Connections and statements use the MariaDB C API directly. Why not
// Poco::Data: its sessions set no read or write timeout (a frozen server
// held a worker for ever), and each statement was a prepare, an execute and a close
// (three round trips and a server-side parse per call, more than the
// single INSERT a plain client sends), plus getProperty/autocommit round
// trips around transactions. Here a statement with parameters is prepared
// once per connection and kept in a small cache keyed by its SQL text, so
// a call costs one COM_STMT_EXECUTE; parameterless statements (BEGIN,
// SAVEPOINT, DDL) go as one text query; transactions are START
// TRANSACTION / COMMIT / ROLLBACK with autocommit left on. Rows are
// buffered (mysql_stmt_store_result) and an error met while reading them
// keeps its errno: Poco's unbuffered fetch reported a deadlock or lock wait
// timeout hitting a locking read mid-result as "mysql_stmt_fetch error",
// errno 0 (libmariadb leaves the error on the MYSQL handle, not the
// statement), so the caller could not tell a lock conflict from a bug.
//
// A server that cannot be reached (a connect fails with a client error:
// refused, timed out, no handshake) puts the whole pool "down": every call
// that needs the database then fails at once with dbDown (the call answers
// 100208) instead of each waiting for its own connect timeout, and the
// connections slots still hold are closed. One background thread probes
// the server every kProbeIntervalMs; the first connect that succeeds puts
// the pool up again and slots reconnect on their next use.
//
/// Threading: a slot is used by one worker at a time (the worker whose
/// index it is); different slots may be used concurrently.
#pragma once

#include "pools/SqlSessions.h"

#include <dora/sdk/value.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

struct st_mysql; // MYSQL of the MariaDB C API

namespace dora::pools {

struct MySqlSettings {
    std::string host = "127.0.0.1";
    std::uint16_t port = 3306;
    std::string user;
    std::string password;
    std::string database;
    int connectTimeoutSec = 5; ///< TCP connect and handshake
    int readTimeoutSec = 60;   ///< each wait for the server's reply
    int writeTimeoutSec = 60;  ///< each wait to send a statement
};

/// Parameters decoded from the SDK's PHP-serialized list ("a:N:{i:0;...}"),
/// the bytes a plugin hands to sql_query/sql_exec. Strings point into those
/// bytes (or into an owned copy for unusual encodings), so no Value tree is
/// built on the hot path. Throws std::invalid_argument on bad input.
class ParamList {
public:
    explicit ParamList(std::string_view serialized);
    const SqlParams& params() const { return _params; }

private:
    SqlParams _params;
    dora::sdk::Value _owner; ///< only used by the slow path
};

/// SqlParams viewing a Value list (host code: the queue's ledger). The
/// Value must outlive the result. Throws std::invalid_argument.
SqlParams paramsOf(const dora::sdk::Value& list);

class MySqlSessions final : public SqlSessions {
public:
    /// slots = the number of task workers (the pool's maximum size).
    MySqlSessions(MySqlSettings settings, unsigned slots);
    ~MySqlSessions();
    MySqlSessions(const MySqlSessions&) = delete;
    MySqlSessions& operator=(const MySqlSessions&) = delete;

    /// Runs a statement with '?' placeholders bound to `params` on the
    /// session of worker `slot`. False + failure on error; a lost
    /// connection is dropped so the next call reconnects.
    bool query(unsigned slot, std::string_view sql, const SqlParams& params, RowSink& rows,
               SqlFailure& failure) override;
    bool exec(unsigned slot, std::string_view sql, const SqlParams& params, ExecResult& result,
              SqlFailure& failure) override;

    /// Value-based forms for host code: rows come back as a list of arrays
    /// column => value.
    bool query(unsigned slot, std::string_view sql, const dora::sdk::Value& params,
               dora::sdk::Value& rows, SqlFailure& failure);
    bool exec(unsigned slot, std::string_view sql, const dora::sdk::Value& params,
              ExecResult& result, SqlFailure& failure);

    bool begin(unsigned slot, SqlFailure& failure) override;
    bool commit(unsigned slot, SqlFailure& failure) override;
    bool rollback(unsigned slot, SqlFailure& failure) override;
    /// True if worker `slot` has a transaction open (to roll it back when
    /// a handler forgot to end it).
    bool inTransaction(unsigned slot) const override;

    /// Connections the host holds now (one per worker that used one).
    std::size_t connectionsHeld() const;
    /// True while the server is unreachable (calls fail at once).
    bool down() const;
    std::string describe() const; ///< "user@host:port/db" for logs

    /// Connections opened and attempts that failed, since start.
    std::uint64_t connects() const { return _connects.load(std::memory_order_relaxed); }
    std::uint64_t connectFailures() const { return _connectFailures.load(std::memory_order_relaxed); }
    /// Failed statements by MySQL errno (0: no connection could be had).
    /// Counted on the failure path only, under a lock of its own.
    std::map<int, std::uint64_t> errorsByErrno() const;

    /// Prepared statements kept per connection (least recently used go
    /// first). Batches build their SQL from the batch size, so a few dozen
    /// texts per route are normal; the bound keeps 50 connections well
    /// under the server's max_prepared_stmt_count (16382 by default).
    static constexpr std::size_t kStatementCacheSize = 64;
    /// How often the prober tries to reach a server found unreachable.
    static constexpr int kProbeIntervalMs = 250;

private:
    struct Slot;
    Slot* acquire(unsigned slot, SqlFailure& failure);
    /// A new connection with every timeout set; null + failure if none.
    st_mysql* connect(SqlFailure& failure) const;
    void markDown(const std::string& reason);
    void probeLoop();
    void drop(unsigned slot);
    void fail(unsigned slot, SqlFailure& failure);
    bool textQuery(unsigned slot, std::string_view sql, ExecResult* result, SqlFailure& failure);

    void countError(int mysqlErrno);

    MySqlSettings _settings;
    std::atomic<std::uint64_t> _connects{0}, _connectFailures{0};
    mutable std::mutex _errorsMutex;
    std::map<int, std::uint64_t> _errors;
    std::vector<std::unique_ptr<Slot>> _slots;

    std::atomic<bool> _down{false};
    mutable std::mutex _downMutex; ///< guards what follows
    std::condition_variable _downCv;
    std::string _downReason;
    std::chrono::steady_clock::time_point _downSince;
    bool _stopping = false;
    std::thread _prober;
};

} // namespace dora::pools
