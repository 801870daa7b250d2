#include "pools/MySqlSessions.h"

#include "pools/MySqlErrors.h"
#include "protocol/PhpScan.h"

#include <dora/sdk/serialize.h>

#include <Poco/Logger.h>

#include <mysql/mysql.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <optional>
#include <stdexcept>
#include <unordered_map>

namespace dora::pools {

using dora::sdk::Value;

// ------------------------------------------------------------ parameters

namespace {

/// Reads the SDK's list encoding without building Values. Returns false on
/// anything it does not expect (the caller then takes the general decoder,
/// which also produces the precise error).
class FastParams {
public:
    explicit FastParams(std::string_view b) : _s(b) {}

    bool parse(SqlParams& out) {
        if (_s.lit("N;")) return _s.atEnd();
        std::size_t n = 0;
        if (!_s.header('a', n) || n > _s.rest().size()) return false; // each item takes bytes
        out.reserve(n);
        for (std::size_t k = 0; k < n; ++k) {
            if (!skipKey()) return false;
            SqlValue v;
            if (!value(v)) return false;
            out.push_back(v);
        }
        return _s.close() && _s.atEnd();
    }

private:
    bool skipKey() {
        if (_s.lit("i:")) {
            std::int64_t ignored = 0;
            return _s.int64(ignored, ';');
        }
        std::string_view ignored;
        return _s.string(ignored);
    }
    bool value(SqlValue& v) {
        switch (_s.peek()) {
        case 'N':
            return _s.lit("N;");
        case 'b':
            if (_s.lit("b:0;"))
                v = SqlValue::of(std::int64_t{0});
            else if (_s.lit("b:1;"))
                v = SqlValue::of(std::int64_t{1});
            else
                return false;
            return true;
        case 'i': {
            std::int64_t i = 0;
            if (!_s.lit("i:") || !_s.int64(i, ';')) return false;
            v = SqlValue::of(i);
            return true;
        }
        case 's': {
            std::string_view s;
            if (!_s.string(s)) return false;
            v = SqlValue::of(s);
            return true;
        }
        default:
            return false; // floats, arrays, anything odd: the general decoder
        }
    }

    protocol::PhpScan _s;
};

} // namespace

SqlParams paramsOf(const Value& list) {
    SqlParams out;
    if (list.isNull()) return out;
    if (!list.isArray()) throw std::invalid_argument("SQL parameters must be a list");
    out.reserve(list.asArray().size());
    for (const auto& e : list.asArray()) {
        const Value& v = e.value;
        switch (v.type()) {
        case Value::Type::Null:
            out.push_back(SqlValue::null());
            break;
        case Value::Type::Bool:
            out.push_back(SqlValue::of(std::int64_t{v.asBool() ? 1 : 0}));
            break;
        case Value::Type::Int:
            out.push_back(SqlValue::of(v.asInt()));
            break;
        case Value::Type::Float:
            out.push_back(SqlValue::of(v.asFloat()));
            break;
        case Value::Type::String:
            out.push_back(SqlValue::of(std::string_view(v.asString())));
            break;
        case Value::Type::Array:
            throw std::invalid_argument("an SQL parameter cannot be an array");
        }
    }
    return out;
}

ParamList::ParamList(std::string_view serialized) {
    if (serialized.empty()) return;
    if (FastParams(serialized).parse(_params)) return;
    _params.clear();
    _owner = dora::sdk::unserialize(serialized); // throws DecodeError
    _params = paramsOf(_owner);
}

// ------------------------------------------------------------ statements

namespace {

/// A prepared statement and the buffers its results are read into.
struct Prepared {
    MYSQL_STMT* stmt = nullptr;
    unsigned long paramCount = 0;
};

/// Per-connection LRU cache of prepared statements keyed by SQL text.
class StatementCache {
public:
    ~StatementCache() { clear(); }

    Prepared* find(std::string_view sql) {
        auto it = _index.find(sql);
        if (it == _index.end()) return nullptr;
        _lru.splice(_lru.begin(), _lru, it->second); // most recent first
        return &it->second->prepared;
    }

    Prepared* insert(std::string_view sql, MYSQL_STMT* stmt) {
        while (_lru.size() >= MySqlSessions::kStatementCacheSize)
            evict(std::prev(_lru.end()));
        _lru.push_front(Entry{std::string(sql), Prepared{stmt, mysql_stmt_param_count(stmt)}});
        _index.emplace(std::string_view(_lru.front().sql), _lru.begin());
        return &_lru.front().prepared;
    }

