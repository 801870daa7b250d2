// sync_user: the seed's user controller, served in the sync modes.
// Table: config/schema/001_users.sql. Names are unique; every handler
// validates its params (dora_samples/user_fields.h, shared with async_user)
// before touching the database.
//
// Each write comes in two forms, and the route file picks one: a per-call
// handler (add_user, ...) and a batch handler (add_user_batch, ...: the
// samples' shared batch writes, dora_samples/user_writes.h, which
// async_user serves too). The shipped routes use the batch form with
// `group_commit: true`: the calls a worker takes together are one batch,
// written with one multi-row statement in one transaction, each call still
// answered on its own.
//
// get_user is served from a Redis cache (SDK 1.2 call.redis()): key
// <cache_prefix><name>, the row PHP-serialized, kept cache_ttl_sec. A miss
// reads MySQL and fills it; every update_user, insert_user and plus_user deletes the
// name's key (a batch: one DEL for all its names), so the next get_user
// reads the new row; add_user has nothing to delete (misses are not
// cached). The cache is best effort:
// Redis away (or no handler connections) means MySQL answers, counted in
// cache_errors. async_user's queued writes delete the keys too. Limit, by
// design of a cache-aside: a get_user that read the row just before a
// write committed may put the old row back until cache_ttl_sec passes.
#include <dora/sdk/plugin.h>
#include <dora/sdk/serialize.h>
#include <dora_samples/user_fields.h>
#include <dora_samples/user_writes.h>

#include <string>
#include <vector>

using namespace dora::sdk;
using dora::samples::userDepartment;
using dora::samples::userName;

