// cli/Verify.h — `dora bench --verify`: checks in MySQL that every write
// the server acknowledged landed (and none landed twice), for the sample
// plugins' table users(name UNIQUE, visits).
#pragma once

#include "cli/Args.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dora::cli {

struct MysqlSettings {
    std::string host = "127.0.0.1";
    unsigned port = 3306;
    std::string user = "dora";
    std::string password;
    std::string database = "dorahost";
    std::string toString() const;
};

/// Takes --mysql-host/-port/-user/-password/-db, defaulting to
/// $DORAHOST_MYSQL_HOST/_PORT/_USER/_PASSWORD/_DATABASE.
MysqlSettings takeMysqlFlags(ArgList& args);
extern const char* const kMysqlOptionsHelp;

/// The writes of one api in a run: call number i wrote the row named
/// prefix + i + suffix. acked[i - first] is set when the server
/// acknowledged that call (sync: its code was 0; async: "accepted").
struct WriteSet {
    std::string api;
    bool counts = false; ///< plus_user: each call adds 1 to visits; else the row must exist
    std::string prefix, suffix;
    std::int64_t first = 0;
    std::vector<std::uint8_t> acked;
};

/// What a check found for one WriteSet.
struct WriteReport {
    std::string api;
    std::uint64_t acked = 0, landed = 0, lost = 0, twice = 0, unackedLanded = 0;
    std::vector<std::string> lostNames; ///< the first few
};

class Verifier {
public:
    /// Connects; throws std::runtime_error with MySQL's reason.
    explicit Verifier(const MysqlSettings& s);
    ~Verifier();
    Verifier(const Verifier&) = delete;
    Verifier& operator=(const Verifier&) = delete;

    /// Deletes every row whose name starts with the set's prefix.
    std::uint64_t clean(const WriteSet& w);
    /// Remembers what is there before the run (rows and visits by call number).
    void baseline(const WriteSet& w);
    /// Waits until the rows the acknowledged writes need are there, or
    /// until nothing changed for `quietSec` seconds. Returns the seconds
    /// until the snapshot in which they were all there (each round counts
    /// every set in one REPEATABLE READ snapshot), or until it gave up.
    double waitForLanding(const std::vector<WriteSet>& sets, double quietSec);
    /// Compares row by row.
    WriteReport check(const WriteSet& w);

private:
    struct Impl;
    std::unique_ptr<Impl> _impl;
};

} // namespace dora::cli