    void erase(std::string_view sql) {
        auto it = _index.find(sql);
        if (it != _index.end()) evict(it->second);
    }

    /// Closes every statement (COM_STMT_CLOSE has no reply: no round trip).
    void clear() {
        for (auto& e : _lru)
            mysql_stmt_close(e.prepared.stmt);
        _lru.clear();
        _index.clear();
    }

    /// Frees the statements without talking to the server (its connection
    /// is gone).
    void forget() { clear(); }

private:
    struct Entry {
        std::string sql;
        Prepared prepared;
    };
    using Iter = std::list<Entry>::iterator;
    void evict(Iter it) {
        mysql_stmt_close(it->prepared.stmt);
        _index.erase(std::string_view(it->sql));
        _lru.erase(it);
    }

    std::list<Entry> _lru;
    std::unordered_map<std::string_view, Iter> _index;
};

/// Statement errors whose cause may be the cached statement itself (a
/// table or column changed under it): prepare afresh next time.
bool staleStatement(int e) {
    return e == mysqlerr::kNoSuchTable || e == mysqlerr::kBadField ||
           e == mysqlerr::kNeedReprepare || e >= mysqlerr::kFirstClientError;
}

void setFailure(SqlFailure& f, unsigned int err, const char* text, const char* what) {
    f.mysqlErrno = static_cast<int>(err);
    f.message = text && *text ? std::string(text) : std::string(what) + " failed";
}

/// The error of a statement call: libmariadb keeps some (e.g. an error
/// packet met while reading rows) on the connection, not the statement.
void stmtFailure(MYSQL* mysql, MYSQL_STMT* stmt, SqlFailure& f, const char* what) {
    if (mysql_stmt_errno(stmt) != 0)
        setFailure(f, mysql_stmt_errno(stmt), mysql_stmt_error(stmt), what);
    else
        setFailure(f, mysql_errno(mysql), mysql_error(mysql), what);
}

std::string formatTime(const MYSQL_TIME& t, enum_field_types type) {
    char buf[40];
    if (type == MYSQL_TYPE_DATE || type == MYSQL_TYPE_NEWDATE)
        std::snprintf(buf, sizeof buf, "%04u-%02u-%02u", t.year, t.month, t.day);
    else if (type == MYSQL_TYPE_TIME)
        std::snprintf(buf, sizeof buf, "%s%02u:%02u:%02u", t.neg ? "-" : "", t.hour, t.minute,
                      t.second);
    else // DATETIME, TIMESTAMP: seconds precision, as the host always answered
        std::snprintf(buf, sizeof buf, "%04u-%02u-%02u %02u:%02u:%02u", t.year, t.month, t.day,
                      t.hour, t.minute, t.second);
    return buf;
}

/// How a result column is read.
enum class ColumnAs { Int, Float, Time, String, Null };

ColumnAs columnAs(enum_field_types t) {
    switch (t) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_YEAR:
        return ColumnAs::Int;
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE:
    case MYSQL_TYPE_DECIMAL:
    case MYSQL_TYPE_NEWDECIMAL:
        return ColumnAs::Float;
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_NEWDATE:
    case MYSQL_TYPE_TIME:
    case MYSQL_TYPE_DATETIME:
    case MYSQL_TYPE_TIMESTAMP:
        return ColumnAs::Time;
    case MYSQL_TYPE_NULL:
        return ColumnAs::Null;
    default:
        return ColumnAs::String;
    }
}

/// Result buffers, reused across statements of one connection.
struct ResultBuffers {
    std::vector<MYSQL_BIND> binds;
    std::vector<ColumnAs> as;
    std::vector<enum_field_types> types;
    std::vector<bool> isUnsigned;
    std::vector<std::int64_t> ints;
    std::vector<double> floats;
    std::vector<MYSQL_TIME> times;
    std::vector<std::string> strings;
    std::vector<unsigned long> lengths;
    std::vector<my_bool> nulls, errors;
    std::vector<std::string> timeText;
    std::vector<std::string_view> names;
    std::vector<SqlValue> cells;
};

} // namespace

// ------------------------------------------------------------ the pool

