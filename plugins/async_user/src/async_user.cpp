// async_user: the seed's four user writes (add_user, update_user,
// insert_user, plus_user), served in the async modes through the durable
// queue. Every handler is a batch handler: the host hands it up to
// queue.batch_size tasks of one api and runs the batch in one MySQL
// transaction (with the exactly-once ledger rows of the tasks). Each
// handler writes its batch with a few multi-row statements instead of one
// statement per task, and still answers every task on its own: a task with
// bad parameters, an add_user of a taken name or an update_user of an
// unknown name fails alone; the others are written.
//
// Table: config/schema/001_users.sql (the same table sync_user serves).
//
// Two things shape the SQL:
// * Lock order. Batches of different tasks run concurrently on several
//   workers and touch the same rows; each statement lists its names in one
//   global order (sortForLocking) so two batches never wait on each other
//   in a cycle.
// * Collation. `name` compares case- and accent-insensitively
//   (utf8mb4_unicode_ci): a task for 'Bob' may hit the row 'bob'. Rows are
//   matched to tasks by exact bytes first and, for the rare rest, by asking
//   the database (RowCache::match), never by guessing the collation here.
#include <dora/sdk/plugin.h>
#include <dora_samples/user_fields.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

using namespace dora::sdk;

namespace {

// ------------------------------------------------------------ parameters
// (the users fields' validation is shared with sync_user: dora_samples/user_fields.h)

/// One task of a batch, validated.
struct Task {
    std::size_t call = 0; ///< index in the Batch
    std::string name;
    std::string department;
};

Task parseTask(Call& call, std::size_t index, bool departmentRequired) {
    Task t;
    t.call = index;
    t.name = dora::samples::userName(call);
    // update_user: may be empty (clears the department), but must be given.
    t.department = dora::samples::userDepartment(call, departmentRequired);
    return t;
}

/// The valid tasks of the batch, in batch order; the others are answered
/// here with their parameter error.
std::vector<Task> validTasks(Batch& batch, bool departmentRequired) {
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

std::string placeholders(std::size_t rows, const char* row) {
    std::string s;
    for (std::size_t i = 0; i < rows; ++i) {
        if (i) s += ',';
        s += row;
    }
    return s;
}

std::string asciiLower(const std::string& s) {
    std::string out = s;
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

/// Sorts distinct names into the order every handler locks rows in. Names
/// that differ only in ASCII case sit together, ordered by `rank` (their
/// position in the batch), so of two spellings of one user the later task
/// is also written later.
void sortForLocking(std::vector<std::string>& names,
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

std::int64_t intColumn(const Value& row, const char* name) {
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

// --------------------------------------------------------------- handlers

// plus_user(name, [department]) -> {name, visits}, per task: one visit
// more, creating the user (with the department of its first task) on the
// first. One upsert adds each name's count of the batch; each task's
// answer is the count it made, as if the tasks ran one by one in order.
/// Queued tasks (the no-result modes SRS/SRM, AN_*) have no caller to give
/// a result to: a batch of only those skips the reads that exist to build
/// results (ids, visit counts) and answers each call with its name. A host
/// older than SDK 1.2 reports no mode: results are then always built.
bool resultsWanted(Batch& batch) {
    for (std::size_t i = 0; i < batch.size(); ++i)
        if (!batch[i].queued()) return true;
    return false;
}

void plusUser(Batch& batch) {
    std::vector<Task> tasks = validTasks(batch, false);
    if (tasks.empty()) return;
    Sql& sql = batch.sql();

    struct Count {
        std::string department; ///< the first task's: used only if the row is new
        std::int64_t visits = 0;
    };
    std::unordered_map<std::string, Count> counts;
    std::unordered_map<std::string, std::size_t> rank;
    std::vector<std::string> names;
    for (const Task& t : tasks) {
        auto [it, fresh] = counts.try_emplace(t.name, Count{t.department, 0});
        ++it->second.visits;
        if (fresh) {
            names.push_back(t.name);
            rank[t.name] = t.call;
        }
    }
    sortForLocking(names, rank);

    Transaction tx(sql);
    std::vector<Value> params;
    params.reserve(names.size() * 3);
    for (const auto& n : names) {
        params.emplace_back(n);
        params.emplace_back(counts[n].department);
        params.emplace_back(counts[n].visits);
    }
    sql.exec("INSERT INTO users (name, department, visits) VALUES " +
                 placeholders(names.size(), "(?,?,?)") +
                 " ON DUPLICATE KEY UPDATE visits = visits + VALUES(visits)",
             params);
    if (!resultsWanted(batch)) {
        tx.commit();
        for (const Task& t : tasks) batch[t.call].setResult(Value::array().set("name", t.name));
        return;
    }

    // Tasks per row, in batch order: the k-th of m tasks on a row whose
    // count is now V saw V - (m - 1 - k). A locking read (the upsert holds
    // these rows already) so we read the rows as they are, not as the
    // transaction's snapshot saw them.
    RowCache rows(sql, true);
    rows.load(names);
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
void insertUser(Batch& batch) {
    std::vector<Task> tasks = validTasks(batch, false);
    if (tasks.empty()) return;
    Sql& sql = batch.sql();

    std::unordered_map<std::string, std::size_t> last; // name -> index into tasks
    std::unordered_map<std::string, std::size_t> rank;
    std::vector<std::string> names;
    for (std::size_t i = 0; i < tasks.size(); ++i) {
        auto [it, fresh] = last.try_emplace(tasks[i].name, i);
        if (!fresh)
            it->second = i;
        else
            names.push_back(tasks[i].name);
        rank[tasks[i].name] = tasks[i].call;
    }
    sortForLocking(names, rank);

    Transaction tx(sql);
    std::vector<Value> params;
    params.reserve(names.size() * 2);
    for (const auto& n : names) {
        params.emplace_back(n);
        params.emplace_back(tasks[last[n]].department);
    }
    sql.exec("INSERT INTO users (name, department) VALUES " + placeholders(names.size(), "(?,?)") +
                 " ON DUPLICATE KEY UPDATE department = VALUES(department)",
             params);
    if (!resultsWanted(batch)) {
        tx.commit();
        for (const Task& t : tasks) batch[t.call].setResult(Value::array().set("name", t.name));
        return;
    }
    // Locking read: a row another batch inserted after our snapshot, which
    // the upsert found but left unchanged, is invisible to a plain read.
    RowCache rows(sql, true);
    rows.load(names);
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

Error conflict(const std::string& name) {
    return Error(kConflict, "user '" + name + "' already exists");
}

// add_user(name, [department]) -> {id, name, department}; a taken name
// fails that task alone with 100212, and so does every task after the first
// for one name in the batch. The fast path is one INSERT IGNORE of the
// batch's names, with no read before it; if the database ignored any row (a
// stored name, another spelling of one, or a row committed meanwhile) that
// statement is undone, the names stored byte for byte are read in one
// statement and the rest inserted one by one, so each task still gets its
// own verdict.
void addUser(Batch& batch) {
    std::vector<Task> tasks = validTasks(batch, false);
    if (tasks.empty()) return;
    Sql& sql = batch.sql();

    Transaction tx(sql);
    // Verdicts in batch order: the first task of a name is a candidate, a
    // later one conflicts with it.
    std::vector<std::optional<Error>> verdict(tasks.size());
    std::unordered_set<std::string> claimed;
    std::unordered_map<std::string, std::size_t> rank;
    std::vector<std::string> names;
    std::unordered_map<std::string, std::size_t> taskOf;
    for (std::size_t i = 0; i < tasks.size(); ++i) {
        const std::string& n = tasks[i].name;
        if (!claimed.insert(n).second) {
            verdict[i] = conflict(n); // an earlier task of the batch has it
            continue;
        }
        names.push_back(n);
        taskOf[n] = i;
        rank[n] = tasks[i].call;
    }
    sortForLocking(names, rank);

    // All of `candidates` with one INSERT IGNORE, under a savepoint that is
    // undone unless the database took every row.
    std::vector<std::string> inserted;
    auto allAtOnce = [&](const std::vector<std::string>& candidates) {
        if (candidates.size() < 2) return false; // one name needs no savepoint
        std::vector<Value> params;
        params.reserve(candidates.size() * 2);
        for (const auto& n : candidates) {
            params.emplace_back(n);
            params.emplace_back(tasks[taskOf[n]].department);
        }
        Transaction all(sql);
        ExecResult r = sql.exec("INSERT IGNORE INTO users (name, department) VALUES " +
                                    placeholders(candidates.size(), "(?,?)"),
                                params);
        if (r.affected != static_cast<std::int64_t>(candidates.size())) {
            all.rollback();
            return false;
        }
        all.commit();
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
        if (names.size() > 1) existing.load(names);
        std::vector<std::string> rest;
        for (const auto& n : names) {
            if (existing.stored(n))
                verdict[taskOf[n]] = conflict(n);
            else
                rest.push_back(n);
        }
        if (!allAtOnce(rest)) {
            for (const auto& n : rest) {
                try {
                    sql.exec("INSERT INTO users (name, department) VALUES (?, ?)",
                             {n, tasks[taskOf[n]].department});
                    inserted.push_back(n);
                } catch (const SqlError& e) {
                    if (!e.isDuplicateKey()) throw;
                    verdict[taskOf[n]] = conflict(n);
                }
            }
        }
    }
    const bool wanted = resultsWanted(batch);
    RowCache rows(sql, true); // ours, locked by the insert
    if (wanted) rows.load(inserted);
    std::unordered_map<std::string, std::int64_t> ids;
    for (const auto& n : inserted) {
        if (!wanted) break;
        const Value* row = rows.match(n);
        if (row == nullptr)
            throw Error(kHandlerFailed, "user '" + n + "' vanished during add_user");
        ids[n] = intColumn(*row, "id");
    }
    tx.commit();

    for (std::size_t i = 0; i < tasks.size(); ++i) {
        Call& call = batch[tasks[i].call];
        if (verdict[i]) {
            call.setError(verdict[i]->code(), verdict[i]->what());
        } else {
            if (!wanted) {
                call.setResult(Value::array().set("name", tasks[i].name));
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
void updateUser(Batch& batch) {
    std::vector<Task> tasks = validTasks(batch, true);
    if (tasks.empty()) return;
    Sql& sql = batch.sql();

    std::vector<std::string> names;
    std::unordered_map<std::string, std::size_t> rank;
    for (const Task& t : tasks)
        if (rank.try_emplace(t.name, t.call).second) names.push_back(t.name);
    sortForLocking(names, rank);

    Transaction tx(sql);
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

} // namespace

DORA_PLUGIN("async_user", "1.0.0", [](Registrar& r) {
    r.batchHandler("add_user", addUser);
    r.batchHandler("update_user", updateUser);
    r.batchHandler("insert_user", insertUser);
    r.batchHandler("plus_user", plusUser);
});
