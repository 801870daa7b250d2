// The sample plugins' user writes (add_user, update_user, insert_user,
// plus_user) as batch handlers, shared by sync_user (sync modes, each group
// of calls that group_commit takes together is one batch) and async_user
// (the queue's batches). The fields are validated by user_fields.h, as in
// every sample handler, so a call is refused the same way whichever mode
// it came in.
//
// Every handler takes a whole batch of calls of one api and writes it with a
// few multi-row statements inside the transaction the host opened, and
// still answers every call on its own: a call with bad parameters, an
// add_user of a taken name or an update_user of an unknown name fails
// alone; the others are written. A batch of one is a single call.
//
// Table: config/schema/001_users.sql.
//
// Two things shape the SQL:
// * Lock order. Batches run concurrently on several workers and touch the
//   same rows; each statement lists its names in one global order
//   (sortForLocking) so two batches never wait on each other in a cycle.
// * Collation. `name` compares case- and accent-insensitively
//   (utf8mb4_unicode_ci): a call for 'Bob' may hit the row 'bob'. Rows are
//   matched to calls by exact bytes first and, for the rare rest, by asking
//   the database (RowCache::match), never by guessing the collation here.
#ifndef DORA_SAMPLES_USER_WRITES_H
#define DORA_SAMPLES_USER_WRITES_H

#include <dora/sdk/plugin.h>
#include <dora_samples/user_fields.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <numeric>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace dora::samples::users {

using namespace dora::sdk;

/// One task of a batch, validated.
struct Task {
    std::size_t call = 0; ///< index in the Batch
    std::string name;
    std::string department;
};

inline Task parseTask(Call& call, std::size_t index, bool departmentRequired) {
    Task t;
    t.call = index;
    t.name = userName(call);
    t.department = userDepartment(call, departmentRequired);
    return t;
}

/// The valid tasks of the batch, in batch order; the others are answered
/// here with their parameter error.
inline std::vector<Task> validTasks(Batch& batch, bool departmentRequired) {
    std::vector<Task> tasks;
    tasks.reserve(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
        try {
            tasks.push_back(parseTask(batch[i], i, departmentRequired));
        } catch (const Error& e) {
            batch[i].setError(e.code(), e.what());
        }
    }
    return tasks;
}

// ------------------------------------------------------------- SQL helpers

inline std::string placeholders(std::size_t rows, const char* row) {
    std::string s;
    for (std::size_t i = 0; i < rows; ++i) {
        if (i) s += ',';
        s += row;
    }
    return s;
}

inline std::string asciiLower(const std::string& s) {
    std::string out = s;
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

/// Sorts distinct names into the order every handler locks rows in. Names
/// that differ only in ASCII case sit together, ordered by `rank` (their
/// position in the batch), so of two spellings of one user the later task
/// is also written later.
inline void sortForLocking(std::vector<std::string>& names,
                    const std::unordered_map<std::string, std::size_t>& rank) {
    std::vector<std::pair<std::string, std::string>> keyed;
    keyed.reserve(names.size());
    for (auto& n : names)
        keyed.emplace_back(asciiLower(n), std::move(n));
    std::sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
        if (a.first != b.first) return a.first < b.first;
        return rank.at(a.second) < rank.at(b.second);
    });
    names.clear();
    for (auto& k : keyed)
        names.push_back(std::move(k.second));
}

/// asciiLower(a) compared with asciiLower(b) (-1, 0, 1), without copies.
inline int compareFolded(std::string_view a, std::string_view b) {
    const std::size_t n = std::min(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i) {
        auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
        if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y - 'A' + 'a');
        if (x != y) return x < y ? -1 : 1;
    }
    return a.size() == b.size() ? 0 : a.size() < b.size() ? -1 : 1;
}

/// One name of a batch (byte for byte) and its tasks.
struct Named {
    std::string_view name;  ///< views tasks[first].name
    std::size_t first = 0;  ///< its first task (index into tasks)
    std::size_t last = 0;   ///< its last task
    std::size_t count = 0;  ///< how many tasks have it
};

