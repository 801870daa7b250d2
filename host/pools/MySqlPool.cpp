#include "pools/MySqlPool.h"

#include <Poco/Data/MySQL/Connector.h>
#include <Poco/Data/MySQL/MySQLException.h>
#include <Poco/Data/RecordSet.h>
#include <Poco/Data/Statement.h>
#include <Poco/DateTime.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/Data/LOB.h>
#include <Poco/Data/Date.h>
#include <Poco/Data/Time.h>
#include <Poco/Logger.h>

#include <mysql/errmsg.h>

#include <cstdlib>
#include <cstring>

namespace dora::pools {

using dora::sdk::Value;
using namespace Poco::Data::Keywords;

namespace {

bool isConnectionError(int err) {
    return err == CR_SERVER_GONE_ERROR || err == CR_SERVER_LOST || err == CR_CONN_HOST_ERROR ||
           err == CR_CONNECTION_ERROR || err == CR_SERVER_LOST_EXTENDED || err == 1927 /* ER_CONNECTION_KILLED */ ||
           err == 1053 /* ER_SERVER_SHUTDOWN */;
}

void bindParams(Poco::Data::Statement& stmt, const Value& params) {
    if (params.isNull()) return;
    if (!params.isArray()) throw std::invalid_argument("SQL parameters must be a list");
    for (const auto& e : params.asArray()) {
        const Value& v = e.value;
        switch (v.type()) {
        case Value::Type::Null: stmt.addBind(use(Poco::Data::Keywords::null)); break;
        case Value::Type::Bool: stmt.addBind(bind(static_cast<Poco::Int64>(v.asBool() ? 1 : 0))); break;
        case Value::Type::Int: stmt.addBind(bind(static_cast<Poco::Int64>(v.asInt()))); break;
        case Value::Type::Float: stmt.addBind(bind(v.asFloat())); break;
        case Value::Type::String: stmt.addBind(bind(v.asString())); break;
        case Value::Type::Array: throw std::invalid_argument("an SQL parameter cannot be an array");
        }
    }
}

Value toValue(const Poco::Dynamic::Var& var) {
    if (var.isEmpty()) return Value();
    if (var.isInteger()) {
        if (var.isSigned()) return Value(var.convert<Poco::Int64>());
        auto u = var.convert<Poco::UInt64>();
        return Value(static_cast<std::int64_t>(u)); // ids and counters fit int64
    }
    if (var.isNumeric()) return Value(var.convert<double>());
    if (var.isBoolean()) return Value(var.convert<bool>());
    if (var.type() == typeid(Poco::Data::BLOB)) {
        const auto& b = var.extract<Poco::Data::BLOB>();
        return Value(std::string(reinterpret_cast<const char*>(b.rawContent()), b.size()));
    }
    if (var.type() == typeid(Poco::DateTime))
        return Value(Poco::DateTimeFormatter::format(var.extract<Poco::DateTime>(), "%Y-%m-%d %H:%M:%S"));
    if (var.type() == typeid(Poco::Data::Date)) {
        const auto& d = var.extract<Poco::Data::Date>();
        return Value(Poco::DateTimeFormatter::format(Poco::DateTime(d.year(), d.month(), d.day()), "%Y-%m-%d"));
    }
    return Value(var.convert<std::string>());
}

// Poco's MySQL exceptions carry the server's errno and text only inside
// their message ("[mysql_stmt_errno]: 1062 ..."); take both out so plugins
// get MySQL's own number and a readable sentence.
void parseMysqlMessage(const std::string& text, SqlFailure& f) {
    for (const char* key : {"[mysql_stmt_errno]: ", "[mysql_errno]: "}) {
        auto at = text.find(key);
        if (at != std::string::npos) {
            f.mysqlErrno = std::atoi(text.c_str() + at + std::strlen(key));
            if (f.mysqlErrno != 0) break;
        }
    }
    for (const char* key : {"[mysql_stmt_error]: ", "[mysql_error]: "}) {
        auto at = text.find(key);
        if (at == std::string::npos) continue;
        at += std::strlen(key);
        auto end = text.find('\t', at);
        std::string m = text.substr(at, end == std::string::npos ? std::string::npos : end - at);
        if (!m.empty()) {
            f.message = m;
            return;
        }
    }
    f.message = text;
}

} // namespace

MySqlPool::MySqlPool(MySqlSettings settings, unsigned slots)
    : _settings(std::move(settings)), _slots(slots) {
    Poco::Data::MySQL::Connector::registerConnector();
    _connectionString = "host=" + _settings.host + ";port=" + std::to_string(_settings.port) +
                        ";user=" + _settings.user + ";password=" + _settings.password + ";db=" +
                        _settings.database + ";compress=false;auto-reconnect=false;character-set=utf8mb4";
}

MySqlPool::~MySqlPool() {
    for (auto& s : _slots) s.session.reset();
}

std::string MySqlPool::describe() const {
    return _settings.user + "@" + _settings.host + ":" + std::to_string(_settings.port) + "/" +
           _settings.database;
}

Poco::Data::Session* MySqlPool::acquire(unsigned slot, SqlFailure& failure) {
    Slot& s = _slots.at(slot);
    if (s.session) return &*s.session;
    try {
        // Opened lazily, so workers that never touch MySQL hold nothing.
        s.session.emplace("MySQL", _connectionString, static_cast<std::size_t>(_settings.connectTimeoutSec));
        s.inTransaction = false;
        return &*s.session;
    } catch (const Poco::Exception& e) {
        failure.dbDown = true;
        failure.message = "database unavailable (" + describe() + "): " + e.displayText();
        return nullptr;
    }
}

void MySqlPool::drop(unsigned slot) {
    Slot& s = _slots.at(slot);
    if (!s.session) return;
    try {
        s.session->close(); // closes the connection: the next call reconnects
    } catch (...) {
    }
    s.session.reset();
    s.inTransaction = false;
}

template <class F> bool MySqlPool::run(unsigned slot, SqlFailure& failure, F&& f) {
    failure = SqlFailure{};
    Poco::Data::Session* session = acquire(slot, failure);
    if (!session) return false;
    try {
        f(*session);
        return true;
    } catch (const Poco::Exception& e) {
        parseMysqlMessage(e.displayText(), failure);
    } catch (const std::exception& e) {
        failure.message = e.what();
    }
    if (isConnectionError(failure.mysqlErrno) || !session->isConnected()) {
        failure.dbDown = true;
        drop(slot);
    }
    return false;
}

bool MySqlPool::query(unsigned slot, const std::string& sql, const Value& params, Value& rows,
                      SqlFailure& failure) {
    return run(slot, failure, [&](Poco::Data::Session& session) {
        Poco::Data::Statement stmt(session);
        stmt << sql;
        bindParams(stmt, params);
        stmt.execute();
        Poco::Data::RecordSet rs(stmt);
        rows = Value::array();
        std::size_t cols = rs.columnCount();
        std::vector<std::string> names;
        names.reserve(cols);
        for (std::size_t c = 0; c < cols; ++c) names.push_back(rs.columnName(c));
        for (std::size_t r = 0; r < rs.rowCount(); ++r) {
            Value row = Value::array();
            for (std::size_t c = 0; c < cols; ++c) row.set(names[c], toValue(rs.value(c, r)));
            rows.push(std::move(row));
        }
    });
}

bool MySqlPool::exec(unsigned slot, const std::string& sql, const Value& params, ExecResult& result,
                     SqlFailure& failure) {
    return run(slot, failure, [&](Poco::Data::Session& session) {
        Poco::Data::Statement stmt(session);
        stmt << sql;
        bindParams(stmt, params);
        result.affected = stmt.execute();
        Poco::Any id = session.getProperty("insertId");
        result.insertId = Poco::AnyCast<Poco::UInt64>(id);
    });
}

bool MySqlPool::begin(unsigned slot, SqlFailure& failure) {
    return run(slot, failure, [&](Poco::Data::Session& session) {
        session.begin();
        _slots[slot].inTransaction = true;
    });
}

// Poco's begin() switches the connection to autocommit=0 and neither
// commit() nor rollback() switches it back: without restoring it, every
// later single statement on this pooled connection would sit in an open
// transaction (acknowledged to the client, never committed).
bool MySqlPool::commit(unsigned slot, SqlFailure& failure) {
    bool ok = run(slot, failure, [&](Poco::Data::Session& session) {
        try {
            session.commit();
        } catch (...) {
            // A failed COMMIT has rolled back; leave the connection usable.
            try {
                session.setFeature("autoCommit", true);
            } catch (...) {
            }
            throw;
        }
        session.setFeature("autoCommit", true);
    });
    _slots[slot].inTransaction = false;
    return ok;
}

bool MySqlPool::rollback(unsigned slot, SqlFailure& failure) {
    bool ok = run(slot, failure, [&](Poco::Data::Session& session) {
        session.rollback();
        session.setFeature("autoCommit", true);
    });
    _slots[slot].inTransaction = false;
    return ok;
}

bool MySqlPool::inTransaction(unsigned slot) const { return _slots.at(slot).inTransaction; }

std::size_t MySqlPool::connectionsHeld() const {
    std::size_t held = 0;
    for (const auto& s : _slots)
        if (s.session) ++held;
    return held;
}

} // namespace dora::pools