struct MySqlSessions::Slot {
    MYSQL* mysql = nullptr;
    bool inTransaction = false;
    StatementCache cache;
    std::vector<MYSQL_BIND> paramBinds;
    ResultBuffers result;
};

namespace {
Poco::Logger& logger() { return Poco::Logger::get("dorahost.mysql"); }
} // namespace

MySqlSessions::MySqlSessions(MySqlSettings settings, unsigned slots) : _settings(std::move(settings)) {
    // Once per process, before any thread calls mysql_init (which would
    // otherwise initialise the library itself, not thread-safely).
    mysql_library_init(0, nullptr, nullptr);
    _slots.reserve(slots);
    for (unsigned i = 0; i < slots; ++i)
        _slots.push_back(std::make_unique<Slot>());
    _prober = std::thread([this] { probeLoop(); });
}

MySqlSessions::~MySqlSessions() {
    {
        std::lock_guard<std::mutex> lock(_downMutex);
        _stopping = true;
    }
    _downCv.notify_all();
    _prober.join();
    for (unsigned i = 0; i < _slots.size(); ++i)
        drop(i);
}

std::string MySqlSessions::describe() const {
    return _settings.user + "@" + _settings.host + ":" + std::to_string(_settings.port) + "/" +
           _settings.database;
}

MYSQL* MySqlSessions::connect(SqlFailure& failure) const {
    MYSQL* m = mysql_init(nullptr);
    if (!m) {
        failure.message = "out of memory opening a MySQL connection";
        return nullptr;
    }
    // Every wait on the server is bounded: the connect (TCP and handshake),
    // and each read and write of a statement, so a server that stops
    // answering (frozen, or gone without a reset) costs a worker these
    // timeouts, not the rest of its life.
    unsigned int connectSec = static_cast<unsigned int>(_settings.connectTimeoutSec);
    unsigned int readSec = static_cast<unsigned int>(_settings.readTimeoutSec);
    unsigned int writeSec = static_cast<unsigned int>(_settings.writeTimeoutSec);
    my_bool reconnect = 0; // a lost connection is dropped and replaced here, never behind our back
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &connectSec);
    mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &readSec);
    mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &writeSec);
    mysql_options(m, MYSQL_OPT_RECONNECT, &reconnect);
    mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (!mysql_real_connect(m, _settings.host.c_str(), _settings.user.c_str(),
                            _settings.password.c_str(), _settings.database.c_str(), _settings.port,
                            nullptr, 0)) {
        failure.mysqlErrno = static_cast<int>(mysql_errno(m));
        failure.message = "database unavailable (" + describe() + "): " + mysql_error(m);
        mysql_close(m);
        return nullptr;
    }
    return m;
}

MySqlSessions::Slot* MySqlSessions::acquire(unsigned slot, SqlFailure& failure) {
    Slot& s = *_slots.at(slot);
    if (_down.load(std::memory_order_acquire)) {
        // The server could not be reached a moment ago: answer at once
        // instead of making every call wait for a connect timeout. A
        // connection this slot still holds goes too (the server rolls back
        // what it had open); the prober says when to try again.
        if (s.mysql) drop(slot);
        failure.dbDown = true;
        std::lock_guard<std::mutex> lock(_downMutex);
        failure.message = _downReason + " (not retried until a probe reaches it)";
        countError(0);
        return nullptr;
    }
    if (s.mysql) return &s;
    // Opened lazily, so workers that never touch MySQL hold nothing.
    s.mysql = connect(failure);
    if (s.mysql) {
        s.inTransaction = false;
        _connects.fetch_add(1, std::memory_order_relaxed);
        return &s;
    }
    failure.dbDown = true;
    _connectFailures.fetch_add(1, std::memory_order_relaxed);
    countError(failure.mysqlErrno);
    // The client library's own errors (2000 and up) mean the server was
    // not reached or did not answer; a server error (bad password, too many
    // connections) means it is there, and other slots' connections work.
    if (failure.mysqlErrno >= mysqlerr::kFirstClientError) markDown(failure.message);
    return nullptr;
}

void MySqlSessions::markDown(const std::string& reason) {
    {
        std::lock_guard<std::mutex> lock(_downMutex);
        _downReason = reason;
        if (_down.exchange(true, std::memory_order_acq_rel)) return;
        _downSince = std::chrono::steady_clock::now();
    }
    _downCv.notify_all(); // the prober says so in the log if its first probe fails too
}