namespace {

// Set once in init, read by every handler.
Counter gHits, gMisses, gInvalidations, gErrors;

std::string requireName(Call& call) { return userName(call); }
std::string optDepartment(Call& call) { return userDepartment(call); }
std::string requireDepartment(Call& call) { return userDepartment(call, true); }

std::string cacheKey(Call& call, const std::string& name) { return call.options().string("cache_prefix") + name; }

bool cacheOn(Call& call) { return call.options().integer("cache_ttl_sec") > 0; }

/// After a write of `name`: its cached row is stale.
void invalidate(Call& call, const std::string& name) {
    if (!cacheOn(call)) return;
    try {
        call.redis().command({"DEL", cacheKey(call, name)});
        gInvalidations.add();
    } catch (const RedisError&) {
        gErrors.add(); // counted, not logged: with Redis away every write would log
    }
}

Error notFound(const std::string& name) {
    return Error(kNotFound, "user '" + name + "' not found");
}

// A column of a row the host returned.
const Value& column(const Value& row, const char* name) {
    const Value* v = row.find(name);
    if (v == nullptr) throw Error(kHandlerFailed, std::string("row has no column '") + name + "'");
    return *v;
}

// add_user(name, [department]) -> {id, name, department}
Value addUser(Call& call) {
    std::string name = requireName(call);
    std::string department = optDepartment(call);
    ExecResult r;
    try {
        r = call.sql().exec("INSERT INTO users (name, department) VALUES (?, ?)",
                            {name, department});
    } catch (const SqlError& e) {
        if (e.isDuplicateKey()) throw Error(kConflict, "user '" + name + "' already exists");
        throw;
    }
    return Value::array().set("id", r.insertId).set("name", name).set("department", department);
}

// get_user(name) -> {id, name, department, visits}
Value getUser(Call& call) {
    std::string name = requireName(call);
    const bool cached = cacheOn(call);
    const std::string key = cached ? cacheKey(call, name) : std::string();
    if (cached) {
        try {
            Value hit = call.redis().command({"GET", key});
            if (hit.isString()) {
                gHits.add();
                return unserialize(hit.asString());
            }
            gMisses.add();
        } catch (const RedisError&) {
            gErrors.add();
        } catch (const DecodeError&) { // not ours: read MySQL and overwrite it
            gErrors.add();
        }
    }
    auto row = call.sql().queryOne("SELECT id, name, department, visits FROM users WHERE name = ?",
                                   {name});
    if (!row) throw notFound(name); // misses are not cached: an add_user needs nothing to undo
    if (cached) {
        try {
            const std::string ttl = std::to_string(call.options().integer("cache_ttl_sec"));
            call.redis().command({"SET", key, serialize(*row), "EX", ttl});
        } catch (const RedisError&) {
            gErrors.add();
        }
    }
    return *row;
}

// update_user(name, department) -> {updated: true}
// MySQL's affected rows is 0 when the department is unchanged, so "found"
// is decided by a locking read in the same transaction: no add_user can
// slip in between the check and the update.
Value updateUser(Call& call) {
    std::string name = requireName(call);
    std::string department = requireDepartment(call);
    Sql& sql = call.sql();
    Transaction tx(sql);
    auto row = sql.queryOne("SELECT id FROM users WHERE name = ? FOR UPDATE", {name});
    if (!row) throw notFound(name);
    sql.exec("UPDATE users SET department = ? WHERE name = ?", {department, name});
    tx.commit();
    invalidate(call, name);
    return Value::array().set("updated", true);
}

// insert_user(name, [department]) -> {id, name, department}: insert or
// overwrite the department. id = LAST_INSERT_ID(id) makes the existing
// row's id the statement's insert id.
Value insertUser(Call& call) {
    std::string name = requireName(call);
    std::string department = optDepartment(call);
    Sql& sql = call.sql();
    ExecResult r = sql.exec("INSERT INTO users (name, department) VALUES (?, ?) "
                            "ON DUPLICATE KEY UPDATE department = VALUES(department), "
                            "id = LAST_INSERT_ID(id)",
                            {name, department});
    Value id = r.insertId;
    if (r.insertId == 0) { // not every server reports LAST_INSERT_ID(expr) for an unchanged row
        auto row = sql.queryOne("SELECT id FROM users WHERE name = ?", {name});
        if (!row) throw notFound(name);
        id = column(*row, "id");
    }
    invalidate(call, name);
    return Value::array().set("id", std::move(id)).set("name", name).set("department", department);
}

// plus_user(name, [department]) -> {name, visits}: one more visit,
// creating the user (with department) on the first. The upsert locks the
// row, so the read in the same transaction sees exactly our increment.
Value plusUser(Call& call) {
    std::string name = requireName(call);
    std::string department = optDepartment(call);
    Sql& sql = call.sql();
    Transaction tx(sql);
    sql.exec("INSERT INTO users (name, department, visits) VALUES (?, ?, 1) "
             "ON DUPLICATE KEY UPDATE visits = visits + 1",
             {name, department});
    auto row = sql.queryOne("SELECT visits FROM users WHERE name = ?", {name});
    if (!row) throw notFound(name);
    tx.commit();
    invalidate(call, name);
    return Value::array().set("name", name).set("visits", column(*row, "visits"));
}

namespace users = dora::samples::users;

/// A batch write of the shared form, then one DEL of its names' cached rows.
template <void (*Write)(Batch&)> void writeAndInvalidate(Batch& batch) {
    if (batch.size() == 0) return;
    if (!cacheOn(batch[0])) return Write(batch);
    const std::int64_t n = users::writeAndInvalidate<Write>(batch, batch[0].options().string("cache_prefix"));
    if (n < 0)
        gErrors.add(); // counted, not logged: with Redis away every write would log
    else
        gInvalidations.add(n);
}

} // namespace

DORA_PLUGIN("sync_user", "1.1.0", [](Registrar& r) {
    r.option("cache_ttl_sec", OptionType::Int, "30",
             "seconds get_user's Redis cache keeps a row; 0 = no cache (every get_user reads MySQL)");
    r.option("cache_prefix", OptionType::String, "dora:user:", "Redis key prefix of the cached rows");
    if (r.options().integer("cache_ttl_sec") < 0) throw Error(kBadParam, "option 'cache_ttl_sec' must not be negative");
    gHits = r.counter("cache_hits", "get_user answered from the Redis cache");
    gMisses = r.counter("cache_misses", "get_user not in the cache: read from MySQL, then cached");
    gInvalidations = r.counter("cache_invalidations", "cached rows deleted by a write of this plugin");
    gErrors = r.counter("cache_errors", "Redis calls of the cache that failed (MySQL answered instead)");
    r.handler("add_user", addUser);
    r.handler("get_user", getUser);
    r.handler("update_user", updateUser);
    r.handler("insert_user", insertUser);
    r.handler("plus_user", plusUser);
    r.batchHandler("add_user_batch", users::addUser); // misses are not cached: nothing to delete
    r.batchHandler("update_user_batch", writeAndInvalidate<users::updateUser>);
    r.batchHandler("insert_user_batch", writeAndInvalidate<users::insertUser>);
    r.batchHandler("plus_user_batch", writeAndInvalidate<users::plusUser>);
});