/// The distinct names of `tasks` in the order sortForLocking puts them:
/// names that differ only in ASCII case together, ordered by the call of
/// their first task (or, rankByLast, of their last). firstOf[i] is the
/// first task with task i's name. Sorting indexes: no map, no copy of a
/// name (on a 500-call batch the maps' nodes were most of the handler's
/// time, in cache misses).
inline std::vector<Named> distinctInLockOrder(const std::vector<Task>& tasks, bool rankByLast,
                                              std::vector<std::size_t>* firstOf = nullptr) {
    std::vector<std::size_t> idx(tasks.size());
    std::iota(idx.begin(), idx.end(), std::size_t(0));
    std::stable_sort(idx.begin(), idx.end(),
                     [&](std::size_t a, std::size_t b) { return tasks[a].name < tasks[b].name; });
    if (firstOf) firstOf->assign(tasks.size(), 0);
    std::vector<Named> out;
    for (std::size_t k = 0; k < idx.size();) {
        Named n{tasks[idx[k]].name, idx[k], idx[k], 0};
        for (; k < idx.size() && tasks[idx[k]].name == n.name; ++k) {
            n.last = idx[k];
            ++n.count;
            if (firstOf) (*firstOf)[idx[k]] = n.first;
        }
        out.push_back(n);
    }
    auto rank = [&](const Named& n) { return tasks[rankByLast ? n.last : n.first].call; };
    std::sort(out.begin(), out.end(), [&](const Named& a, const Named& b) {
        const int c = compareFolded(a.name, b.name);
        return c != 0 ? c < 0 : rank(a) < rank(b);
    });
    return out;
}

inline std::vector<std::string> namesOf(const std::vector<Named>& named) {
    std::vector<std::string> out;
    out.reserve(named.size());
    for (const Named& n : named)
        out.emplace_back(n.name);
    return out;
}

inline std::int64_t intColumn(const Value& row, const char* name) {
    const Value* v = row.find(name);
    if (v == nullptr || !v->isInt())
        throw Error(kHandlerFailed, std::string("row has no integer column '") + name + "'");
    return v->asInt();
}

/// users rows looked up by name, for one batch.
class RowCache {
public:
    /// forUpdate: lock the rows (and, for absent names, the gap they would
    /// go in) until the batch's transaction ends.
    RowCache(Sql& sql, bool forUpdate) : _sql(sql), _lock(forUpdate ? " FOR UPDATE" : "") {}

    /// Loads the rows of names (any order) with one statement.
    void load(const std::vector<std::string>& names) {
        if (names.empty()) return;
        std::vector<Value> params(names.begin(), names.end());
        for (Value& row : _sql.query("SELECT id, name, visits FROM users WHERE name IN (" +
                                         placeholders(names.size(), "?") + ")" + _lock,
                                     params)) {
            const Value* storedName = row.find("name");
            if (storedName && storedName->isString())
                _rows[storedName->asString()] = std::move(row);
        }
    }

    /// True if load() returned a row stored under exactly this name.
    bool stored(const std::string& name) const {
        auto it = _rows.find(name);
        return it != _rows.end() && it->second;
    }

    /// The row a task's name denotes, or nullptr if there is none. A name
    /// that load() did not return byte for byte is asked for on its own
    /// (it may be another spelling of a stored name); the answer is kept.
    const Value* match(const std::string& name) {
        if (auto it = _rows.find(name); it != _rows.end())
            return it->second ? &*it->second : nullptr;
        std::optional<Value> row = _sql.queryOne(
            "SELECT id, name, visits FROM users WHERE name = ? LIMIT 1" + _lock, {name});
        auto& slot = _rows[name];
        slot = std::move(row);
        return slot ? &*slot : nullptr;
    }

private:
    Sql& _sql;
    std::string _lock;
    std::unordered_map<std::string, std::optional<Value>> _rows;
};