bool MySqlSessions::down() const { return _down.load(std::memory_order_acquire); }

void MySqlSessions::probeLoop() {
    std::unique_lock<std::mutex> lock(_downMutex);
    bool first = true; // the first probe of an outage goes at once
    for (;;) {
        _downCv.wait(lock, [this] { return _stopping || _down.load(std::memory_order_acquire); });
        if (_stopping) return;
        if (!first && _downCv.wait_for(lock, std::chrono::milliseconds(kProbeIntervalMs),
                                       [this] { return _stopping; }))
            return;
        lock.unlock();
        // While down no slot holds a connection it uses and none connects,
        // so this one keeps the host within its one connection per slot.
        SqlFailure f;
        MYSQL* m = connect(f);
        if (m) mysql_close(m);
        lock.lock();
        // A server error (too many connections, access denied) still says
        // the server answers: let the slots see it themselves.
        if (m || (f.mysqlErrno != 0 && f.mysqlErrno < mysqlerr::kFirstClientError)) {
            _down.store(false, std::memory_order_release);
            // A connection that was merely stale (the server restarted, or
            // closed it after wait_timeout) passes its first probe: no
            // outage worth a line.
            if (!first) {
                auto secs =
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - _downSince);
                logger().information("the database (%s) answers again after %.1f s", describe(),
                                     secs.count());
            }
            first = true;
        } else {
            if (first)
                logger().warning("%s; calls that need the database answer 100208 at once until "
                                 "a probe (every %d ms) reaches it",
                                 f.message, kProbeIntervalMs);
            first = false;
            _downReason = f.message;
        }
    }
}

void MySqlSessions::drop(unsigned slot) {
    Slot& s = *_slots.at(slot);
    s.cache.forget();                  // before the handle they belong to goes
    if (s.mysql) mysql_close(s.mysql); // the next call reconnects
    s.mysql = nullptr;
    s.inTransaction = false;
}

/// Classifies a failure that already carries MySQL's errno and text; a
/// lost connection is dropped (with its prepared statements).
void MySqlSessions::countError(int mysqlErrno) {
    std::lock_guard<std::mutex> lock(_errorsMutex);
    ++_errors[mysqlErrno];
}

std::map<int, std::uint64_t> MySqlSessions::errorsByErrno() const {
    std::lock_guard<std::mutex> lock(_errorsMutex);
    return _errors;
}

void MySqlSessions::fail(unsigned slot, SqlFailure& failure) {
    countError(failure.mysqlErrno);
    if (mysqlerr::isConnectionError(failure.mysqlErrno)) {
        failure.dbDown = true;
        drop(slot);
        // Other slots' connections most likely went the same way (a
        // restart), or would hang the same way (a server that stopped
        // answering): ask the prober before any of them tries. A server
        // that is there answers its first probe within a round trip.
        markDown("database unavailable (" + describe() + "): " + failure.message);
    } else if (failure.mysqlErrno >= mysqlerr::kFirstClientError) {
        // The client library lost track of the protocol (e.g. commands out
        // of sync): the connection cannot be trusted any more.
        drop(slot);
    }
}

bool MySqlSessions::textQuery(unsigned slot, std::string_view sql, ExecResult* result,
                          SqlFailure& failure) {
    failure = SqlFailure{};
    Slot* s = acquire(slot, failure);
    if (!s) return false;
    if (mysql_real_query(s->mysql, sql.data(), static_cast<unsigned long>(sql.size())) != 0) {
        setFailure(failure, mysql_errno(s->mysql), mysql_error(s->mysql), "query");
        fail(slot, failure);
        return false;
    }
    // A statement that produced rows anyway (exec of a SELECT): drain them.
    if (MYSQL_RES* res = mysql_store_result(s->mysql)) mysql_free_result(res);
    if (result) {
        my_ulonglong affected = mysql_affected_rows(s->mysql);
        result->affected = affected == static_cast<my_ulonglong>(-1) ? 0 : affected;
        result->insertId = mysql_insert_id(s->mysql);
    }
    return true;
}

