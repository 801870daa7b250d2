#include "cli/Verify.h"

#include <mysql.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <thread>

namespace dora::cli {

namespace {

std::string envOr(const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::string(v) : fallback;
}

/// name -> call number, if name is prefix + digits + suffix.
bool callNumber(const std::string& name, const WriteSet& w, std::int64_t& i) {
    if (name.size() <= w.prefix.size() + w.suffix.size()) return false;
    if (name.compare(0, w.prefix.size(), w.prefix) != 0) return false;
    if (name.compare(name.size() - w.suffix.size(), w.suffix.size(), w.suffix) != 0) return false;
    std::string digits =
        name.substr(w.prefix.size(), name.size() - w.prefix.size() - w.suffix.size());
    if (digits.empty() || digits.size() > 18) return false;
    std::int64_t v = 0;
    bool neg = false;
    std::size_t k = 0;
    if (digits[0] == '-') {
        neg = true;
        k = 1;
        if (digits.size() == 1) return false;
    }
    for (; k < digits.size(); ++k) {
        if (digits[k] < '0' || digits[k] > '9') return false;
        v = v * 10 + (digits[k] - '0');
    }
    i = neg ? -v : v;
    return std::to_string(i) == digits; // no leading zeros: the name we generated
}

/// Rows by call offset (i - first): -1 absent, else visits.
using Landing = std::vector<std::int32_t>;

} // namespace

const char* const kMysqlOptionsHelp =
    "  --mysql-host H --mysql-port P --mysql-user U --mysql-password PW --mysql-db DB\n"
    "                       where --verify and --clean look (default\n"
    "                       $DORAHOST_MYSQL_HOST/_PORT/_USER/_PASSWORD/_DATABASE)\n";

std::string MysqlSettings::toString() const {
    return user + "@" + host + ":" + std::to_string(port) + "/" + database;
}

MysqlSettings takeMysqlFlags(ArgList& args) {
    MysqlSettings s;
    s.host = args.value({"--mysql-host"}).value_or(envOr("DORAHOST_MYSQL_HOST", s.host));
    std::string port =
        args.value({"--mysql-port"}).value_or(envOr("DORAHOST_MYSQL_PORT", std::to_string(s.port)));
    s.port = static_cast<unsigned>(parseInt("--mysql-port", port, 1, 65535));
    s.user = args.value({"--mysql-user"}).value_or(envOr("DORAHOST_MYSQL_USER", s.user));
    s.password =
        args.value({"--mysql-password"}).value_or(envOr("DORAHOST_MYSQL_PASSWORD", s.password));
    s.database = args.value({"--mysql-db"}).value_or(envOr("DORAHOST_MYSQL_DATABASE", s.database));
    return s;
}

struct Verifier::Impl {
    MYSQL* db = nullptr;
    std::map<std::string, Landing> base;                                       ///< by api
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> baseTotals; ///< rows, visits

    [[noreturn]] void fail(const std::string& what) {
        throw std::runtime_error("MySQL: " + what + ": " + mysql_error(db));
    }

    std::string likePrefix(const std::string& prefix) {
        std::string esc;
        for (char c : prefix) {
            if (c == '%' || c == '_' || c == '\\') esc += '\\';
            esc += c;
        }
        std::string out(esc.size() * 2 + 1, '\0');
        unsigned long n = mysql_real_escape_string(db, out.data(), esc.data(), esc.size());
        out.resize(n);
        return "'" + out + "%'";
    }

    Landing read(const WriteSet& w, std::uint64_t& rows, std::uint64_t& visits) {
        std::string sql = "SELECT name, visits FROM users WHERE name LIKE " + likePrefix(w.prefix);
        if (mysql_query(db, sql.c_str()) != 0) fail("reading users");
        MYSQL_RES* res = mysql_use_result(db);
        if (!res) fail("reading users");
        Landing out(w.acked.size(), -1);
        rows = visits = 0;
        while (MYSQL_ROW row = mysql_fetch_row(res)) {
            unsigned long* len = mysql_fetch_lengths(res);
            std::string name(row[0], len[0]);
            std::int64_t i = 0;
            if (!callNumber(name, w, i)) continue;
            std::int64_t off = i - w.first;
            if (off < 0) continue;
            std::int32_t v = row[1] ? static_cast<std::int32_t>(std::atol(row[1])) : 0;
            if (static_cast<std::uint64_t>(off) >= out.size())
                out.resize(static_cast<std::size_t>(off) + 1, -1);
            out[static_cast<std::size_t>(off)] = v;
            ++rows;
            visits += static_cast<std::uint64_t>(v < 0 ? 0 : v);
        }
        mysql_free_result(res);
        return out;
    }