/// The handler's own transaction, where one is needed. A batch of more than
/// one call always runs inside the host's transaction (the queue's batches,
/// group_commit's groups), which the host rolls back whole if the handler
/// throws: a Transaction there would only be a savepoint, two more round
/// trips per batch that nothing ever rolls back to. A single call may run
/// alone, in autocommit, and then gets a real transaction.
class BatchTransaction {
public:
    explicit BatchTransaction(Batch& batch) {
        if (batch.size() == 1) _tx.emplace(batch.sql());
    }
    void commit() {
        if (_tx) _tx->commit();
    }

private:
    std::optional<Transaction> _tx;
};

// --------------------------------------------------------------- handlers

// plus_user(name, [department]) -> {name, visits}, per task: one visit
// more, creating the user (with the department of its first task) on the
// first. One upsert adds each name's count of the batch; each task's
// answer is the count it made, as if the tasks ran one by one in order.
/// Queued tasks (the no-result modes SRS/SRM, AN_*) have no caller to give
/// a result to: a batch of only those skips the reads that exist to build
/// results (ids, visit counts) and answers each call with null (answered():
/// no caller reads a queued task's result; its status keeps the code). A host
/// older than SDK 1.2 reports no mode: results are then always built.
/// A queued task's answer: success, with nothing to read (serializing a
/// result per task was ~6% of the host's instructions in a seed).
inline void answered(Call& call) { call.setRawResult("N;"); }

inline bool resultsWanted(Batch& batch) {
    for (std::size_t i = 0; i < batch.size(); ++i)
        if (!batch[i].queued()) return true;
    return false;
}

inline void plusUserTasks(Batch& batch, std::vector<Task> tasks) {
    if (tasks.empty()) return;
    Sql& sql = batch.sql();

    // Each name once, with its count; a new row gets its first task's department.
    const std::vector<Named> named = distinctInLockOrder(tasks, false);

    BatchTransaction tx(batch);
    std::vector<Value> params;
    params.reserve(named.size() * 3);
    for (const Named& n : named) {
        params.emplace_back(std::string(n.name));
        params.emplace_back(tasks[n.first].department);
        params.emplace_back(static_cast<std::int64_t>(n.count));
    }
    sql.exec("INSERT INTO users (name, department, visits) VALUES " +
                 placeholders(named.size(), "(?,?,?)") +
                 " ON DUPLICATE KEY UPDATE visits = visits + VALUES(visits)",
             params);
    if (!resultsWanted(batch)) {
        tx.commit();
        for (const Task& t : tasks) answered(batch[t.call]);
        return;
    }

    // Tasks per row, in batch order: the k-th of m tasks on a row whose
    // count is now V saw V - (m - 1 - k). A locking read (the upsert holds
    // these rows already) so we read the rows as they are, not as the
    // transaction's snapshot saw them.
    RowCache rows(sql, true);
    rows.load(namesOf(named));
    std::map<std::int64_t, std::vector<std::size_t>> byRow; // id -> indexes into tasks
    std::map<std::int64_t, std::int64_t> finalVisits;
    for (std::size_t i = 0; i < tasks.size(); ++i) {
        const Value* row = rows.match(tasks[i].name);
        if (row == nullptr)
            throw Error(kHandlerFailed, "user '" + tasks[i].name + "' vanished during plus_user");
        std::int64_t id = intColumn(*row, "id");
        byRow[id].push_back(i);
        finalVisits[id] = intColumn(*row, "visits");
    }
    tx.commit();

    for (const auto& [id, indexes] : byRow) {
        auto m = static_cast<std::int64_t>(indexes.size());
        for (std::int64_t k = 0; k < m; ++k) {
            const Task& t = tasks[indexes[static_cast<std::size_t>(k)]];
            batch[t.call].setResult(
                Value::array().set("name", t.name).set("visits", finalVisits[id] - (m - 1 - k)));
        }
    }
}