namespace {

/// Binds params to a prepared statement's placeholders and runs it.
bool execute(MYSQL* mysql, const Prepared& p, const SqlParams& params,
             std::vector<MYSQL_BIND>& binds, SqlFailure& failure) {
    if (params.size() != p.paramCount) {
        failure.message = "the statement has " + std::to_string(p.paramCount) +
                          " placeholders but " + std::to_string(params.size()) +
                          " parameters were given";
        return false;
    }
    binds.assign(params.size(), MYSQL_BIND{});
    for (std::size_t i = 0; i < params.size(); ++i) {
        const SqlValue& v = params[i];
        MYSQL_BIND& b = binds[i];
        switch (v.kind) {
        case SqlValue::Kind::Null:
            b.buffer_type = MYSQL_TYPE_NULL;
            break;
        case SqlValue::Kind::Int:
            b.buffer_type = MYSQL_TYPE_LONGLONG;
            b.buffer = const_cast<std::int64_t*>(&v.i);
            break;
        case SqlValue::Kind::Float:
            b.buffer_type = MYSQL_TYPE_DOUBLE;
            b.buffer = const_cast<double*>(&v.d);
            break;
        case SqlValue::Kind::String:
            b.buffer_type = MYSQL_TYPE_STRING;
            b.buffer = const_cast<char*>(v.s.data());
            b.buffer_length = static_cast<unsigned long>(v.s.size());
            break;
        }
    }
    if ((!binds.empty() && mysql_stmt_bind_param(p.stmt, binds.data())) ||
        mysql_stmt_execute(p.stmt)) {
        stmtFailure(mysql, p.stmt, failure, "statement");
        return false;
    }
    return true;
}

/// Reads every row of an executed statement into sink.
bool readRows(MYSQL* mysql, MYSQL_STMT* stmt, ResultBuffers& rb, RowSink& sink,
              SqlFailure& failure) {
    MYSQL_RES* meta = mysql_stmt_result_metadata(stmt);
    if (!meta) { // no result set (e.g. an INSERT run through query)
        sink.start({}, 0);
        return true;
    }
    // Buffered: the whole result is read before the first row is used, so
    // an error in the middle (a lock conflict of a locking read) is seen
    // here, with its errno, and no half result reaches the caller.
    if (mysql_stmt_store_result(stmt)) {
        mysql_free_result(meta);
        stmtFailure(mysql, stmt, failure, "reading the result");
        return false;
    }
    unsigned int n = mysql_num_fields(meta);
    MYSQL_FIELD* fields = mysql_fetch_fields(meta);
    rb.binds.assign(n, MYSQL_BIND{});
    rb.as.resize(n);
    rb.types.resize(n);
    rb.isUnsigned.resize(n);
    rb.ints.resize(n);
    rb.floats.resize(n);
    rb.times.resize(n);
    rb.strings.resize(n);
    rb.lengths.assign(n, 0);
    rb.nulls.assign(n, 0);
    rb.errors.assign(n, 0);
    rb.timeText.resize(n);
    rb.names.resize(n);
    rb.cells.resize(n);
    for (unsigned int c = 0; c < n; ++c) {
        MYSQL_BIND& b = rb.binds[c];
        rb.names[c] = std::string_view(fields[c].name, fields[c].name_length);
        rb.types[c] = fields[c].type;
        rb.as[c] = columnAs(fields[c].type);
        rb.isUnsigned[c] = (fields[c].flags & UNSIGNED_FLAG) != 0;
        b.is_null = &rb.nulls[c];
        b.length = &rb.lengths[c];
        b.error = &rb.errors[c];
        switch (rb.as[c]) {
        case ColumnAs::Int:
            b.buffer_type = MYSQL_TYPE_LONGLONG;
            b.buffer = &rb.ints[c];
            b.is_unsigned = rb.isUnsigned[c];
            break;
        case ColumnAs::Float:
            b.buffer_type = MYSQL_TYPE_DOUBLE;
            b.buffer = &rb.floats[c];
            break;
        case ColumnAs::Time:
            b.buffer_type = MYSQL_TYPE_DATETIME;
            b.buffer = &rb.times[c];
            break;
        case ColumnAs::Null:
            b.buffer_type = MYSQL_TYPE_NULL;
            break;
        case ColumnAs::String:
            if (rb.strings[c].size() < 256) rb.strings[c].resize(256);
            b.buffer_type = MYSQL_TYPE_STRING;
            b.buffer = rb.strings[c].data();
            b.buffer_length = static_cast<unsigned long>(rb.strings[c].size());
            break;
        }
    }
    mysql_free_result(meta);
    bool ok = true;
    if (mysql_stmt_bind_result(stmt, rb.binds.data())) {
        stmtFailure(mysql, stmt, failure, "binding the result");
        ok = false;
    }
    if (ok) sink.start(rb.names, static_cast<std::size_t>(mysql_stmt_num_rows(stmt)));
    while (ok) {
        int rc = mysql_stmt_fetch(stmt);
        if (rc == MYSQL_NO_DATA) break;
        if (rc == 1) {
            stmtFailure(mysql, stmt, failure, "fetching a row");
            ok = false;
            break;
        }
        for (unsigned int c = 0; c < n; ++c) {
            SqlValue& cell = rb.cells[c];
            if (rb.nulls[c]) {
                cell = SqlValue::null();
                continue;
            }
            switch (rb.as[c]) {
            case ColumnAs::Int:
                cell = SqlValue::of(rb.ints[c]);
                break; // ids and counters fit int64
            case ColumnAs::Float:
                cell = SqlValue::of(rb.floats[c]);
                break;
            case ColumnAs::Null:
                cell = SqlValue::null();
                break;
            case ColumnAs::Time:
                rb.timeText[c] = formatTime(rb.times[c], rb.types[c]);
                cell = SqlValue::of(std::string_view(rb.timeText[c]));
                break;
            case ColumnAs::String:
                if (rb.lengths[c] > rb.strings[c].size()) {
                    // Longer than the buffer: fetch this column again, whole.
                    rb.strings[c].resize(rb.lengths[c]);
                    MYSQL_BIND& b = rb.binds[c];
                    b.buffer = rb.strings[c].data();
                    b.buffer_length = static_cast<unsigned long>(rb.strings[c].size());
                    if (mysql_stmt_fetch_column(stmt, &b, c, 0)) {
                        stmtFailure(mysql, stmt, failure, "fetching a long column");
                        ok = false;
                        break;
                    }
                }
                cell = SqlValue::of(std::string_view(rb.strings[c].data(), rb.lengths[c]));
                break;
            }
        }
        if (!ok) break;
        if (rc == MYSQL_DATA_TRUNCATED) {
            // Only string columns can be longer than their buffers, and
            // those were re-fetched above; rebind for the next row.
            mysql_stmt_bind_result(stmt, rb.binds.data());
        }
        sink.row(rb.cells);
    }
    mysql_stmt_free_result(stmt);
    return ok;
}

/// Finds sql in the cache or prepares it (one COM_STMT_PREPARE, once per
/// connection). Null + failure when the server refuses it.
Prepared* prepared(MYSQL* mysql, StatementCache& cache, std::string_view sql, SqlFailure& failure) {
    if (Prepared* p = cache.find(sql)) return p;
    for (int attempt = 0; attempt < 2; ++attempt) {
        MYSQL_STMT* stmt = mysql_stmt_init(mysql);
        if (!stmt) {
            failure.message = "out of memory preparing a statement";
            return nullptr;
        }
        if (mysql_stmt_prepare(stmt, sql.data(), static_cast<unsigned long>(sql.size())) == 0)
            return cache.insert(sql, stmt);
        stmtFailure(mysql, stmt, failure, "prepare");
        mysql_stmt_close(stmt);
        // The server's statement limit (shared by every client): give ours
        // back and try once more.
        if (failure.mysqlErrno != mysqlerr::kTooManyPrepared) break;
        cache.clear();
    }
    return nullptr;
}

} // namespace