    void totals(const WriteSet& w, std::uint64_t& rows, std::uint64_t& visits) {
        std::string sql = "SELECT COUNT(*), COALESCE(SUM(visits),0) FROM users WHERE name LIKE " +
                          likePrefix(w.prefix);
        if (mysql_query(db, sql.c_str()) != 0) fail("counting users");
        MYSQL_RES* res = mysql_store_result(db);
        if (!res) fail("counting users");
        MYSQL_ROW row = mysql_fetch_row(res);
        rows = row && row[0] ? std::strtoull(row[0], nullptr, 10) : 0;
        visits = row && row[1] ? std::strtoull(row[1], nullptr, 10) : 0;
        mysql_free_result(res);
    }
};

Verifier::Verifier(const MysqlSettings& s) : _impl(std::make_unique<Impl>()) {
    _impl->db = mysql_init(nullptr);
    if (!_impl->db) throw std::runtime_error("MySQL: out of memory");
    unsigned timeout = 5;
    mysql_options(_impl->db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    if (!mysql_real_connect(_impl->db, s.host.c_str(), s.user.c_str(), s.password.c_str(),
                            s.database.c_str(), s.port, nullptr, 0)) {
        std::string why = mysql_error(_impl->db);
        mysql_close(_impl->db);
        _impl->db = nullptr;
        throw std::runtime_error("cannot connect to MySQL " + s.toString() + ": " + why);
    }
    // waitForLanding's snapshot is one only under REPEATABLE READ, whatever
    // the server's default.
    if (mysql_query(_impl->db, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ") != 0)
        _impl->fail("setting the isolation level");
}

Verifier::~Verifier() {
    if (_impl->db) mysql_close(_impl->db);
}

std::uint64_t Verifier::clean(const WriteSet& w) {
    if (w.prefix.empty())
        throw std::runtime_error("--clean: the name template of " + w.api +
                                 " has no text before {i}; refusing to delete every row");
    std::string sql = "DELETE FROM users WHERE name LIKE " + _impl->likePrefix(w.prefix);
    if (mysql_query(_impl->db, sql.c_str()) != 0) _impl->fail("cleaning users");
    return mysql_affected_rows(_impl->db);
}

void Verifier::baseline(const WriteSet& w) {
    std::uint64_t rows = 0, visits = 0;
    _impl->base[w.api] = _impl->read(w, rows, visits);
    _impl->baseTotals[w.api] = {rows, visits};
}

double Verifier::waitForLanding(const std::vector<WriteSet>& sets, double quietSec) {
    using Clock = std::chrono::steady_clock;
    auto start = Clock::now();
    auto lastChange = start;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> last(sets.size(), {~0ull, ~0ull});
    for (;;) {
        // Every count of a round reads one snapshot, taken when the round
        // starts: when they all find what they need, every write was
        // committed by then. So that moment, not the end of the counting
        // (a scan of each set's rows: seconds after a 3M-write seed), is
        // when the writes had landed.
        auto snapshotAt = Clock::now();
        if (mysql_query(_impl->db, "START TRANSACTION WITH CONSISTENT SNAPSHOT") != 0)
            _impl->fail("starting the counting snapshot");
        bool all = true;
        for (std::size_t k = 0; k < sets.size(); ++k) {
            const WriteSet& w = sets[k];
            const Landing& base = _impl->base[w.api];
            auto [baseRows, baseVisits] = _impl->baseTotals[w.api];
            std::uint64_t needRows = baseRows, needVisits = baseVisits;
            for (std::size_t i = 0; i < w.acked.size(); ++i) {
                if (!w.acked[i]) continue;
                bool had = i < base.size() && base[i] >= 0;
                if (!had) ++needRows;
                ++needVisits;
            }
            std::uint64_t rows = 0, visits = 0;
            _impl->totals(w, rows, visits);
            if (rows < needRows || (w.counts && visits < needVisits)) all = false;
            if (last[k] != std::make_pair(rows, visits)) {
                last[k] = {rows, visits};
                lastChange = Clock::now();
            }
        }
        if (mysql_query(_impl->db, "COMMIT") != 0) _impl->fail("ending the counting snapshot");
        auto now = Clock::now();
        if (all) return std::chrono::duration<double>(snapshotAt - start).count();
        if (std::chrono::duration<double>(now - lastChange).count() >= quietSec)
            return std::chrono::duration<double>(now - start).count();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
}

WriteReport Verifier::check(const WriteSet& w) {
    WriteReport r;
    r.api = w.api;
    std::uint64_t rows = 0, visits = 0;
    Landing now = _impl->read(w, rows, visits);
    const Landing& base = _impl->base[w.api];
    for (std::size_t i = 0; i < now.size(); ++i) {
        std::int32_t before = i < base.size() ? base[i] : -1;
        std::int32_t after = now[i];
        bool acked = i < w.acked.size() && w.acked[i];
        std::int64_t delta =
            w.counts ? std::int64_t(after < 0 ? 0 : after) - std::int64_t(before < 0 ? 0 : before)
                     : (after >= 0 && before < 0 ? 1 : 0);
        if (acked) {
            ++r.acked;
            bool landed = w.counts ? delta >= 1 : after >= 0;
            if (landed) {
                ++r.landed;
            } else {
                ++r.lost;
                if (r.lostNames.size() < 10)
                    r.lostNames.push_back(w.prefix + std::to_string(w.first + std::int64_t(i)) +
                                          w.suffix);
            }
            if (w.counts && delta > 1) ++r.twice;
        } else if (delta > 0) {
            ++r.unackedLanded;
        }
    }
    // Acknowledged calls past the last row read: all lost.
    for (std::size_t i = now.size(); i < w.acked.size(); ++i) {
        if (!w.acked[i]) continue;
        ++r.acked;
        ++r.lost;
        if (r.lostNames.size() < 10)
            r.lostNames.push_back(w.prefix + std::to_string(w.first + std::int64_t(i)) + w.suffix);
    }
    return r;
}

} // namespace dora::cli