// insert_user(name, [department]) -> {id, name, department}: insert or
// overwrite the department. One multi-row upsert; of several tasks for one
// name the last one's department is written.
inline void insertUserTasks(Batch& batch, std::vector<Task> tasks) {
    if (tasks.empty()) return;
    Sql& sql = batch.sql();

    // Each name once, with its last task's department; ranked by that task.
    const std::vector<Named> named = distinctInLockOrder(tasks, true);

    BatchTransaction tx(batch);
    std::vector<Value> params;
    params.reserve(named.size() * 2);
    for (const Named& n : named) {
        params.emplace_back(std::string(n.name));
        params.emplace_back(tasks[n.last].department);
    }
    sql.exec("INSERT INTO users (name, department) VALUES " + placeholders(named.size(), "(?,?)") +
                 " ON DUPLICATE KEY UPDATE department = VALUES(department)",
             params);
    if (!resultsWanted(batch)) {
        tx.commit();
        for (const Task& t : tasks) answered(batch[t.call]);
        return;
    }
    // Locking read: a row another batch inserted after our snapshot, which
    // the upsert found but left unchanged, is invisible to a plain read.
    RowCache rows(sql, true);
    rows.load(namesOf(named));
    std::vector<std::int64_t> ids;
    ids.reserve(tasks.size());
    for (const Task& t : tasks) {
        const Value* row = rows.match(t.name);
        if (row == nullptr)
            throw Error(kHandlerFailed, "user '" + t.name + "' vanished during insert_user");
        ids.push_back(intColumn(*row, "id"));
    }
    tx.commit();

    for (std::size_t i = 0; i < tasks.size(); ++i)
        batch[tasks[i].call].setResult(Value::array()
                                           .set("id", ids[i])
                                           .set("name", tasks[i].name)
                                           .set("department", tasks[i].department));
}

/// MySQL's syntax error: what a server without INSERT ... RETURNING says.
constexpr int kErParseError = 1064;

/// Whether INSERT ... RETURNING may be tried (until a server refused it).
inline std::atomic<bool>& returningRefused() {
    static std::atomic<bool> refused{false};
    return refused;
}
inline bool returningIds() { return !returningRefused().load(std::memory_order_relaxed); }
inline void noReturningIds() { returningRefused().store(true, std::memory_order_relaxed); }

inline Error conflict(const std::string& name) {
    return Error(kConflict, "user '" + name + "' already exists");
}