bool MySqlSessions::query(unsigned slot, std::string_view sql, const SqlParams& params, RowSink& rows,
                      SqlFailure& failure) {
    failure = SqlFailure{};
    Slot* s = acquire(slot, failure);
    if (!s) return false;
    Prepared* p = prepared(s->mysql, s->cache, sql, failure);
    if (p && execute(s->mysql, *p, params, s->paramBinds, failure) &&
        readRows(s->mysql, p->stmt, s->result, rows, failure))
        return true;
    if (p && staleStatement(failure.mysqlErrno)) s->cache.erase(sql);
    fail(slot, failure);
    return false;
}

bool MySqlSessions::exec(unsigned slot, std::string_view sql, const SqlParams& params,
                     ExecResult& result, SqlFailure& failure) {
    // Without parameters one text query does it: no prepare, no cache entry
    // (BEGIN, SAVEPOINT, DDL, the ledger's pruning...).
    if (params.empty()) return textQuery(slot, sql, &result, failure);
    failure = SqlFailure{};
    Slot* s = acquire(slot, failure);
    if (!s) return false;
    Prepared* p = prepared(s->mysql, s->cache, sql, failure);
    if (p && execute(s->mysql, *p, params, s->paramBinds, failure)) {
        // A statement that returned rows anyway must be drained before the
        // connection can run the next one.
        if (mysql_stmt_field_count(p->stmt) > 0) {
            mysql_stmt_store_result(p->stmt);
            mysql_stmt_free_result(p->stmt);
        }
        my_ulonglong affected = mysql_stmt_affected_rows(p->stmt);
        result.affected = affected == static_cast<my_ulonglong>(-1) ? 0 : affected;
        result.insertId = mysql_stmt_insert_id(p->stmt);
        return true;
    }
    if (p && staleStatement(failure.mysqlErrno)) s->cache.erase(sql);
    fail(slot, failure);
    return false;
}

namespace {

/// Rows as a Value list of arrays column => value.
class ValueRows : public RowSink {
public:
    explicit ValueRows(Value& out) : _out(out) { _out = Value::array(); }
    void start(const std::vector<std::string_view>& columns, std::size_t) override {
        _names.assign(columns.begin(), columns.end());
    }
    void row(const std::vector<SqlValue>& cells) override {
        Value r = Value::array();
        for (std::size_t c = 0; c < cells.size(); ++c) {
            const SqlValue& v = cells[c];
            switch (v.kind) {
            case SqlValue::Kind::Null:
                r.set(_names[c], Value());
                break;
            case SqlValue::Kind::Int:
                r.set(_names[c], Value(v.i));
                break;
            case SqlValue::Kind::Float:
                r.set(_names[c], Value(v.d));
                break;
            case SqlValue::Kind::String:
                r.set(_names[c], Value(std::string(v.s)));
                break;
            }
        }
        _out.push(std::move(r));
    }

private:
    Value& _out;
    std::vector<std::string> _names;
};

/// paramsOf, with a bad parameter list reported as the statement's failure.
bool readParams(const Value& params, SqlParams& out, SqlFailure& failure) {
    try {
        out = paramsOf(params);
        return true;
    } catch (const std::exception& e) {
        failure = SqlFailure{};
        failure.message = e.what();
        return false;
    }
}

} // namespace

bool MySqlSessions::query(unsigned slot, std::string_view sql, const Value& params, Value& rows,
                      SqlFailure& failure) {
    SqlParams p;
    if (!readParams(params, p, failure)) return false;
    ValueRows sink(rows);
    return query(slot, sql, p, sink, failure);
}

bool MySqlSessions::exec(unsigned slot, std::string_view sql, const Value& params, ExecResult& result,
                     SqlFailure& failure) {
    SqlParams p;
    if (!readParams(params, p, failure)) return false;
    return exec(slot, sql, p, result, failure);
}

// Autocommit stays on: START TRANSACTION suspends it until COMMIT or
// ROLLBACK, so a transaction costs one round trip at each end and a
// statement after it can never be left uncommitted on a pooled connection.
bool MySqlSessions::begin(unsigned slot, SqlFailure& failure) {
    if (!textQuery(slot, "START TRANSACTION", nullptr, failure)) return false;
    _slots[slot]->inTransaction = true;
    return true;
}

bool MySqlSessions::commit(unsigned slot, SqlFailure& failure) {
    bool ok = textQuery(slot, "COMMIT", nullptr, failure); // a failed COMMIT has rolled back
    _slots[slot]->inTransaction = false;
    return ok;
}

bool MySqlSessions::rollback(unsigned slot, SqlFailure& failure) {
    bool ok = textQuery(slot, "ROLLBACK", nullptr, failure);
    _slots[slot]->inTransaction = false;
    return ok;
}

bool MySqlSessions::inTransaction(unsigned slot) const { return _slots.at(slot)->inTransaction; }

std::size_t MySqlSessions::connectionsHeld() const {
    std::size_t held = 0;
    for (const auto& s : _slots)
        if (s->mysql) ++held;
    return held;
}

} // namespace dora::pools