// add_user(name, [department]) -> {id, name, department}; a taken name
// fails that task alone with 100212, and so does every task after the first
// for one name in the batch. The fast path is one INSERT of the batch's
// names, with no read before it; if any name is taken (a stored name,
// another spelling of one, or a row committed meanwhile) that statement
// fails alone, the names stored byte for byte are read in one statement and
// the rest inserted one by one, so each task still gets its own verdict.
inline void addUser(Batch& batch) {
    std::vector<Task> tasks = validTasks(batch, false);
    if (tasks.empty()) return;
    Sql& sql = batch.sql();

    // No transaction of its own: a batch of several calls runs in the
    // host's, and a lone call (a sync add_user, or a group of one) runs
    // exactly one statement, its INSERT, which autocommit makes atomic on
    // its own. BEGIN and COMMIT around it were two more round trips per
    // call (mariadb-slap's INSERT pays one).
    // Verdicts in batch order: the first task of a name is a candidate, a
    // later one conflicts with it. Candidates are named by their task's
    // index, in locking order.
    std::vector<std::optional<Error>> verdict(tasks.size());
    std::vector<std::size_t> firstOf;
    std::vector<std::size_t> names;
    for (const Named& n : distinctInLockOrder(tasks, false, &firstOf))
        names.push_back(n.first);
    for (std::size_t i = 0; i < tasks.size(); ++i)
        if (firstOf[i] != i) verdict[i] = conflict(tasks[i].name); // an earlier task of the batch has it
    auto nameStrings = [&](const std::vector<std::size_t>& of) {
        std::vector<std::string> out;
        out.reserve(of.size());
        for (std::size_t i : of)
            out.push_back(tasks[i].name);
        return out;
    };

    // All of `candidates` with one INSERT. A duplicate key (a stored name,
    // another spelling of one, or a row committed meanwhile) fails the
    // statement, and InnoDB undoes that statement alone, not the
    // transaction: no savepoint (two round trips) is needed around it.
    // When results are wanted, MariaDB (10.5+) gives the new ids with the
    // insert (RETURNING): no second statement, no locking read of the
    // rows. A server without it (MySQL) refuses the syntax once; the
    // rows' ids are then read after the insert.
    const bool wanted = resultsWanted(batch);
    std::vector<std::size_t> inserted;
    std::unordered_map<std::string, std::int64_t> knownIds; // ids the inserts gave
    auto allAtOnce = [&](const std::vector<std::size_t>& candidates) {
        if (candidates.size() < 2) return false; // one name: the path below answers it
        std::vector<Value> params;
        params.reserve(candidates.size() * 2);
        for (std::size_t i : candidates) {
            params.emplace_back(tasks[i].name);
            params.emplace_back(tasks[i].department);
        }
        const std::string insert =
            "INSERT INTO users (name, department) VALUES " + placeholders(candidates.size(), "(?,?)");
        try {
            if (wanted && returningIds()) {
                try {
                    for (const Value& row : sql.query(insert + " RETURNING id, name", params)) {
                        const Value* name = row.find("name");
                        if (name && name->isString()) knownIds[name->asString()] = intColumn(row, "id");
                    }
                } catch (const SqlError& e) {
                    if (e.sqlErrno() != kErParseError) throw;
                    noReturningIds();
                    sql.exec(insert, params);
                }
            } else {
                sql.exec(insert, params);
            }
        } catch (const SqlError& e) {
            if (!e.isDuplicateKey()) throw;
            return false;
        }
        inserted = candidates;
        return true;
    };
    // Fast path, no read first: the names of a batch are usually new.
    if (!allAtOnce(names)) {
        // Some name is taken (or another spelling of it is). A plain read (no
        // gap locks for absent names) settles those stored byte for byte;
        // the rest are tried at once again and, if the database still
        // ignores a row, one by one: a duplicate key fails only its
        // statement, not the transaction, and gives that task its verdict.
        RowCache existing(sql, false);
        if (names.size() > 1) existing.load(nameStrings(names));
        std::vector<std::size_t> rest;
        for (std::size_t i : names) {
            if (existing.stored(tasks[i].name))
                verdict[i] = conflict(tasks[i].name);
            else
                rest.push_back(i);
        }
        if (!allAtOnce(rest)) {
            for (std::size_t i : rest) {
                try {
                    ExecResult r = sql.exec("INSERT INTO users (name, department) VALUES (?, ?)",
                                            {tasks[i].name, tasks[i].department});
                    inserted.push_back(i);
                    if (r.insertId > 0) knownIds[tasks[i].name] = r.insertId;
                } catch (const SqlError& e) {
                    if (!e.isDuplicateKey()) throw;
                    verdict[i] = conflict(tasks[i].name);
                }
            }
        }
    }
    RowCache rows(sql, true); // ours, locked by the insert
    std::unordered_map<std::string, std::int64_t> ids = std::move(knownIds);
    if (wanted) {
        std::vector<std::size_t> unknown;
        for (std::size_t i : inserted)
            if (!ids.count(tasks[i].name)) unknown.push_back(i);
        rows.load(nameStrings(unknown));
        for (std::size_t i : inserted) {
            if (ids.count(tasks[i].name)) continue;
            const Value* row = rows.match(tasks[i].name);
            if (row == nullptr)
                throw Error(kHandlerFailed, "user '" + tasks[i].name + "' vanished during add_user");
            ids[tasks[i].name] = intColumn(*row, "id");
        }
    }

    for (std::size_t i = 0; i < tasks.size(); ++i) {
        Call& call = batch[tasks[i].call];
        if (verdict[i]) {
            call.setError(verdict[i]->code(), verdict[i]->what());
        } else {
            if (!wanted) {
                answered(call);
                continue;
            }
            call.setResult(Value::array()
                               .set("id", ids.at(tasks[i].name))
                               .set("name", tasks[i].name)
                               .set("department", tasks[i].department));
        }
    }
}

// update_user(name, department) -> {updated: true}; an unknown name fails
// that task alone with 100211. The rows are read with a locking read (no
// add or delete can slip in before the update), then one UPDATE writes each
// row's last department of the batch.
inline void updateUserTasks(Batch& batch, std::vector<Task> tasks) {
    if (tasks.empty()) return;
    Sql& sql = batch.sql();

    std::vector<std::string> names;
    std::unordered_map<std::string, std::size_t> rank;
    for (const Task& t : tasks)
        if (rank.try_emplace(t.name, t.call).second) names.push_back(t.name);
    sortForLocking(names, rank);

    BatchTransaction tx(batch);
    RowCache rows(sql, true);
    rows.load(names);
    std::vector<bool> found(tasks.size(), false);
    std::map<std::int64_t, std::string> department; // id -> last department; ids ascending
    for (std::size_t i = 0; i < tasks.size(); ++i) {
        const Value* row = rows.match(tasks[i].name);
        if (row == nullptr) continue;
        found[i] = true;
        department[intColumn(*row, "id")] = tasks[i].department;
    }
    if (!department.empty()) {
        std::string cases;
        std::vector<Value> params;
        params.reserve(department.size() * 3);
        for (const auto& [id, d] : department) {
            cases += " WHEN ? THEN ?";
            params.emplace_back(id);
            params.emplace_back(d);
        }
        for (const auto& entry : department)
            params.emplace_back(entry.first);
        sql.exec("UPDATE users SET department = CASE id" + cases + " END WHERE id IN (" +
                     placeholders(department.size(), "?") + ")",
                 params);
    }
    tx.commit();

    for (std::size_t i = 0; i < tasks.size(); ++i) {
        Call& call = batch[tasks[i].call];
        if (found[i])
            call.setResult(Value::array().set("updated", true));
        else
            call.setError(kNotFound, "user '" + tasks[i].name + "' not found");
    }
}

inline void plusUser(Batch& batch) { plusUserTasks(batch, validTasks(batch, false)); }
inline void insertUser(Batch& batch) { insertUserTasks(batch, validTasks(batch, false)); }
inline void updateUser(Batch& batch) { updateUserTasks(batch, validTasks(batch, true)); }

/// A handler's form on tasks already validated, and the validation it
/// asks for: writeAndInvalidate reads each name once for both.
template <void (*Write)(Batch&)> struct TasksOf;
template <> struct TasksOf<plusUser> {
    static constexpr void (*run)(Batch&, std::vector<Task>) = plusUserTasks;
    static constexpr bool departmentRequired = false;
};
template <> struct TasksOf<insertUser> {
    static constexpr void (*run)(Batch&, std::vector<Task>) = insertUserTasks;
    static constexpr bool departmentRequired = false;
};
template <> struct TasksOf<updateUser> {
    static constexpr void (*run)(Batch&, std::vector<Task>) = updateUserTasks;
    static constexpr bool departmentRequired = true;
};

/// Runs Write on the batch, then deletes the cached rows of its names
/// (`prefix` + name: sync_user's get_user cache) with one DEL, since they
/// are stale now or at the host's commit just after. Each call's params
/// are read once (validTasks) for the write and the DEL; a call that does
/// not validate is answered with its error and wrote nothing. Returns the keys deleted, or -1 if Redis failed (the
/// write stands: the cache then serves the old row until its ttl).
template <void (*Write)(Batch&)>
std::int64_t writeAndInvalidate(Batch& batch, const std::string& prefix) {
    std::vector<Task> tasks = validTasks(batch, TasksOf<Write>::departmentRequired);
    std::vector<std::string> del;
    del.reserve(tasks.size() + 1);
    del.emplace_back("DEL");
    for (const Task& t : tasks)
        del.push_back(prefix + t.name); // the invalid ones wrote nothing
    TasksOf<Write>::run(batch, std::move(tasks));
    if (del.size() < 2) return 0;
    try {
        batch.redis().command(del);
        return static_cast<std::int64_t>(del.size() - 1);
    } catch (const RedisError&) {
        return -1;
    }
}

} // namespace dora::samples::users

#endif // DORA_SAMPLES_USER_WRITES_H
